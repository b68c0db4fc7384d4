"""Several VPCs, peering, transit gateways and an on-premises VPN, pure: reading and checking the Topology,
the namespaces and link addresses the plan gives them, which route a packet takes, what the kernel is
asked for, and how trace names them."""

from __future__ import annotations

from pathlib import Path

import dnslib
import pytest

from dataplane.agent import dns_responder
from dataplane.agent.dns_responder import Forwarding
from dataplane.agent.resolver import SiteServer
from dataplane.errors import TopologyError
from dataplane.realize import network_wiring
from dataplane.realize.wiring import Address, Configure, PolicyRule, Route, Vxlan
from dataplane.route53.answer import View
from dataplane.route53.records import HostedZone
from dataplane.route53.site import site_zone
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from dataplane.trace.hops import Flow, Hop
from dataplane.trace.report import network_labels
from dataplane.trace.routing import reply_lost
from dataplane.verify.reachplan import trials
from dataplane.vpc.network import End, ResolverEndpoints, TgwRoute, TgwTable

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGY = (ROOT / "tests/integration/topologies/vpcs.yaml").read_text().replace("NAME", "n")
MINIMAL = (ROOT / "topologies/minimal.yaml").read_text()
HUB = "{name: hub, attachments: [prod, spoke-b, spoke-c]}"
# hub with a route table of its own: every VPC associated and propagated, and a static route for spoke-c's CIDR
TABLES = ("{name: hub, attachments: [prod, spoke-b, spoke-c], routeTables: [{name: main, "
          "associations: [prod, spoke-b, spoke-c], propagations: [prod, spoke-b, spoke-c], "
          "routes: [{destination: 10.63.0.0/16, attachment: spoke-b}]}]}")


def _plan(text: str = TOPOLOGY) -> Plan:
    return plan_from_text(text, "vpcs.yaml")


def _changed(*changes: tuple[str, str], text: str = TOPOLOGY) -> str:
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def test_the_plan_gives_each_vpc_instance_gateway_and_site_a_namespace() -> None:
    netns = _plan().all_netns()
    for name in ("dp-n.vpc_shared", "dp-n.ec2_db", "dp-n.tgw_hub", "dp-n.vgw_prod", "dp-n.onprem_dc"):
        assert name in netns
    assert "dp-n.vpc_prod" not in netns  # the cluster's VPC keeps its router dp-n.vpc


def test_an_instance_keeps_its_address_or_gets_the_highest_free_one() -> None:
    network = network_wiring.network_of(_plan())
    assert network.instance("cache").ip == "10.63.0.20"
    assert network.instance("db").ip == "10.61.0.254"
    assert (network.instance("db").netns, network.instance("db").router_iface) == ("dp-n.ec2_db", "i-db")


def test_each_link_takes_the_two_hosts_of_the_next_slash_30() -> None:
    network = network_wiring.network_of(_plan())
    assert [(p.name, p.ends[p.requester].ip, p.ends[p.accepter].ip) for p in network.peerings] == [
        ("prod-shared", "169.254.192.1", "169.254.192.2"), ("shared-other", "169.254.192.5", "169.254.192.6"),
        ("prod-oneway", "169.254.192.9", "169.254.192.10")]
    assert network.peering("prod-shared").ends["shared"] == End("dp-n.vpc_shared", "p-prod-shared", "169.254.192.2")
    assert network.transit_gateway("hub").attachments["spoke-b"] == (
        End("dp-n.tgw_hub", "a-spoke-b", "169.254.192.17"), End("dp-n.vpc_spoke-b", "t-hub", "169.254.192.18"))
    assert network.on_premises is not None and network.on_premises.vni == 100
    assert network.on_premises.attachment == (End("dp-n.vgw_prod", "vpc0", "169.254.192.25"),
                                              End("dp-n.vpc", "vgw0", "169.254.192.26"))


