"""Services through kube-proxy-style DNAT on real nodes: load balancing,
masquerade exactly where kube-proxy masquerades, reject vs drop, NodePorts,
the cloud load balancer, traffic policies, affinity and live changes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan, Service
from tests.integration.support import dpctl, each_cni
from tests.integration.support.traffic import connect_error, http_get, pods_answering, udp_exchange

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

# Chi-square critical value for 2 degrees of freedom at p = 0.001: a fair
# three-way split exceeds it once in a thousand runs.
CHI2_2DF_P001 = 13.82


@pytest.fixture(scope="module", params=["vpc", "overlay"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations
) -> Iterator[Plan]:
    for emulation in each_cni(request, tmp_path_factory, module_topology, "services.yaml", "svc"):
        yield emulation.plan


def svc(plan: Plan, name: str) -> Service:
    return next(s for s in plan.services if s.namespace == "shop" and s.name == name)


def web_pods(plan: Plan) -> dict[str, str]:
    return {p.name: p.ip for p in plan.pods if p.owner == "Deployment/web"}


def test_cluster_ip_balances_new_connections(live: Plan) -> None:
    client = live.pod("shop", "client")
    ip = svc(live, "web").cluster_ip
    assert ip
    counts = Counter(pods_answering(client.netns, ip, 80, 600))
    assert set(counts) == set(web_pods(live))
    expected = 600 / 3
    chi2 = sum((observed - expected) ** 2 / expected for observed in counts.values())
    assert chi2 < CHI2_2DF_P001, counts


def test_pod_to_cluster_ip_is_not_masqueraded(live: Plan) -> None:
    client = live.pod("shop", "client")
    answer = http_get(client.netns, svc(live, "web").cluster_ip or "", 80)
    assert answer["client"].split(":")[0] == client.ip
    assert answer["podIP"] in web_pods(live).values()


def test_node_to_cluster_ip_is_masqueraded(live: Plan) -> None:
    node = live.node("b1")
    for _ in range(6):
        answer = http_get(node.netns, svc(live, "web").cluster_ip or "", 80)
        endpoint_node = live.pod("shop", str(answer["pod"])).node
        seen = answer["client"].split(":")[0]
        if endpoint_node == node.name:
            continue  # local delivery: the source is whichever node address routing picks
        # Masqueraded to an address of node b1 (eth0, or vxlan0 in overlay mode).
        assert seen in {node.ip, node.vtep_ip}, answer


def test_hairpin_to_own_service_is_masqueraded(live: Plan) -> None:
    pods = web_pods(live)
    name, ip = min(pods.items())
    pod = live.pod("shop", name)
    hits = 0
    for _ in range(30):
        answer = http_get(pod.netns, svc(live, "web").cluster_ip or "", 80)
        if answer["pod"] == name:
            hits += 1
            # Without SNAT the reply would go straight back to itself, un-NATed.
            assert answer["client"].split(":")[0] != ip
    assert hits > 0, "no connection hairpinned to the same pod in 30 tries"


def test_service_without_endpoints_refuses_fast(live: Plan) -> None:
    client = live.pod("shop", "client")
    outcome, seconds = connect_error(client.netns, svc(live, "empty").cluster_ip or "", 80)
    assert outcome == "refused" and seconds < 0.5


def test_cluster_ip_on_an_undeclared_port_is_rejected(live: Plan) -> None:
    client = live.pod("shop", "client")
    outcome, _ = connect_error(client.netns, svc(live, "web").cluster_ip or "", 81)
    assert outcome == "refused"


def test_node_port_from_outside_is_masqueraded(live: Plan) -> None:
    assert live.external is not None
    for node in live.nodes:
        answer = http_get(live.external.client_netns, node.ip, 30080)
        assert answer["podIP"] in web_pods(live).values()
        # eTP=Cluster: the endpoint sees a node address, never the client.
        assert answer["client"].split(":")[0] != live.external.client_ip


def test_load_balancer_from_outside(live: Plan) -> None:
    assert live.external is not None
    vip = svc(live, "web-lb").load_balancer_ips[0]
    seen = Counter(pods_answering(live.external.client_netns, vip, 80, 30))
    assert set(seen) <= set(web_pods(live)) and len(seen) >= 2


def test_load_balancer_source_ranges_drop_others_but_not_node_ports(live: Plan) -> None:
    assert live.external is not None
    vip = svc(live, "web-lb").load_balancer_ips[0]
    # The outside client (2nd host of 203.0.113.0/24) is inside 203.0.113.0/30.
    assert http_get(live.external.client_netns, vip, 80)["pod"]
    # A node is outside the ranges: its connection to the VIP is dropped...
    node = live.node("a1")
    outcome, _ = connect_error(node.netns, vip, 80, timeout=1.0)
    assert outcome == "timeout"
    # ...but the same Service's NodePort is not filtered.
    assert http_get(node.netns, node.ip, 30081)["pod"]


def test_external_traffic_policy_local(live: Plan) -> None:
    assert live.external is not None
    solo = live.pod("shop", "solo")
    local = live.node(solo.node)
    answer = http_get(live.external.client_netns, local.ip, 30090)
    assert answer["client"].split(":")[0] == live.external.client_ip  # client IP kept
    other = next(n for n in live.nodes if n.name != solo.node)
    outcome, _ = connect_error(live.external.client_netns, other.ip, 30090, timeout=1.0)
    assert outcome == "timeout"  # no local endpoint: dropped
    # From inside the cluster the external path short-circuits to all endpoints.
    client = live.pod("shop", "client")
    assert http_get(client.netns, other.ip, 30090)["pod"] == "solo"


def test_session_affinity_sticks_until_timeout(live: Plan) -> None:
    client = live.pod("shop", "client")
    ip = svc(live, "sticky").cluster_ip or ""
    first = set(pods_answering(client.netns, ip, 80, 20))
    assert len(first) == 1, first  # every new connection went to one endpoint
    # After the 3 s timeout a new endpoint is chosen at random (1 in 3 it is the
    # same one): six expiries all picking the same pod would happen 0.14 % of runs.
    for _ in range(6):
        time.sleep(3.5)
        again = set(pods_answering(client.netns, ip, 80, 5))
        assert len(again) == 1, again  # sticky again within the new period
        if again != first:
            return
    pytest.fail(f"affinity to {first} never expired")


def test_udp_service(live: Plan) -> None:
    client = live.pod("shop", "client")
    assert udp_exchange(client.netns, svc(live, "web").cluster_ip or "", 9000, b"hello-udp") == b"hello-udp"


def test_internal_traffic_policy_local(live: Plan) -> None:
    ip = svc(live, "solo-itp").cluster_ip or ""
    # A client on the endpoint's node reaches it; one on another node is dropped.
    assert http_get(live.pod("shop", "neighbour").netns, ip, 80)["pod"] == "solo"
    outcome, _ = connect_error(live.pod("shop", "client").netns, ip, 80, timeout=1.0)
    assert outcome == "timeout"


def test_external_ip_from_outside(live: Plan) -> None:
    assert live.external is not None
    answer = http_get(live.external.client_netns, "198.51.100.10", 80)
    assert answer["podIP"] in web_pods(live).values()


def _dns(plan: Plan, name: str, qtype: str) -> DNSRecord:
    """A query to the kube-dns ClusterIP from a pod: DNAT, coredns pod, answer."""
    client = plan.pod("shop", "client").netns
    reply = udp_exchange(client, plan.dns_ip, 53, DNSRecord.question(name, qtype).pack())
    assert reply is not None, f"no DNS answer for {name} {qtype}"
    return DNSRecord.parse(reply)


def test_cluster_dns_through_the_service_vip(live: Plan) -> None:
    domain = live.cluster_domain
    web = _dns(live, f"web.shop.svc.{domain}", "A")
    assert [str(r.rdata) for r in web.rr] == [svc(live, "web").cluster_ip]
    headless = _dns(live, f"web-headless.shop.svc.{domain}", "A")
    assert sorted(str(r.rdata) for r in headless.rr) == sorted(web_pods(live).values())
    cname = _dns(live, f"docs.shop.svc.{domain}", "A")
    assert [str(r.rdata) for r in cname.rr if r.rtype == QTYPE.CNAME] == ["docs.example.com."]
    srv = _dns(live, f"_http._tcp.web.shop.svc.{domain}", "SRV")
    assert [(r.rdata.port, str(r.rdata.target)) for r in srv.rr] == [(80, f"web.shop.svc.{domain}.")]
    ptr_name = ".".join(reversed((svc(live, "web").cluster_ip or "").split("."))) + ".in-addr.arpa"
    assert [str(r.rdata) for r in _dns(live, ptr_name, "PTR").rr] == [f"web.shop.svc.{domain}."]
    assert _dns(live, f"nope.shop.svc.{domain}", "A").header.rcode == RCODE.NXDOMAIN


def test_pod_resolver_uses_search_path(live: Plan) -> None:
    out = dpctl("exec", "-t", live.name, "shop/client", "--", "getent", "hosts", "web", check=True).stdout
    assert out.split()[0] == svc(live, "web").cluster_ip
    cross = dpctl("exec", "-t", live.name, "shop/client", "--", "getent", "hosts", "kube-dns.kube-system", check=True)
    assert cross.stdout.split()[0] == live.dns_ip
