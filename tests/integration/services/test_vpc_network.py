"""Several VPCs on real packets: peering (T13, T14), a transit gateway, an on-premises site over the VPN.

The topology (``vpcs.yaml``): the cluster's VPC ``prod`` is peered with
``shared`` (instance ``db``), which is peered with ``other`` (``far``);
``prod`` routes ``other``'s CIDR to the ``shared`` peering anyway, which is
what peering's non-transitivity must stop.  ``oneway`` is peered with
``prod`` but has no route back.  ``spoke-b`` and ``spoke-c`` hang off the
transit gateway ``hub`` with ``prod``; the site ``dc`` is behind ``prod``'s
VPN.  Each server is a socket in the instance's (or the site's) namespace
that answers with the source address and port it saw.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import dnslib
import pytest

from dataplane.kernel import netns
from dataplane.realize.network_wiring import network_of
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
PORT = 7000
LDAP = "172.16.0.10"


class SourceServer:
    """Listens on ``ip:PORT`` in ``netns_name`` and answers each connection with the peer's address."""

    def __init__(self, netns_name: str, ip: str):
        self.sock = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, PORT))
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, (ip, port) = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(f"{ip}:{port}\n".encode())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    emulation = module_topology(str(write_topology(tmp_path_factory.mktemp("vpcs"), "vpcs.yaml", "vpcs")))
    network = network_of(emulation.plan)
    assert network.on_premises is not None
    servers = [SourceServer(i.netns, i.ip) for i in network.instances]
    servers.append(SourceServer(network.on_premises.netns, LDAP))
    yield emulation
    for server in servers:
        server.close()