def test_a_transit_gateway_without_tables_associates_and_propagates_every_attachment() -> None:
    assert network_wiring.network_of(_plan()).transit_gateway("hub").tables == (TgwTable(
        "default", ("prod", "spoke-b", "spoke-c"),
        (TgwRoute("10.60.0.0/16", "prod", True), TgwRoute("10.62.0.0/16", "spoke-b", True),
         TgwRoute("10.63.0.0/16", "spoke-c", True))),)


def test_the_cluster_subnet_routes_to_the_peering_the_transit_gateway_and_the_vpn() -> None:
    network = network_wiring.network_of(_plan())
    prod = network.vpcs["prod"]
    assert prod.cluster and network.cluster is prod
    targets = {dst: prod.route("app-a", dst).target  # type: ignore[union-attr]
               for dst in ("10.61.0.254", "10.62.0.254", "10.63.0.20", "172.16.0.10", "10.60.10.4")}
    assert targets == {"10.61.0.254": "pcx/prod-shared", "10.62.0.254": "tgw/hub", "10.63.0.20": "tgw/hub",
                       "172.16.0.10": "vgw", "10.60.10.4": "local"}
    assert prod.route("app-a", "192.0.2.1") is None
    assert network.next_hop("prod", "tgw/hub") == End("dp-n.tgw_hub", "a-prod", "169.254.192.13")
    assert network.local_end("prod", "vgw") == End("dp-n.vpc", "vgw0", "169.254.192.26")
    assert network.next_hop("prod", "blackhole") is None
    assert [what for what, _ in network.router_links("shared")] == [
        "peering connection prod-shared", "peering connection shared-other"]
    assert network.vpc_of("10.63.0.20").name == "spoke-c"  # type: ignore[union-attr]
    assert network.vpc_of("172.16.0.10") is None


def test_a_vpc_without_a_route_table_has_no_route_out() -> None:
    network = network_wiring.network_of(_plan())
    assert network.vpcs["oneway"].unroutable("oneway-a", "10.60.10.5") == (
        "VPC oneway, subnet oneway-a, no route table (the local route only): no route to 10.60.10.5")
    assert network.vpcs["oneway"].unroutable("oneway-a", "10.65.0.9") is None  # the local route
    assert network.vpcs["shared"].unroutable("shared-a", "10.60.10.5") is None


def test_a_blackhole_route_is_named_as_such() -> None:
    text = _changed(("{destination: 10.64.0.0/16, target: pcx/shared-other}",
                     "{destination: 10.64.0.0/16, target: blackhole}"))
    assert network_wiring.network_of(_plan(text)).vpcs["shared"].unroutable("shared-a", "10.64.0.254") == (
        "VPC shared, subnet shared-a, route table shared: 10.64.0.0/16 is a blackhole route")


def test_the_transit_gateway_table_routes_to_the_attachment_holding_the_cidr() -> None:
    [table] = network_wiring.network_of(_plan()).transit_gateway("hub").tables
    assert table.route("10.63.0.20") == TgwRoute("10.63.0.0/16", "spoke-c", True)
    assert table.route("10.64.0.254") is None


def test_a_static_transit_gateway_route_beats_a_propagated_one_of_the_same_length() -> None:
    hub = network_wiring.network_of(_plan(_changed((HUB, TABLES)))).transit_gateway("hub")
    [table] = hub.tables
    assert table.route("10.63.0.20") == TgwRoute("10.63.0.0/16", "spoke-b", False)
    assert table.route("10.62.0.254") == TgwRoute("10.62.0.0/16", "spoke-b", True)
    assert hub.table_of("spoke-c") is table


