"""LoadBalancer Services on the emulated NLB, from the outside client (``aws-edge.md`` §1.8, §1.9, T23-T26):
what the pod sees as the source per target type, client IP preservation and
traffic policy; PROXY v2; TLS termination and passthrough; cross-zone off.
"""

from __future__ import annotations

import socket
import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.edge import proxyv2
from dataplane.kernel import netns
from dataplane.lb import acm
from dataplane.state.store import StateDir
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import LbNode
from tests.integration.support import dpctl, write_topology
from tests.integration.support.traffic import connect_error, http_get

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    path = write_topology(tmp_path_factory.mktemp("nlb"), "nlb.yaml", "nlb", CNI="vpc")
    yield module_topology(str(path))


def _node(emu: Emulation, service: str, zone: str) -> LbNode:
    [lb] = [lb for lb in emu.plan.load_balancers if lb.kind == "nlb" and lb.group == f"shop/{service}"]
    [node] = [n for n in lb.nodes if n.zone == zone]
    return node


def _public(emu: Emulation, service: str, zone: str) -> str:
    address = _node(emu, service, zone).public_ip
    assert address is not None
    return address


def _client_ip(emu: Emulation) -> str:
    assert emu.plan.external is not None
    return emu.plan.external.client_ip


def _seen(emu: Emulation, service: str, zone: str) -> tuple[str, str]:
    answer = http_get(emu.netns("external"), _public(emu, service, zone), 80)
    return str(answer["pod"]), str(answer["client"]).split(":")[0]


def _exchange(emu: Emulation, address: str, port: int, payload: bytes) -> bytes:
    sock = netns.socket_in(emu.netns("external"), socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(5)
        sock.connect((address, port))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def _client_hello(sni: str) -> bytes:
    """The bytes of a real ClientHello naming ``sni`` (memory BIOs: nothing is sent)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_selection_keeps_in_tree_and_shows_the_nlb_hostname(live: Emulation) -> None:
    in_tree = next(s for s in live.plan.services if s.name == "in-tree")
    assert in_tree.load_balancer_ips and not any(lb.group == "shop/in-tree" for lb in live.plan.load_balancers)
    listing = dpctl("get", "services", "-t", live.name, "-n", "shop", check=True).stdout
    lb = next(lb for lb in live.plan.load_balancers if lb.group == "shop/ip-default")
    assert lb.dns_name in listing and in_tree.load_balancer_ips[0] in listing


def test_t23_ip_targets_see_the_nlb_private_ip_unless_preserved(live: Emulation) -> None:
    for zone in ("a", "b"):
        _, seen = _seen(live, "ip-default", zone)
        assert seen == _node(live, "ip-default", zone).ip
        _, seen = _seen(live, "ip-preserve", zone)
        assert seen == _client_ip(live)


def test_t23_proxy_protocol_carries_the_client_ip(live: Emulation) -> None:
    address = _public(live, "ip-proxy", "a")
    echoed = _exchange(live, address, 7000, b"hello")
    source, destination, length = proxyv2.parse(echoed)
    assert source[0] == _client_ip(live) and destination == (address, 7000)
    assert echoed[length:] == b"hello"


def test_t24_instance_cluster_sees_a_node_local_sees_the_client(live: Emulation) -> None:
    nodes = {n.ip for n in live.plan.nodes}
    for zone in ("a", "b"):
        pod, seen = _seen(live, "solo-cluster", zone)
        assert pod == "solo" and seen in nodes
    pod, seen = _seen(live, "solo-local", "a")
    assert pod == "solo" and seen == _client_ip(live)
    # node n2 (zone b) has no local endpoint: it fails the healthCheckNodePort check and gets nothing
    outcome, _ = connect_error(live.netns("external"), _public(live, "solo-local", "b"), 80)
    assert outcome == "refused"


def test_t25_tls_termination_gives_the_pod_plaintext(live: Emulation) -> None:
    context = ssl.create_default_context(cafile=str(acm.root_path(Path(StateDir(live.name).path))))
    sock = netns.socket_in(live.netns("external"), socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect((_public(live, "tls", "a"), 443))
    with context.wrap_socket(sock, server_hostname="nlb.example.com") as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: nlb.example.com\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := tls.recv(65536):
            reply += chunk
    assert b" 200 " in reply.split(b"\r\n", 1)[0]
    assert b'"port": 8080' in reply and _node(live, "tls", "a").ip.encode() in reply


def test_t25_passthrough_keeps_the_sni(live: Emulation) -> None:
    hello = _client_hello("passthrough.example.com")
    echoed = _exchange(live, _public(live, "tls", "b"), 8443, hello)
    assert echoed == hello and b"passthrough.example.com" in echoed


def test_t26_cross_zone_off_keeps_each_zone_address_in_its_zone(live: Emulation) -> None:
    seen_a = Counter(_seen(live, "ip-default", "a")[0] for _ in range(8))
    seen_b = Counter(_seen(live, "ip-default", "b")[0] for _ in range(20))
    assert set(seen_a) == {"web-a"}
    assert "web-a" not in seen_b and len(seen_b) >= 2


def test_internal_nlb_is_reachable_from_the_vpc_only(live: Emulation) -> None:
    node = _node(live, "cross", "a")
    assert node.public_ip is None
    pods = Counter(str(http_get(live.netns("shop/client"), node.ip, 80)["pod"]) for _ in range(20))
    assert "web-a" in pods and len(pods) >= 2  # cross-zone on: zone a's address reaches zone b too
    outcome, _ = connect_error(live.netns("external"), node.ip, 80, timeout=1.0)
    assert outcome == "timeout"


def test_verify_edge_checks_every_nlb_listener_against_the_source_table(live: Emulation) -> None:
    """verify's edge check sends a request through each internet-facing NLB node and judges the pod and the
    TCP peer it saw by the reference's table; it would fail on a wrong peer or an added header."""
    report = live.assert_verified("edge")
    checked = {r.subject.split()[1] for r in report.results if r.subject.startswith("nlb ") and not r.skipped}
    names = {lb.group: lb.name for lb in live.plan.load_balancers if lb.kind == "nlb"}
    assert {names["shop/ip-default"], names["shop/ip-preserve"]} <= checked
    skipped = [r for r in report.results if r.subject.startswith(f"nlb {names['shop/ip-proxy']} ")]
    assert skipped and all(r.skipped and "PROXY v2" in r.reason for r in skipped)
