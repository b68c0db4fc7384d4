"""The ambient mesh under attack and with mixed traffic (issue 4, items 6 and 9).

Security: from inside an unenrolled pod, a hand-made HBONE client (plain
``ssl`` + ``h2``, ``hbone_probe``) connects straight to a meshed pod's
``podIP:15008`` with no certificate, a certificate from another CA, an
expired one from the emulation's real root, a valid identity a policy
denies, and a valid allowed identity (the positive control).  Plaintext from
unenrolled pods reaches a meshed app only through the inbound capture, and a
STRICT-like ``DENY notPrincipals: ["*"]`` shuts it out.

Mixed traffic: captures on the pods' host-side veths show what is on the
wire: HBONE between two meshed pods on one node, plain TCP to unenrolled
pods, to the outside client and to and from a pod opted out by label.
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest

from dataplane.kernel import netns
from dataplane.mesh import ca
from dataplane.mesh.identity import SpiffeId
from dataplane.realize.identities import store_for
from dataplane.state.store import StateDir
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan, Pod
from tests.integration.support import dpctl, each_cni, hbone_probe
from tests.integration.support.traffic import http_get

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

GET = b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n"


@pytest.fixture(scope="module", params=["vpc", "overlay"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations
) -> Iterator[Plan]:
    for emulation in each_cni(request, tmp_path_factory, module_topology, "mesh-mixed.yaml", "msec"):
        yield emulation.plan


@pytest.fixture(scope="module")
def root(live: Plan) -> ca.Issued:
    return hbone_probe.real_root(store_for(live))


def spiffe(plan: Plan, namespace: str, sa: str) -> SpiffeId:
    return SpiffeId(plan.cluster_domain, namespace, sa)


# -- logs ------------------------------------------------------------------------------------------


def agent_log(plan: Plan, node: str) -> str:
    return Path(StateDir(plan.name).agent_log_path(node)).read_text()


def access_lines(plan: Plan, node: str, *needles: str) -> list[str]:
    return [
        line for line in agent_log(plan, node).splitlines()
        if "\taccess\t" in line and all(n in line for n in needles)
    ]


def wait_for_access(plan: Plan, node: str, *needles: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        lines = access_lines(plan, node, *needles)
        if lines:
            return lines[-1]
        assert time.monotonic() < deadline, f"no access line with {needles!r} on {node}"
        time.sleep(0.05)


# -- traffic helpers -------------------------------------------------------------------------------


def echo_once(src_netns: str, ip: str, port: int, payload: bytes) -> bytes:
    sock = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(5)
        sock.connect((ip, port))
        sock.sendall(payload)
        data = b""
        while len(data) < len(payload):
            chunk = sock.recv(65536)
            assert chunk, f"{ip}:{port} closed after {len(data)} bytes"
            data += chunk
    return data


def plaintext_answer(src_netns: str, ip: str, port: int) -> bytes:
    """Send a GET and return whatever comes back (b'' if reset or closed)."""
    sock = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_STREAM)
    data = b""
    with sock:
        sock.settimeout(5)
        try:
            sock.connect((ip, port))  # the RST may even beat the end of the handshake
            sock.sendall(GET)
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
    return data


class VethCapture:
    """tcpdump -w on some pods' host-side veths, inside their node's namespace."""

    def __init__(self, plan: Plan, pods: list[Pod], directory: Path):
        self.files: list[Path] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        for pod in pods:
            path = directory / f"{pod.namespace}-{pod.name}.pcap"
            proc = subprocess.Popen(
                ["ip", "netns", "exec", plan.node(pod.node).netns, "tcpdump", "-Z", "root", "-i", pod.host_iface,
                 "-U", "--immediate-mode", "-n", "-s", "0", "-w", str(path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            assert proc.stderr is not None
            proc.stderr.readline()  # "listening on ..." once the capture runs
            self.files.append(path)
            self.procs.append(proc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            proc.wait(timeout=10)

    def count(self, expression: str) -> int:
        total = 0
        for path in self.files:
            out = subprocess.run(
                ["tcpdump", "-r", str(path), "-n", expression], capture_output=True, text=True, check=True
            ).stdout
            total += len(out.splitlines())
        return total

    def contains(self, marker: bytes) -> bool:
        return any(marker in path.read_bytes() for path in self.files)


# == item 9: CONNECT to 15008 from an unenrolled pod ==================================================


def attack(live: Plan, chain: tuple[Path, Path] | None) -> hbone_probe.Outcome:
    outsider, server = live.pod("plain", "outsider"), live.pod("mesh", "server")
    return hbone_probe.connect(outsider.netns, server.ip, 8080, hbone_probe.client_context(chain), payload=GET)


def assert_refused(outcome: hbone_probe.Outcome) -> None:
    assert outcome.refused, f"not refused: {outcome}"
    assert outcome.status != 200 and outcome.data == b"", outcome


def test_allowed_identity_reaches_the_app(live: Plan, root: ca.Issued, tmp_path: Path) -> None:
    """Positive control: the same client, with a valid allowed identity, gets 200 and the app's answer."""
    outsider, server = live.pod("plain", "outsider"), live.pod("mesh", "server")
    chain = hbone_probe.leaf(root, spiffe(live, "mesh", "prober"), tmp_path, "prober")
    outcome = hbone_probe.connect(
        outsider.netns, server.ip, 8080, hbone_probe.client_context(chain, trust=root), payload=GET
    )
    assert outcome.status == 200, outcome
    assert outcome.server_identity == str(spiffe(live, "mesh", server.service_account))
    assert b'"pod": "server"' in outcome.data and f'"client": "{outsider.ip}:'.encode() in outcome.data
    line = wait_for_access(live, server.node, 'src.identity="cluster.local/ns/mesh/sa/prober"')
    assert f"dst.hbone_addr={server.ip}:8080" in line and 'direction="inbound"' in line


