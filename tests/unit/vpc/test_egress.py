"""Route tables, internet and NAT gateways, pure: reading and checking the Topology, the addresses
the plan gives the gateways, which route a packet takes, and what the kernel is asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.errors import TopologyError
from dataplane.realize import egress_wiring
from dataplane.realize.wiring import Configure, PolicyRule, Route, Ruleset, external
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from dataplane.trace.hops import Flow, Hop, Verdict
from dataplane.trace.routing import vanished
from dataplane.verify.reachplan import analysed, trials
from dataplane.vpc.egress import read

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGY = (ROOT / "tests/integration/topologies/egress.yaml").read_text().replace("NAME", "e")
FLAT = (ROOT / "tests/integration/topologies/vpc-security.yaml").read_text().replace("NAME", "v").replace("CNI", "vpc")


def _plan(text: str = TOPOLOGY) -> Plan:
    return plan_from_text(text, "egress.yaml")


def test_the_plan_gives_the_gateways_addresses_from_their_subnet_and_the_pool() -> None:
    plan = _plan()
    egress = read(plan.vpc_egress)
    nat = egress.nat("nat-a")
    assert nat.private_ip == "10.50.0.254" and nat.netns == "dp-e.nat_nat-a" and nat.netns in plan.all_netns()
    assert (nat.max_per_destination, nat.idle_timeout) == (3, 5)
    assert nat.elastic_ip == "203.0.113.254" and egress.public_ips == {"p1": "203.0.113.253"}  # top of the pool
    assert egress.subnet_tables == {"pub": "public", "priv": "private"}  # iso names none, and none is main


def test_longest_prefix_wins_and_local_comes_first() -> None:
    plan = _plan()
    egress = read(plan.vpc_egress)
    assert egress.route("priv", "198.51.100.10", plan.vpc_cidr).target == "nat/nat-a"  # type: ignore[union-attr]
    assert egress.route("priv", "192.0.2.7", plan.vpc_cidr).target == "blackhole"  # type: ignore[union-attr]
    assert egress.route("priv", "10.50.20.5", plan.vpc_cidr).target == "local"  # type: ignore[union-attr]
    assert egress.route("iso", "198.51.100.10", plan.vpc_cidr) is None  # T7: no route
    assert egress.tables["public"].public and not egress.tables["private"].public


def test_the_router_picks_the_table_by_bridge_after_the_local_routes() -> None:
    plan = _plan()
    [router, marks, *rest] = egress_wiring.requests(plan)
    assert isinstance(router, Configure) and isinstance(marks, Ruleset)
    rules = [link for link in router.links if isinstance(link, PolicyRule)]
    assert [(r.priority, r.table, r.iif, r.fwmark, r.suppress_prefixlength) for r in rules] == [
        (100, 100, None, 0x4000, None), (110, 254, None, None, 0),
        (120, 1000, "br-pub", None, None), (121, 1001, "br-priv", None, None), (122, 101, "br-iso", None, None)]
    routes = {(r.dst, r.table): r for r in router.links if isinstance(r, Route)}
    assert routes[("0.0.0.0/0", 1001)].via == "10.50.0.254"  # nat/nat-a
    assert routes[("192.0.2.0/24", 1001)].kind == "blackhole"
    assert routes[("default", 101)].kind == "blackhole"
    assert routes[("203.0.113.254/32", None)].via == "10.50.0.254"  # the EIP's replies
    # with route tables, the outside client is no longer one hop from every subnet
    assert not any(isinstance(link, Route) and link.dst == "203.0.113.0/24"
                   for request in external(plan) if isinstance(request, Configure) for link in request.links)
    texts = {r.netns: r.text for r in rest if isinstance(r, Ruleset)}
    assert "snat to 203.0.113.254:1024-1026" in texts["dp-e.nat_nat-a"]  # 3 ports: 3 connections per destination
    assert "203.0.113.253 : 10.50.0.4" in texts["dp-e.lb"]  # 1:1 NAT of p1 at the internet gateway
    assert "snat to 10.50.10.4 fully-random" in texts["dp-e.q1"]  # the VPC CNI's SNAT


def test_a_vpc_without_route_tables_keeps_its_flat_routing() -> None:
    plan = _plan(FLAT)
    assert plan.vpc_egress == {} and egress_wiring.requests(plan) == []


@pytest.mark.parametrize(("change", "field", "message"), [
    (("target: nat/nat-a}", "target: nat/nope}"), "routeTables[1].routes[0].target", "no NAT gateway 'nope'"),
    (("target: igw}", "target: pcx/peer}"), "routeTables[0].routes[0].target", "no peering connection 'peer' of this VPC (its peerings: none)"),
    (("    internetGateway: true\n", ""), "routeTables[0].routes[0].target", "the VPC has no internet gateway"),
    (("destination: 192.0.2.0/24", "destination: 10.50.3.0/24"), "routes[1].destination",
     "inside the VPC's 10.50.0.0/16: the local route covers it"),
    (("{name: nat-a, subnet: pub,", "{name: nat-a, subnet: priv,"), "natGateways[0].subnet", "priv is a private subnet"),
    (("maxConnectionsPerDestination: 3", "maxConnectionsPerDestination: 60000"), "maxConnectionsPerDestination",
     "must be within 1-55000"),
    (("routeTable: private}", "routeTable: nope}"), "subnets[1].routeTable", "no route table 'nope'"),
    (("ip: 198.51.100.10", "ip: 10.9.9.9"), "spec.internet.hosts[0].ip", "a private address"),
    (("{name: p1, subnet: pub, publicIp: true}", "{name: p1, subnet: pub, elasticIp: 203.0.113.9}"),
     "spec.nodes[0].elasticIp", "outside the load-balancer pool"),
])
def test_what_ec2_refuses_is_an_error_at_its_field(change: tuple[str, str], field: str, message: str) -> None:
    assert change[0] in TOPOLOGY
    with pytest.raises(TopologyError) as raised:
        _plan(TOPOLOGY.replace(change[0], change[1], 1))
    assert field in str(raised.value) and message in str(raised.value)


def _vanished(plan: Plan, bridge: str, dst: str) -> str | None:
    flow = Flow(plan.pod("default", "private").ip, 20000, dst, 80)
    hop = Hop("request", plan.router_netns, "prerouting", bridge, None, flow, flow, 63, (), (), "vanished")
    return vanished(plan, [hop], Verdict("vanished", plan.router_netns, None, None))


def test_trace_names_the_route_table_that_dropped_a_packet() -> None:
    plan = _plan()
    assert _vanished(plan, "br-iso", "198.51.100.10") == (
        "subnet iso, no route table (the local route only): no route to 198.51.100.10")
    assert _vanished(plan, "br-priv", "192.0.2.7") == "subnet priv, route table private: 192.0.2.0/24 is a blackhole route"
    assert _vanished(plan, "br-priv", "198.51.100.10") is None  # it had a route: something else lost it
    assert vanished(_plan(FLAT), [], Verdict("vanished", "dp-v.vpc", None, None)) is None
    assert vanished(plan, [], Verdict("vanished", "dp-e.nat_nat-a", None, None)) == (
        "NAT gateway nat-a: no source port left for this destination, 3 in use (ErrorPortAllocation)")


def test_intended_reachability_follows_routes_gateways_and_public_addresses() -> None:
    plan = _plan()
    found = {t.subject: t for t in trials(plan, 40001)}
    host = "internet api.example.net (198.51.100.10):40001"
    assert found[f"pod default/private (node q1) -> {host}"].seen_as == "203.0.113.254"  # nat/nat-a's EIP
    assert found[f"node p1 -> {host}"].seen_as == "203.0.113.253"  # its public IP
    p2 = found[f"node p2 -> {host}"]
    assert p2.seen_as is None and "node p2 has no public IPv4 address" in p2.why
    assert found[f"node i1 -> {host}"].why == "subnet iso, no route table (the local route only): no route to 198.51.100.10"
    assert found["node q1 -> node i1:40001"].seen_as == plan.node("q1").ip  # the local route, no NAT
    assert analysed(plan) and analysed(_plan(FLAT))  # groups and ACLs decide too
    assert not analysed(plan_from_text((ROOT / "topologies/minimal.yaml").read_text(), "minimal.yaml"))


def test_a_nat_gateway_in_a_full_subnet_is_an_error_at_its_field() -> None:
    small = TOPOLOGY.replace("{name: pub, cidr: 10.50.0.0/24", "{name: pub, cidr: 10.50.0.0/28")  # 11 usable
    more = "".join(f"    - {{name: x{k}, subnet: pub}}\n" for k in range(6))  # with p1, p2 and 3 pods: all 11
    with pytest.raises(TopologyError, match=r"spec.vpc.natGateways\[0\].subnet: subnet pub has no free address left"):
        _plan(small.replace("    - {name: p2, subnet: pub}\n", "    - {name: p2, subnet: pub}\n" + more))


def _with_cni_env(env: str) -> Plan:
    return _plan(TOPOLOGY.replace("  cni: vpc\n", f"  cni: vpc\n  vpcCni: {{env: {env}}}\n", 1))


def test_excluded_cidrs_leave_the_cni_snat_and_external_snat_removes_it() -> None:
    plan = _with_cni_env('{AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: "192.0.2.0/24, 198.18.0.0/15"}')
    texts = {r.netns: r.text for r in egress_wiring.requests(plan) if isinstance(r, Ruleset)}
    assert "ip daddr != { 10.50.0.0/16, 192.0.2.0/24, 198.18.0.0/15 } snat to 10.50.0.4" in texts["dp-e.p1"]
    external = _with_cni_env('{AWS_VPC_K8S_CNI_EXTERNALSNAT: "true"}')
    assert not any(isinstance(r, Ruleset) and "dpctl-cnisnat" in r.text for r in egress_wiring.requests(external))
    found = {t.subject: t for t in trials(external, 40001)}
    host = "internet api.example.net (198.51.100.10):40001"
    assert found[f"pod default/private (node q1) -> {host}"].seen_as == "203.0.113.254"  # the NAT gateway SNATs it
    public = found[f"pod default/on-public-ip (node p1) -> {host}"]  # the pod's own address meets the gateway
    assert public.seen_as is None and "AWS_VPC_K8S_CNI_EXTERNALSNAT" in public.why


@pytest.mark.parametrize(("env", "field", "message"), [
    ("{AWS_VPC_K8S_CNI_EXTERNALSNAT: maybe}", "spec.vpcCni.env.AWS_VPC_K8S_CNI_EXTERNALSNAT",
     "expected \"true\" or \"false\", got 'maybe'"),
    ('{AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: "10.1.0.0/16,nope"}', "spec.vpcCni.env.AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS",
     "expected comma-separated IPv4 CIDRs, got 'nope'"),
    ("{WARM_IP_TARGET: '5'}", "spec.vpcCni.env.WARM_IP_TARGET", "not emulated; the emulation honours"),
])
def test_bad_cni_settings_are_errors_at_their_field(env: str, field: str, message: str) -> None:
    with pytest.raises(TopologyError) as raised:
        _with_cni_env(env)
    assert f"{field}: {message}" in str(raised.value)