def test_another_vpcs_router_picks_the_table_by_bridge_after_the_connected_routes() -> None:
    text = _changed(("{name: shared-a, cidr: 10.61.0.0/24, zone: a, routeTable: shared}",
                     ("{name: shared-a, cidr: 10.61.0.0/24, zone: a, routeTable: shared}, "
                      "{name: shared-b, cidr: 10.61.1.0/24, zone: b}")))
    network = network_wiring.network_of(_plan(text))
    links = network_wiring.route_table_links(network, network.vpcs["shared"])
    rules = [(r.priority, r.table, r.iif, r.suppress_prefixlength) for r in links if isinstance(r, PolicyRule)]
    assert rules == [(110, 254, None, 0), (120, 1000, "br-shared-a", None), (121, 101, "br-shared-b", None)]
    routes = [(r.dst, r.via, r.dev, r.table, r.kind) for r in links if isinstance(r, Route)]
    assert routes == [("default", None, None, 101, "blackhole"),
                      ("10.60.0.0/16", "169.254.192.1", "p-prod-shared", 1000, None),  # prod's end of the peering
                      ("10.64.0.0/16", "169.254.192.6", "p-shared-other", 1000, None),  # other's end
                      ("default", None, None, 1000, "blackhole")]


def test_a_peered_router_drops_what_is_not_for_its_own_vpc() -> None:
    network = network_wiring.network_of(_plan())
    text = network_wiring.edge_ruleset(network, network.vpcs["shared"])
    assert text.startswith("table inet dpctl-vpcnet\ndelete table inet dpctl-vpcnet\n")
    assert ('    iifname "p-prod-shared" ip daddr != 10.61.0.0/16 counter drop comment "peering connection '
            'prod-shared is not transitive: it carries traffic for VPC shared (10.61.0.0/16) only"\n') in text
    assert text.count("counter drop") == 2  # prod-shared and shared-other
    assert ('iifname "t-hub" ip daddr != 10.62.0.0/16 counter drop comment "came in over transit gateway hub: '
            'VPC spoke-b routes it to its own addresses only (no edge-to-edge routing)"') in (
        network_wiring.edge_ruleset(network, network.vpcs["spoke-b"]))


def test_the_vpn_is_a_vxlan_tunnel_between_the_gateway_and_the_site() -> None:
    configured = [r for r in network_wiring.requests(_plan()) if isinstance(r, Configure)]
    tunnels = {r.netns: link for r in configured for link in r.links if isinstance(link, Vxlan)}
    assert {netns: (t.ifname, t.vni, t.local, t.dev) for netns, t in tunnels.items()} == {
        "dp-n.vgw_prod": ("tun0", 100, "169.254.192.29", "wan0"),
        "dp-n.onprem_dc": ("tun0", 100, "169.254.192.30", "wan0")}
    site = [link for r in configured if r.netns == "dp-n.onprem_dc" for link in r.links]
    assert [a.cidr for a in site if isinstance(a, Address) and a.ifname == "lo"] == ["172.16.0.10/32", "172.16.0.2/32"]  # a host, the DNS server
    vgw = [(r.dst, r.via, r.dev) for c in configured if c.netns == "dp-n.vgw_prod" for r in c.links
           if isinstance(r, Route)]
    assert vgw == [("172.16.0.0/16", "169.254.192.34", "tun0"), ("10.60.0.0/16", "169.254.192.26", "vpc0")]


def test_a_file_with_one_vpc_and_nothing_around_it_has_no_network() -> None:
    plan = plan_from_text(MINIMAL, "minimal.yaml")
    assert plan.vpc_network == {} and network_wiring.requests(plan) == [] and network_labels(plan) == {}