def _ask(source_netns: str, ip: str, timeout: float = 2) -> str:
    """The address the server at ``ip`` saw this connection come from."""
    with netns.socket_in(source_netns, socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect((ip, PORT))
        return sock.recv(100).decode().strip().rpartition(":")[0]


def _instance(emu: Emulation, name: str) -> tuple[str, str]:
    instance = network_of(emu.plan).instance(name)
    return instance.netns, instance.ip


def _trace(emu: Emulation, ip: str) -> str:
    out = dpctl("trace", "-t", emu.name, "default/client", f"{ip}:{PORT}", "-o", "json", check=True).stdout
    return str(json.loads(out)["verdict"]["text"])


def test_a_pod_reaches_a_peered_vpc_as_its_node_address(emu: Emulation) -> None:
    """The VPC CNI SNATs pod traffic leaving the VPC's CIDR, a peered VPC included (its default)."""
    node_ip = emu.plan.node("n1").ip
    assert _ask(emu.netns("default/client"), _instance(emu, "db")[1]) == node_ip


def test_t13_peering_is_not_transitive(emu: Emulation) -> None:
    """prod routes other's CIDR to the prod-shared peering; shared drops it, and trace says why."""
    with pytest.raises(TimeoutError):
        _ask(emu.netns("default/client"), _instance(emu, "far")[1])
    far_netns, _ = _instance(emu, "far")
    with pytest.raises(TimeoutError):  # nor the other way round, through shared's peering with other
        _ask(far_netns, emu.plan.node("n1").ip, timeout=1)
    assert "not transitive" in _trace(emu, _instance(emu, "far")[1])
    assert "vpc shared router" in _trace(emu, _instance(emu, "far")[1])


def test_t14_a_peering_needs_a_route_on_both_sides(emu: Emulation) -> None:
    """oneway's table has no route back: the SYN arrives, its answer is dropped in oneway's router."""
    lonely_netns, lonely_ip = _instance(emu, "lonely")
    with emu.sniffer("ec2/lonely", "eth0", f"tcp port {PORT}") as sniffer:
        with pytest.raises(TimeoutError):
            _ask(emu.netns("default/client"), lonely_ip)
    assert lonely_netns == emu.netns("ec2/lonely")
    assert any(p.direction == "in" for p in sniffer.stop())
    verdict = _trace(emu, lonely_ip)
    assert verdict.startswith("delivered to ec2 lonely") and "reply was dropped at vpc oneway router" in verdict
    assert f"no route to {emu.plan.node('n1').ip}" in verdict


def test_a_transit_gateway_is_transitive(emu: Emulation) -> None:
    """prod, spoke-b and spoke-c reach each other through the hub's default route table."""
    client = emu.netns("default/client")
    api_netns, api_ip = _instance(emu, "api")
    cache_netns, cache_ip = _instance(emu, "cache")
    assert _ask(client, api_ip) == emu.plan.node("n1").ip
    assert _ask(client, cache_ip) == emu.plan.node("n1").ip
    assert _ask(api_netns, cache_ip) == api_ip  # spoke to spoke: no NAT anywhere on the way
    assert _ask(cache_netns, api_ip) == cache_ip


def test_the_on_premises_site_is_reached_through_the_vpn_tunnel(emu: Emulation) -> None:
    site = network_of(emu.plan).on_premises
    assert site is not None
    with emu.sniffer(f"onprem/{site.name}", "wan0") as sniffer:
        assert _ask(emu.netns("default/client"), LDAP) == emu.plan.node("n1").ip
    frames = sniffer.stop()
    assert frames and all(p.packet.haslayer("VXLAN") for p in frames if p.packet.haslayer("IP"))
    assert any(p.packet["VXLAN"].vni == site.vni for p in frames if p.packet.haslayer("VXLAN"))


def test_the_site_reaches_its_vpc_but_not_the_vpcs_behind_it(emu: Emulation) -> None:
    site = network_of(emu.plan).on_premises
    assert site is not None
    result = emu.exec(f"onprem/{site.name}", "ping", "-c1", "-W1", emu.plan.node("n1").ip, check=False)
    assert result.returncode == 0 and f"from {emu.plan.node('n1').ip}" in result.stdout
    with pytest.raises(OSError):  # shared is prod's peer: no edge-to-edge routing through prod
        _ask(site.netns, _instance(emu, "db")[1], timeout=1)


def test_get_lists_the_vpcs_and_their_links(emu: Emulation) -> None:
    vpcs = {v["name"]: v for v in json.loads(dpctl("get", "vpcs", "-t", emu.name, "-o", "json", check=True).stdout)}
    assert set(vpcs) == {"prod", "shared", "other", "oneway", "spoke-b", "spoke-c"} and vpcs["prod"]["cluster"]
    assert vpcs["shared"]["connections"] == ["peering connection prod-shared", "peering connection shared-other"]
    [hub] = json.loads(dpctl("get", "tgw", "-t", emu.name, "-o", "json", check=True).stdout)
    assert hub["attachments"] == ["prod", "spoke-b", "spoke-c"]
    assert dpctl("exec", "-t", emu.name, "ec2/db", "--", "ip", "-br", "addr", check=True).stdout.count("10.61.0.254")


def test_verify_reachability_matches_the_model_across_vpcs(emu: Emulation) -> None:
    """Every trial between the nodes, a pod, the instances and the site passes, drops included."""
    report = emu.assert_verified("reachability")
    results = [r for r in report.results if r.check == "reachability"]
    subjects = {r.subject.rsplit(":", 1)[0]: r for r in results}
    assert len(results) == 48 and all(r.ok for r in results)
    assert "not transitive" in subjects["pod default/client (node n1) -> ec2 far (10.64.0.254)"].evidence
    assert "the reply: VPC oneway" in subjects["node n1 -> ec2 lonely (10.65.0.254)"].evidence


def test_the_shipped_two_vpc_example_verifies(topology: Emulations) -> None:
    """topologies/vpc.yaml: three zones, NAT per zone, a peered VPC and a site; every default check passes."""
    emulation = topology(str(REPO / "topologies" / "vpc.yaml"))
    report = emulation.assert_verified()
    reach = [r for r in report.results if r.check == "reachability"]
    assert any("ec2 db" in r.subject for r in reach) and any("on-premises dc" in r.subject for r in reach)


def test_excluded_snat_cidrs_keep_the_pods_address(tmp_path_factory: pytest.TempPathFactory,
                                                    topology: Emulations) -> None:
    """AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: the peered VPC sees the pod; the transit gateway's spoke, its node."""
    path = write_topology(tmp_path_factory.mktemp("nosnat"), "vpcs.yaml", "nosnat", **{
        "  cni: vpc\n": '  cni: vpc\n  vpcCni: {env: {AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: "10.61.0.0/16"}}\n'})
    emulation = topology(str(path))
    network = network_of(emulation.plan)
    servers = [SourceServer(i.netns, i.ip) for i in network.instances if i.name in ("db", "api")]
    try:
        client = emulation.netns("default/client")
        assert _ask(client, network.instance("db").ip) == emulation.address("default/client")
        assert _ask(client, network.instance("api").ip) == emulation.plan.node("n1").ip
        emulation.assert_verified("reachability")
    finally:
        for server in servers:
            server.close()


def _resolve(source_netns: str, server: str, name: str) -> list[str]:
    """The A records ``server`` gives for ``name``, asked over UDP from ``source_netns``."""
    with netns.socket_in(source_netns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(4)
        sock.sendto(dnslib.DNSRecord.question(name).pack(), (server, 53))
        reply = dnslib.DNSRecord.parse(sock.recv(4096))
    return [str(r.rdata) for r in reply.rr if r.rtype == dnslib.QTYPE.A]


def test_names_resolve_both_ways_through_the_resolver_endpoints(emu: Emulation) -> None:
    """A pod asks the cluster DNS for the site's domain (forwarded by the outbound endpoint over the VPN); the
    site's server forwards the VPC's private zone to the inbound endpoint."""
    network = network_of(emu.plan)
    site, resolver = network.on_premises, network.resolver
    assert site is not None and resolver is not None and site.dns_server is not None
    with emu.sniffer(f"onprem/{site.name}", "tun0", "udp port 53") as sniffer:
        assert _resolve(emu.netns("default/client"), emu.plan.dns_ip, "ldap.corp.example") == [LDAP]
    queries = [p.packet for p in sniffer.stop() if p.direction == "in"]
    assert queries and all(q["IP"].src == resolver.outbound_ip for q in queries)  # from the outbound endpoint
    assert _resolve(site.netns, site.dns_server, "db.internal.example") == [_instance(emu, "db")[1]]
    assert _resolve(site.netns, site.dns_server, "ldap.corp.example") == [LDAP]