def test_no_client_certificate_is_refused(live: Plan) -> None:
    assert_refused(attack(live, None))


def test_certificate_from_another_ca_is_refused(live: Plan, tmp_path: Path) -> None:
    foreign = ca.make_root("not-the-mesh")
    assert_refused(attack(live, hbone_probe.leaf(foreign, spiffe(live, "mesh", "client"), tmp_path, "foreign")))


def test_expired_certificate_from_the_real_root_is_refused(live: Plan, root: ca.Issued, tmp_path: Path) -> None:
    chain = hbone_probe.leaf(root, spiffe(live, "mesh", "client"), tmp_path, "expired", expired=True)
    assert_refused(attack(live, chain))


def test_identity_of_another_trust_domain_is_refused(live: Plan, root: ca.Issued, tmp_path: Path) -> None:
    """ztunnel's TrustDomainVerifier: a chain to the right root is not enough (ztunnel.md §1.3)."""
    chain = hbone_probe.leaf(root, SpiffeId("evil.example", "mesh", "client"), tmp_path, "othertd")
    assert_refused(attack(live, chain))


def test_identity_denied_by_policy_gets_401(live: Plan, root: ca.Issued, tmp_path: Path) -> None:
    server = live.pod("mesh", "server")
    outcome = attack(live, hbone_probe.leaf(root, spiffe(live, "mesh", "denied"), tmp_path, "denied"))
    assert outcome.status == 401, outcome
    assert outcome.data == b""
    line = wait_for_access(live, server.node, 'src.identity="cluster.local/ns/mesh/sa/denied"')
    assert "explicitly denied by: mesh/deny-denied-sa" in line


# == item 9: plaintext only through the inbound capture ==============================================


def test_plaintext_from_unenrolled_pod_goes_through_inbound_capture(live: Plan) -> None:
    outsider, bystander, server = live.pod("plain", "outsider"), live.pod("plain", "bystander"), live.pod("mesh", "server")
    for src in (outsider, bystander):  # same node and other node
        answer = http_get(src.netns, server.ip, 8080)
        assert answer["pod"] == "server" and answer["client"].split(":")[0] == src.ip
        line = wait_for_access(live, server.node, f'src.workload="{src.name}"', f"dst.addr={server.ip}:8080")
        assert 'direction="inbound"' in line
        assert "dst.hbone_addr" not in line and "src.identity" not in line  # plaintext, 15006
    # The capture's own ports are no back door: a direct connection to them gets nothing.
    for port in (15006, 15001):
        assert plaintext_answer(outsider.netns, server.ip, port) == b"", port


def test_strict_policy_refuses_plaintext_but_not_mesh_clients(live: Plan) -> None:
    outsider, client, guarded = live.pod("plain", "outsider"), live.pod("mesh", "client"), live.pod("strict", "guarded")
    assert plaintext_answer(outsider.netns, guarded.ip, 8080) == b""
    line = wait_for_access(live, guarded.node, 'src.workload="outsider"', 'dst.workload="guarded"')
    assert "explicitly denied by: strict/require-mtls" in line
    answer = http_get(client.netns, guarded.ip, 8080)
    assert answer["pod"] == "guarded" and answer["client"].split(":")[0] == client.ip
    line = wait_for_access(live, guarded.node, 'src.identity="cluster.local/ns/mesh/sa/client"', 'dst.workload="guarded"')
    assert "error=" not in line and f"dst.hbone_addr={guarded.ip}:8080" in line


def test_strict_policy_refuses_hbone_without_valid_cert(live: Plan) -> None:
    """The STRICT namespace is no softer on 15008: no certificate, no tunnel."""
    outsider, guarded = live.pod("plain", "outsider"), live.pod("strict", "guarded")
    outcome = hbone_probe.connect(outsider.netns, guarded.ip, 8080, hbone_probe.client_context(None), payload=GET)
    assert_refused(outcome)


# == item 6: mixed traffic on the wire ===============================================================