@pytest.mark.parametrize(("changes", "field", "message"), [
    ((("cidr: 10.64.0.0/16\n", "cidr: 10.61.0.0/16\n"), ("{name: other-a, cidr: 10.64.0.0/24",
                                                         "{name: other-a, cidr: 10.61.1.0/24")),
     "spec.peeringConnections[1]", "shared (10.61.0.0/16) and other (10.61.0.0/16) have overlapping CIDR blocks"),
    ((("accepter: oneway}", "accepter: prod}"),), "spec.peeringConnections[2].accepter",
     "a VPC cannot peer with itself"),
    ((("target: pcx/prod-oneway}", "target: pcx/shared-other}"),), "spec.vpcs[0].routeTables[0].routes[2].target",
     "no peering connection 'shared-other' of this VPC (its peerings: prod-oneway, prod-shared)"),
    (((HUB, "{name: hub, attachments: [prod, spoke-b]}"),), "spec.vpcs[5].routeTables[0].routes[0].target",
     "no transit gateway 'hub' attached to this VPC (attached: none)"),
    ((("vpn: {vpc: prod}", "vpn: {vpc: shared}"),), "spec.vpcs[0].routeTables[0].routes[4].target",
     "vgw: this VPC has no VPN connection"),
    ((("{name: n1, subnet: app-a}\n", "{name: n1, subnet: app-a}\n    - {name: n2, subnet: shared-a}\n"),),
     "spec.nodes", "an EKS cluster's nodes live in one VPC; these are in prod (spec.nodes[0]), shared (spec.nodes[1])"),
    ((("  vpcs:\n", "  vpc: {cidr: 10.60.0.0/16}\n  vpcs:\n"),), "spec.vpcs",
     "spec.vpc is the one-VPC shorthand of spec.vpcs: give one of them"),
    ((("other-a", "shared-a"), ("other-a", "shared-a")), "spec.vpcs[2].subnets[0].name",
     "subnet 'shared-a' is also in VPC shared: subnet names are unique across VPCs"),
    ((("instances: [{name: far, subnet: other-a}]\n", ("instances: [{name: far, subnet: other-a}]\n"
                                                       "      securityGroups: [{name: sg}]\n")),),
     "spec.vpcs[2].securityGroups", "emulated in the cluster's VPC only"),
    ((("{name: far, subnet: other-a}", "{name: far, subnet: shared-a}"),), "spec.vpcs[2].instances[0].subnet",
     "no subnet 'shared-a' in this VPC (subnets: other-a)"),
    ((("ip: 10.63.0.20}", "ip: 10.63.0.3}"),), "spec.vpcs[5].instances[0].ip",
     "10.63.0.3 is one of the five addresses AWS reserves in 10.63.0.0/24"),
    ((("ip: 10.63.0.20}", "ip: 10.63.0.255}"),), "spec.vpcs[5].instances[0].ip",
     "10.63.0.255 is one of the five addresses AWS reserves in 10.63.0.0/24"),
    (((HUB, TABLES), ("attachment: spoke-b}", "attachment: spoke-b, blackhole: true}")),
     "spec.transitGateways[0].routeTables[0].routes[0]", "a route has either an attachment or blackhole: true"),
    (((HUB, TABLES), ("}]}]}", "}]}, {name: second, associations: [prod]}]}")),
     "spec.transitGateways[0].routeTables[1].associations[0]",
     "prod is already associated with route table main: an attachment has one"),
    ((("cidr: 172.16.0.0/16\n", "cidr: 10.60.128.0/17\n"), ("ip: 172.16.0.10}", "ip: 10.60.128.10}")),
     "spec.onPremises.cidr", "10.60.128.0/17 overlaps prod's 10.60.0.0/16: the VPN could not route it"),
    ((("ip: 172.16.0.10}", "ip: 172.17.0.10}"),), "spec.onPremises.hosts[0].ip",
     "172.17.0.10 is outside the site's 172.16.0.0/16"),
    ((("{name: cache, subnet: spoke-c-a, ip: 10.63.0.20}",
       "{name: cache, subnet: spoke-c-a, ip: 10.63.0.20}, {name: c2, subnet: spoke-c-a, ip: 10.63.0.20}"),),
     "spec.vpcs[5].instances[1].ip", "10.63.0.20 is instance cache's already"),
    ((("{name: oneway-a, cidr: 10.65.0.0/24, zone: a}",
       "{name: oneway-a, cidr: 10.65.0.0/24, zone: a}, {name: oneway-a, cidr: 10.65.1.0/24, zone: a}"),),
     "spec.vpcs[3].subnets[1].name", "'oneway-a' is declared twice"),
    ((("      routeTables:\n        - name: app\n",
       "      instances: [{name: x, subnet: app-a, ip: 10.60.10.4}]\n      routeTables:\n        - name: app\n"),),
     "spec.vpcs[0].instances[0].ip", "10.60.10.4 is already a node's, a pod's or a gateway's address"),
])
def test_what_ec2_refuses_is_an_error_at_its_field(changes: tuple[tuple[str, str], ...], field: str,
                                                   message: str) -> None:
    with pytest.raises(TopologyError) as raised:
        _plan(_changed(*changes))
    assert f"{field}: {message}" in str(raised.value)


