"""The world outside the VPC: its client and load balancer, and LoadBalancer VIPs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from types import SimpleNamespace

from dataplane.topology import plan_from_text
from dataplane.topology.plan import External, Plan

LB = "  type: LoadBalancer\n  ports: [{port: 80}]\n"


def plan(text: str, previous: Plan | None = None) -> Plan:
    return plan_from_text(text, "t.yaml", previous)


def vips(p: Plan) -> dict[str, tuple[str, ...]]:
    return {s.name: s.load_balancer_ips for s in p.services}


def test_every_plan_has_an_outside_world_with_defaults(topology: Callable[..., str]) -> None:
    p = plan(topology())
    assert p.external == External(
        public_cidr="203.0.113.0/24",
        lb_pool="203.0.113.128/25",
        client_netns="dp-test.external",
        client_ip="203.0.113.2",
        lb_netns="dp-test.lb",
        lb_ip="203.0.113.1",
        transit_cidr="100.64.0.0/30",
        router_transit_ip="100.64.0.1",
        lb_transit_ip="100.64.0.2",
    )
    assert p.all_netns()[:3] == ("dp-test.vpc", "dp-test.lb", "dp-test.external")


def test_the_outside_world_is_configurable(topology: Callable[..., str]) -> None:
    extra = (
        "  external: {cidr: 198.51.100.0/24, transitCIDR: 172.31.255.248/29}\n"
        "  loadBalancer: {pool: 198.51.100.16/28}\n"
    )
    external = plan(topology(extra=extra)).external
    assert external is not None
    assert (external.public_cidr, external.lb_pool, external.lb_ip, external.client_ip) == (
        "198.51.100.0/24",
        "198.51.100.16/28",
        "198.51.100.1",
        "198.51.100.2",
    )
    assert (external.router_transit_ip, external.lb_transit_ip) == ("172.31.255.249", "172.31.255.250")
    # the pool defaults to the upper half of whatever the public segment is
    defaulted = plan(topology(extra="  external: {cidr: 198.51.100.0/24}\n")).external
    assert defaulted is not None and defaulted.lb_pool == "198.51.100.128/25"


def test_only_load_balancer_services_get_a_vip_and_they_keep_node_ports(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    p = plan(
        topology()
        + make.service("web", LB)
        + make.service("internal")
        + make.service("np", LB.replace("LoadBalancer", "NodePort"))
    )
    [web] = [s for s in p.services if s.name == "web"]
    assert IPv4Address(web.load_balancer_ips[0]) in IPv4Network("203.0.113.128/25")
    assert web.ports[0].node_port is not None
    assert (vips(p)["internal"], vips(p)["np"], vips(p)["kube-dns"]) == ((), (), ())


def test_vips_are_hashed_so_adding_a_service_moves_none(topology: Callable[..., str], make: SimpleNamespace) -> None:
    before = vips(plan(topology() + make.service("a", LB) + make.service("b", LB)))
    after = vips(plan(topology() + make.service("new", LB) + make.service("b", LB) + make.service("a", LB)))
    assert (after["a"], after["b"]) == (before["a"], before["b"])
    assert len({after["a"], after["b"], after["new"]}) == 3


def test_load_balancer_ip_is_honoured(topology: Callable[..., str], make: SimpleNamespace) -> None:
    fixed = make.service("web", "  type: LoadBalancer\n  loadBalancerIP: 203.0.113.200\n  ports: [{port: 80}]\n")
    assert vips(plan(topology() + fixed))["web"] == ("203.0.113.200",)


def test_a_service_keeps_its_previous_vip(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology() + make.service("web", LB)
    fresh = plan(text)
    web, dns = fresh.services
    previous = dataclasses.replace(
        fresh, services=(dataclasses.replace(web, load_balancer_ips=("203.0.113.129",)), dns)
    )
    assert vips(plan(text, previous))["web"] == ("203.0.113.129",)


def test_the_segment_broadcast_is_never_a_vip(topology: Callable[..., str], make: SimpleNamespace) -> None:
    extra = "  external: {cidr: 203.0.113.0/29}\n  loadBalancer: {pool: 203.0.113.4/30}\n"
    p = plan(topology(extra=extra) + "".join(make.service(f"s{i}", LB) for i in range(3)))
    assert sorted(ip for s in p.services for ip in s.load_balancer_ips) == ["203.0.113.4", "203.0.113.5", "203.0.113.6"]


def test_external_ips_outside_the_cluster_are_accepted(topology: Callable[..., str], make: SimpleNamespace) -> None:
    spec = "  externalIPs: [203.0.113.50, 198.51.100.7]\n  ports: [{port: 80}]\n"
    [web, _] = plan(topology() + make.service("web", spec)).services
    assert web.external_ips == ("203.0.113.50", "198.51.100.7")