def test_same_node_enrolled_to_enrolled_is_hbone(live: Plan, tmp_path: Path) -> None:
    client, peer = live.pod("mesh", "client"), live.pod("mesh", "peer")
    assert client.node == peer.node
    marker = f"SAMENODE-{secrets.token_hex(12)}".encode()
    with VethCapture(live, [client, peer], tmp_path) as capture:
        assert echo_once(client.netns, peer.ip, 9000, marker) == marker
    between = f"tcp and host {client.ip} and host {peer.ip}"
    assert capture.count(f"{between} and port 15008") > 0
    assert capture.count(f"{between} and port 9000") == 0
    assert not capture.contains(marker)
    line = wait_for_access(live, peer.node, 'direction="inbound"', f"dst.hbone_addr={peer.ip}:9000")
    assert 'src.identity="cluster.local/ns/mesh/sa/client"' in line


def test_enrolled_to_unenrolled_is_plain_passthrough(live: Plan, tmp_path: Path) -> None:
    client, outsider = live.pod("mesh", "client"), live.pod("plain", "outsider")
    marker = f"TOPLAIN-{secrets.token_hex(12)}".encode()
    with VethCapture(live, [client, outsider], tmp_path) as capture:
        assert echo_once(client.netns, outsider.ip, 9000, marker) == marker
    assert capture.count(f"tcp and host {client.ip} and host {outsider.ip} and port 9000") > 0
    assert capture.count("tcp port 15008") == 0
    assert capture.contains(marker)
    line = wait_for_access(live, client.node, 'direction="outbound"', f"dst.addr={outsider.ip}:9000")
    assert "dst.hbone_addr" not in line and "src.identity" not in line


def test_enrolled_to_outside_client_is_plain_passthrough(live: Plan, tmp_path: Path) -> None:
    assert live.external is not None
    client, ext = live.pod("mesh", "client"), live.external
    port = 7000 + secrets.randbelow(900)
    listener = netns.socket_in(ext.client_netns, socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((ext.client_ip, port))
    listener.listen()
    listener.settimeout(10)
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            data = conn.recv(65536)
            seen.append(data)
            conn.sendall(data)

    marker = f"OUTSIDE-{secrets.token_hex(12)}".encode()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with VethCapture(live, [client], tmp_path) as capture:
            assert echo_once(client.netns, ext.client_ip, port, marker) == marker
        thread.join(timeout=10)
    finally:
        listener.close()
    assert seen == [marker]
    assert capture.count(f"tcp and host {client.ip} and host {ext.client_ip} and port {port}") > 0
    assert capture.count("tcp port 15008") == 0
    assert capture.contains(marker)
    line = wait_for_access(live, client.node, 'direction="outbound"', f"dst.addr={ext.client_ip}:{port}")
    assert "dst.hbone_addr" not in line


def test_opted_out_pod_is_not_captured(live: Plan, tmp_path: Path) -> None:
    client, optout, server = live.pod("mesh", "client"), live.pod("mesh", "optout"), live.pod("mesh", "server")
    assert optout.labels.get("istio.io/dataplane-mode") == "none"
    rows = dpctl("mesh", "workloads", "-t", live.name, check=True).stdout
    assert any(r.split()[1:2] == ["optout"] and r.split()[-1] == "TCP" for r in rows.splitlines())
    to_optout = f"MESH2OPTOUT-{secrets.token_hex(12)}".encode()
    from_optout = f"OPTOUT2MESH-{secrets.token_hex(12)}".encode()
    with VethCapture(live, [client, optout], tmp_path) as capture:
        assert echo_once(client.netns, optout.ip, 9000, to_optout) == to_optout  # meshed -> opted out
        assert echo_once(optout.netns, server.ip, 9000, from_optout) == from_optout  # opted out -> meshed
    # Meshed -> opted-out: plain passthrough, the marker on the wire, no tunnel.
    assert capture.count(f"tcp and host {client.ip} and host {optout.ip} and port 9000") > 0
    assert capture.count(f"tcp and host {client.ip} and host {optout.ip} and port 15008") == 0
    assert capture.contains(to_optout)
    line = wait_for_access(live, client.node, 'src.workload="client"', f"dst.addr={optout.ip}:9000")
    assert "dst.hbone_addr" not in line
    # The opted-out pod's own traffic leaves it plain (not captured by its node's ztunnel) ...
    assert capture.count(f"tcp and host {optout.ip} and host {server.ip} and port 9000") > 0
    assert capture.count(f"tcp and host {optout.ip} and port 15008") == 0
    assert capture.contains(from_optout)
    assert not access_lines(live, optout.node, 'src.workload="optout"', 'direction="outbound"')
    # ... and reaches the meshed server through its inbound capture, with no identity.
    line = wait_for_access(live, server.node, 'src.workload="optout"', f"dst.addr={server.ip}:9000")
    assert 'direction="inbound"' in line and "src.identity" not in line and "dst.hbone_addr" not in line