def test_a_cluster_needs_a_vpc() -> None:
    text = _changed(("  vpc:\n    cidr: 192.168.0.0/16\n", "  xvpc:\n    cidr: 192.168.0.0/16\n"), text=MINIMAL)
    with pytest.raises(TopologyError) as raised:
        plan_from_text(text, "minimal.yaml")
    assert "minimal.yaml:9: " in str(raised.value)  # at spec
    assert "spec: the cluster needs a VPC: spec.vpc, or spec.vpcs for several" in str(raised.value)


def test_trace_labels_the_namespaces_of_the_other_networks() -> None:
    labels = network_labels(_plan())
    assert {k: labels[k] for k in ("dp-n.vpc_shared", "dp-n.ec2_db", "dp-n.tgw_hub", "dp-n.vgw_prod",
                                   "dp-n.onprem_dc")} == {
        "dp-n.vpc_shared": "vpc shared router", "dp-n.ec2_db": "ec2 db", "dp-n.tgw_hub": "transit gateway hub",
        "dp-n.vgw_prod": "vpn gateway of prod", "dp-n.onprem_dc": "on-premises dc"}
    assert len(labels) == 14 and "dp-n.vpc" not in labels  # 5 routers, 5 instances, the gateway, the VPN's ends, the resolver
    assert labels["dp-n.r53_resolver"] == "route 53 resolver endpoints"


def _hops(reply_outcome: str) -> list[Hop]:
    """client -> lonely in oneway, delivered; lonely's answer comes into oneway's router and meets ``reply_outcome``."""
    request, reply = Flow("10.60.10.5", 40000, "10.65.0.254", 80), Flow("10.65.0.254", 80, "10.60.10.5", 40000)

    def hop(direction: str, netns: str, iif: str | None, flow: Flow, ttl: int, outcome: str) -> Hop:
        return Hop(direction, netns, "prerouting" if iif else "output", iif, None, flow, flow, ttl, (), (), outcome)
    return [hop("request", "dp-n.default.client", None, request, 64, "sent"),
            hop("request", "dp-n.vpc", "br-app-a", request, 63, "forwarded"),
            hop("request", "dp-n.vpc_oneway", "p-prod-oneway", request, 62, "forwarded"),
            hop("request", "dp-n.ec2_lonely", "eth0", request, 61, "delivered"),
            hop("reply", "dp-n.ec2_lonely", None, reply, 64, "sent"),
            hop("reply", "dp-n.vpc_oneway", "br-oneway-a", reply, 63, reply_outcome)]


def test_trace_names_the_router_that_had_no_route_back_for_the_reply() -> None:
    plan = _plan()
    assert reply_lost(plan, _hops("vanished")) == (
        "dp-n.vpc_oneway",
        "VPC oneway, subnet oneway-a, no route table (the local route only): no route to 10.60.10.5")
    assert reply_lost(plan, _hops("forwarded")) is None
    assert reply_lost(plan_from_text(MINIMAL, "minimal.yaml"), _hops("vanished")) is None  # no other VPCs


def test_a_path_names_each_hop_and_the_drop() -> None:
    network = network_wiring.network_of(_plan())
    assert network.path("prod", "app-a", "10.61.0.254") == (
        True, "VPC prod, subnet app-a, route table app: 10.61.0.0/16 via pcx/prod-shared; local in VPC shared")
    ok, why = network.path("other", "other-a", "10.60.10.4")
    assert not ok and why.endswith("peering connection shared-other is not transitive: it carries traffic for "
                                   "VPC shared (10.61.0.0/16) only")
    assert network.path("spoke-b", "spoke-b-a", "10.61.0.254") == (
        False, "VPC spoke-b, subnet spoke-b-a, route table spoke: 10.0.0.0/8 via tgw/hub; transit gateway hub, "
               "route table default: no route to 10.61.0.254")
    assert network.path(None, None, "10.61.0.254") == (False, "on-premises dc routes only 10.60.0.0/16 into its VPN")


