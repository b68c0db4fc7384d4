"""Resolving ``DST`` against a plan, the peers it may be DNATed to, the
namespaces watched and the ports the probe must avoid."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.errors import StateError
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from dataplane.trace.targets import resolve_destination, used_ports, watchers

SERVICES = Path(__file__).resolve().parents[2] / "integration" / "topologies" / "services.yaml"


@pytest.fixture(scope="module")
def plan() -> Plan:
    text = SERVICES.read_text().replace("NAME", "tr").replace("CNI", "vpc")
    return plan_from_text(text, "services.yaml")


def web_endpoints(plan: Plan, port: int) -> set[tuple[str, int]]:
    return {(p.ip, port) for p in plan.pods if p.owner == "Deployment/web"}


def service_ip(plan: Plan, name: str) -> str:
    ip = next(s.cluster_ip for s in plan.services if s.key == f"shop/{name}")
    assert ip is not None
    return ip


def test_service_defaults_to_its_first_port(plan: Plan) -> None:
    dest = resolve_destination(plan, "svc/shop/web", None)
    assert (dest.ip, dest.port, dest.proto) == (service_ip(plan, "web"), 80, "tcp")
    assert dest.peers == {(dest.ip, 80)} | web_endpoints(plan, 8080)
    assert len(dest.pod_netns) == 3


def test_service_port_by_name_brings_its_protocol(plan: Plan) -> None:
    dest = resolve_destination(plan, "svc/shop/web:echo", None)
    assert (dest.port, dest.proto) == (9000, "udp")
    assert dest.peers == {(dest.ip, 9000)} | web_endpoints(plan, 9000)


def test_protocol_picks_the_port(plan: Plan) -> None:
    assert resolve_destination(plan, "svc/shop/web", "udp").port == 9000


def test_service_without_endpoints_has_only_its_address(plan: Plan) -> None:
    dest = resolve_destination(plan, "svc/shop/empty", None)
    assert dest.peers == {(dest.ip, 80)} and dest.pod_netns == ()


def test_node_port_goes_to_the_node_address(plan: Plan) -> None:
    dest = resolve_destination(plan, "node/a1:30080", None)
    assert (dest.ip, dest.port, dest.proto) == (plan.node("a1").ip, 30080, "tcp")
    assert web_endpoints(plan, 8080) <= dest.peers


def test_load_balancer_vip(plan: Plan) -> None:
    dest = resolve_destination(plan, "lb/shop/web-lb", None)
    vips = next(s.load_balancer_ips for s in plan.services if s.key == "shop/web-lb")
    assert (dest.ip, dest.port) == (vips[0], 80)


def test_pod_defaults_to_its_first_port_and_takes_a_number(plan: Plan) -> None:
    dest = resolve_destination(plan, "shop/web-1", None)
    assert (dest.ip, dest.port, dest.proto) == (plan.pod("shop", "web-1").ip, 8080, "tcp")
    assert dest.peers == {(dest.ip, 8080)}
    assert resolve_destination(plan, "shop/web-1:9000", None).proto == "udp"
    assert resolve_destination(plan, "shop/web-1", "udp").port == 9000


def test_address_of_a_service_or_pod_is_recognised(plan: Plan) -> None:
    dest = resolve_destination(plan, f"{service_ip(plan, 'web')}:80", None)
    assert web_endpoints(plan, 8080) <= dest.peers
    other = resolve_destination(plan, "198.51.100.7:443", None)
    assert (set(other.peers), other.proto) == ({("198.51.100.7", 443)}, "tcp")


@pytest.mark.parametrize(
    "text",
    [
        "svc/shop/nope",
        "svc/shop/web:nope",
        "svc/shop/web-headless",
        "lb/shop/web",
        "node/a1",
        "shop/nope",
        "a/b/c/d",
        "10.0.0.1",
    ],
)
def test_bad_destinations_are_clear_errors(plan: Plan, text: str) -> None:
    with pytest.raises(StateError):
        resolve_destination(plan, text, None)


def test_watchers_are_the_source_the_fabric_and_the_peers(plan: Plan) -> None:
    dest = resolve_destination(plan, "svc/shop/web", None)
    client = plan.pod("shop", "client").netns
    watched = watchers(plan, client, dest)
    assert watched[0] == client and len(watched) == len(set(watched))
    assert {plan.router_netns, *(n.netns for n in plan.nodes), *dest.pod_netns} <= set(watched)
    assert plan.pod("shop", "solo").netns not in watched


def test_used_ports_cover_servers_services_and_node_ports(plan: Plan) -> None:
    assert {8080, 9000, 80, 30080, 30081, 30090, 53} <= used_ports(plan)
