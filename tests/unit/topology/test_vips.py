from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from types import SimpleNamespace

from dataplane.topology import plan_from_text
from dataplane.topology.plan import Service

from .conftest import user_services


def services_of(text: str) -> dict[str, Service]:
    return {s.name: s for s in user_services(plan_from_text(text, "t.yaml"))}


def test_cluster_ips_are_hashed_so_adding_a_service_moves_none(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    before = services_of(topology() + make.service("a") + make.service("b"))
    after = services_of(topology() + make.service("new") + make.service("b") + make.service("a"))
    assert before["a"].cluster_ip == after["a"].cluster_ip
    assert before["b"].cluster_ip == after["b"].cluster_ip
    for service in after.values():
        address = IPv4Address(service.cluster_ip)
        assert address in IPv4Network("10.96.0.0/16") and address != IPv4Address("10.96.0.10")


def test_the_dns_address_goes_to_kube_dns_alone(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology(extra="  serviceCIDR: 10.96.0.0/28\n") + "".join(make.service(f"s{i}") for i in range(13))
    plan = plan_from_text(text, "t.yaml")
    assert plan.dns_ip == "10.96.0.10"
    addresses = sorted(IPv4Address(s.cluster_ip) for s in user_services(plan))
    assert len(set(addresses)) == 13
    assert IPv4Address("10.96.0.10") not in addresses
    assert [(s.key, s.cluster_ip) for s in plan.services[-1:]] == [("kube-system/kube-dns", "10.96.0.10")]


def test_explicit_headless_and_external_name(topology: Callable[..., str], make: SimpleNamespace) -> None:
    services = services_of(
        topology()
        + make.service("fixed", "  clusterIP: 10.96.0.100\n  ports: [{port: 80}]\n")
        + make.service("headless", "  clusterIP: None\n  selector: {app: x}\n")
        + make.service("ext", "  type: ExternalName\n  externalName: example.com\n")
    )
    assert services["fixed"].cluster_ip == "10.96.0.100"
    assert (services["headless"].cluster_ip, services["headless"].headless) == (None, True)
    assert (services["ext"].cluster_ip, services["ext"].external_name) == (None, "example.com")


def test_node_ports_are_allocated_for_node_port_and_load_balancer_services(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    services = services_of(
        topology()
        + make.service("np", "  type: NodePort\n  ports: [{name: a, port: 80}, {name: b, port: 81, nodePort: 31000}]\n")
        + make.service("lb", "  type: LoadBalancer\n  externalTrafficPolicy: Local\n  ports: [{port: 443}]\n")
        + make.service(
            "dns",
            "  type: NodePort\n  ports: [{name: u, port: 53, protocol: UDP, nodePort: 30053},"
            " {name: t, port: 53, nodePort: 30053}]\n",
        )
    )
    first, fixed = services["np"].ports
    assert fixed.node_port == 31000 and first.node_port in range(30000, 32768)
    assert services["lb"].ports[0].node_port in range(30000, 32768)
    assert services["lb"].external_traffic_policy == "Local"
    assert [p.node_port for p in services["dns"].ports] == [30053, 30053]  # one service, TCP and UDP


def test_node_ports_are_stable_when_services_are_added(topology: Callable[..., str], make: SimpleNamespace) -> None:
    spec = "  type: NodePort\n  ports: [{port: 80}]\n"
    before = services_of(topology() + make.service("a", spec))
    after = services_of(topology() + make.service("z", spec) + make.service("a", spec))
    assert before["a"].ports[0].node_port == after["a"].ports[0].node_port