def test_reachability_trials_expect_the_node_address_and_a_route_back() -> None:
    found = {t.subject.rsplit(":", 1)[0]: t for t in trials(_plan(), 20001)}
    to_db = found["pod default/client (node n1) -> ec2 db (10.61.0.254)"]
    assert to_db.seen_as == "10.60.10.4" and to_db.target_netns == "dp-n.ec2_db"  # the CNI's SNAT to the node
    lonely = found["node n1 -> ec2 lonely (10.65.0.254)"]
    assert lonely.seen_as is None and lonely.why.endswith(
        "the reply: VPC oneway, subnet oneway-a, no route table (the local route only): no route to 10.60.10.4")
    assert found["on-premises dc ldap -> node n1 (10.60.10.4)"].seen_as == "172.16.0.10"
    assert found["ec2 api -> ec2 cache (10.63.0.20)"].seen_as == "10.62.0.254"
    assert len(found) == 48


def test_the_resolver_endpoints_sit_in_the_first_nodes_subnet_and_forward_the_site_domain() -> None:
    plan = _plan()
    network = network_wiring.network_of(plan)
    assert network.resolver == ResolverEndpoints("dp-n.r53_resolver", "app-a", "r53resolver", "10.60.10.254",
                                                 "10.60.10.253")
    site = network.on_premises
    assert site is not None and (site.domain, site.dns_server) == ("corp.example", "172.16.0.2")
    zone = dns_responder.ZoneSource()
    zone.replace(plan)
    ask = lambda name: bytes(dnslib.DNSRecord.question(name).pack())  # noqa: E731
    assert zone.forwarding(ask("ldap.corp.example")) == Forwarding("dp-n.r53_resolver", "10.60.10.253", "172.16.0.2")
    assert zone.forwarding(ask("catalog.default.svc.cluster.local")) is None
    assert zone.forwarding(ask("db.internal.example")) is None  # a private zone: the VPC's resolver answers it


def test_the_site_answers_its_hosts_and_forwards_the_private_zones_inbound() -> None:
    server = SiteServer()
    server.view = View((site_zone("corp.example", [("ldap", "172.16.0.10"), ("mail.corp.example", "172.16.0.11")]),))
    server.private = View((HostedZone("internal.example", private=True),))
    server.inbound = Forwarding("dp-n.onprem_dc", "172.16.0.2", "10.60.10.254")
    reply = dnslib.DNSRecord.parse(server.answer(bytes(dnslib.DNSRecord.question("ldap.corp.example").pack()),
                                                 over_udp=True) or b"")
    assert [str(r.rdata) for r in reply.rr] == ["172.16.0.10"]
    assert server.forwarding(bytes(dnslib.DNSRecord.question("db.internal.example").pack())) == server.inbound
    assert server.forwarding(bytes(dnslib.DNSRecord.question("mail.corp.example").pack())) is None
    assert server.forwarding(bytes(dnslib.DNSRecord.question("example.com").pack())) is None  # REFUSED here


@pytest.mark.parametrize(("change", "field", "message"), [
    (("dns: {domain: corp.example}", "dns: {domain: corp}"), "spec.onPremises.dns.domain",
     "expected a DNS domain such as corp.example, got 'corp'"),
    (("dns: {domain: corp.example}", "dns: {domain: corp.example, server: 10.9.9.9}"), "spec.onPremises.dns.server",
     "expected an address in the site's 172.16.0.0/16, got '10.9.9.9'"),
    (("vpn: {vpc: prod}", "vpn: {vpc: shared}"), "spec.onPremises.dns",
     "Route 53 Resolver endpoints are emulated in the cluster's VPC"),
])
def test_bad_site_dns_is_an_error_at_its_field(change: tuple[str, str], field: str, message: str) -> None:
    with pytest.raises(TopologyError) as raised:
        _plan(_changed(change))
    assert f"{field}: {message}" in str(raised.value)
