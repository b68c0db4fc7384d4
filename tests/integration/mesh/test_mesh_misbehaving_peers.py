"""The ztunnel under misbehaving peers (issue 4, item 2, and item 9's certificate checks).

One emulation (``mesh-mixed.yaml``) runs for the whole module; every case
misbehaves against the real node agents' ztunnels and then proves two
things: the misbehaving connection itself was cleaned up (seen from the
kernel with ``ss`` inside the pods' namespaces, and in the ztunnel's access
log), and the ztunnels kept serving everyone else meanwhile (a meshed echo
from ``mesh/client`` and ``mesh/peer`` on a1 to ``mesh/server`` on b1, timed).

Misbehaviours: peers that never finish their TLS handshake on 15008 (silent,
or half a ClientHello), a slow reader that stops reading its echo, a
half-close, a client TCP reset mid-stream, a raw HBONE client that resets one
CONNECT stream or drops its whole connection, and client certificates from
the emulation's own root that carry no usable SPIFFE identity.  Finally the
agents must still run and their logs must show no traceback.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import ssl
import struct
import time
from pathlib import Path

import pytest
from cryptography import x509

from dataplane.kernel import daemons, netns
from dataplane.mesh import ca
from dataplane.mesh.hbone.protocol import CONNECT_TIMEOUT
from dataplane.mesh.identity import SpiffeId
from dataplane.realize.identities import store_for
from dataplane.state.store import StateDir
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan, Pod
from tests.integration.support import hbone_probe, run_in, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(180)]

ECHO_PORT = 9000
HBONE_PORT = hbone_probe.HBONE_PORT
OUTBOUND_PORT = 15001
# A healthy meshed round trip here takes milliseconds; a ztunnel blocked by a
# misbehaving peer would take seconds (a handshake timeout is 10 s).
HEALTHY_ROUND_TRIP_S = 1.0
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Plan:
    """One emulation for the module, always torn down; the host's own namespace must be unchanged
    (``module_topology`` checks it)."""
    return module_topology(write_topology(tmp_path_factory.mktemp("mpeer"), "mesh-mixed.yaml", "mpeer", CNI="vpc")).plan


@pytest.fixture(scope="module")
def root(live: Plan) -> ca.Issued:
    return hbone_probe.real_root(store_for(live))


# -- observing the ztunnels ------------------------------------------------------------------------


def log_mark(plan: Plan, node: str) -> int:
    """Where the agent's log ends now: later searches look only at what follows."""
    return Path(StateDir(plan.name).agent_log_path(node)).stat().st_size


def wait_for_access(plan: Plan, node: str, mark: int, *needles: str, count: int = 1, timeout: float = 5.0) -> list[str]:
    """The first ``count`` access lines written after ``mark`` that contain every needle."""
    path = Path(StateDir(plan.name).agent_log_path(node))
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as handle:
            handle.seek(mark)
            text = handle.read().decode(errors="replace")
        lines = [line for line in text.splitlines() if "\taccess\t" in line and all(n in line for n in needles)]
        if len(lines) >= count:
            return lines[:count]
        assert time.monotonic() < deadline, f"{len(lines)} of {count} access lines with {needles!r} on {node}"
        time.sleep(0.05)


def open_sockets(netns_name: str, port: int, peer_ip: str | None = None) -> list[str]:
    """TCP sockets in a namespace with ``port`` on either end that are neither
    listening nor in TIME-WAIT: what a connection leaves behind until it is
    really closed on that side (CLOSE-WAIT, FIN-WAIT, ESTAB...)."""
    out = run_in(netns_name, "ss", "-Htan").stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        state, local, remote = fields[0], fields[3], fields[4]
        if state in ("LISTEN", "TIME-WAIT"):
            continue
        if port not in (int(local.rsplit(":", 1)[1]), int(remote.rsplit(":", 1)[1])):
            continue
        if peer_ip is None or remote.rsplit(":", 1)[0] == peer_ip:
            found.append(line)
    return found


def wait_for_sockets(netns_name: str, port: int, count: int, peer_ip: str | None = None, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(found := open_sockets(netns_name, port, peer_ip)) != count:
        assert time.monotonic() < deadline, f"expected {count} open sockets on port {port} in {netns_name}: {found}"
        time.sleep(0.05)


def agent_pid(plan: Plan, node: str) -> int:
    state = StateDir(plan.name).path
    for pid in daemons.agents_of(state):
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if args[args.index(b"--node") + 1].decode() == node:
            return pid
    raise AssertionError(f"no agent process for node {node}")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


# -- traffic ---------------------------------------------------------------------------------------


def connected(src: Pod, dst: Pod, port: int = ECHO_PORT, timeout: float = 5.0) -> socket.socket:
    sock = netns.socket_in(src.netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((dst.ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(65536, size - len(data)))
        assert chunk, f"closed after {len(data)} of {size} bytes"
        data += chunk
    return bytes(data)


def timed_echo(src: Pod, dst: Pod) -> float:
    """One meshed echo on a new connection; returns its duration after checking every byte."""
    payload = os.urandom(64 * 1024)
    started = time.monotonic()
    with connected(src, dst) as sock:
        sock.sendall(payload)
        assert read_exactly(sock, len(payload)) == payload
    return time.monotonic() - started


def assert_mesh_serves(plan: Plan) -> None:
    """Other pods' meshed connections (same pooled HBONE connection as the
    client's, and another source identity) work at normal speed."""
    server = plan.pod("mesh", "server")
    for src in (plan.pod("mesh", "client"), plan.pod("mesh", "peer")):
        took = timed_echo(src, server)
        assert took < HEALTHY_ROUND_TRIP_S, f"{src.name} -> server echo took {took:.2f}s"


def tunnel_echo(src: Pod, dst: Pod, context: ssl.SSLContext, payload: bytes) -> bytes:
    """One CONNECT from ``src`` straight to ``dst``'s 15008 and the echo of ``payload`` (b"" if refused)."""
    with hbone_probe.Session(src.netns, dst.ip, context) as session:
        stream_id = session.open(ECHO_PORT)
        if session.status.get(stream_id) != 200:
            return b""
        session.send(stream_id, payload)
        return session.receive(stream_id, len(payload))


def reset_on_close(sock: socket.socket) -> None:
    """SO_LINGER 0: ``close`` sends a TCP RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def client_hello() -> bytes:
    """The first flight of a real TLS 1.3 client (what a peer sends before it stalls)."""
    tls = hbone_probe.client_context(None).wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(), server_side=False)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Whether the other end closed or reset ``sock`` within ``timeout`` without sending a byte."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    assert data == b"", f"the server sent {data!r} to a peer that never finished its ClientHello"
    return True


# == a peer that never finishes its TLS handshake =====================================================


def test_stalled_handshakes_do_not_slow_others_and_are_cut_at_the_timeout(live: Plan) -> None:
    """Twenty silent TCP connections and one that sent half a ClientHello hold
    a meshed pod's 15008; meanwhile meshed traffic to the same pod (and
    through the same ztunnel) keeps its normal latency, and the ztunnel
    closes every stalled connection when its TLS handshake timeout
    (``CONNECT_TIMEOUT``) expires -- not before, and not never."""
    outsider, server = live.pod("plain", "outsider"), live.pod("mesh", "server")
    hello = client_hello()
    stalled: list[socket.socket] = []
    try:
        for _ in range(20):
            stalled.append(netns.socket_in(outsider.netns, socket.AF_INET, socket.SOCK_STREAM))
            stalled[-1].connect((server.ip, HBONE_PORT))
        stalled.append(netns.socket_in(outsider.netns, socket.AF_INET, socket.SOCK_STREAM))
        stalled[-1].connect((server.ip, HBONE_PORT))
        stalled[-1].sendall(hello[: len(hello) // 2])
        opened = time.monotonic()
        wait_for_sockets(server.netns, HBONE_PORT, len(stalled), peer_ip=outsider.ip)  # accepted and held

        for _ in range(3):
            assert_mesh_serves(live)
        assert time.monotonic() - opened < CONNECT_TIMEOUT / 2
        for sock in stalled:  # still held: the meshed traffic did not come at their expense
            assert not closed_by_peer(sock, 0.001)

        for sock in stalled:
            assert closed_by_peer(sock, max(0.1, opened + CONNECT_TIMEOUT + 5 - time.monotonic())), (
                f"a stalled handshake is still open {time.monotonic() - opened:.1f}s later"
            )
        cut_after = time.monotonic() - opened
        assert CONNECT_TIMEOUT - 1 <= cut_after <= CONNECT_TIMEOUT + 5, cut_after
    finally:
        for sock in stalled:
            sock.close()
    # The server closed first; once our side has too, nothing of them is left in the pod.
    wait_for_sockets(server.netns, HBONE_PORT, 0, peer_ip=outsider.ip)
    assert_mesh_serves(live)


# == a slow reader =====================================================================================


def send_until_stalled(sock: socket.socket, payload: bytes, stall_s: float) -> int:
    """Write ``payload`` without reading until no byte is taken for ``stall_s``; returns how many were."""
    sock.setblocking(False)
    sent = 0
    while sent < len(payload):
        _, writable, _ = select.select([], [sock], [], stall_s)
        if not writable:
            break
        try:
            sent += sock.send(payload[sent : sent + 256 * 1024])
        except BlockingIOError:
            continue
    return sent


def finish_echo(sock: socket.socket, payload: bytes, sent: int, timeout: float) -> bytes:
    """Read the echo while writing the rest of ``payload``, half-close, read to EOF."""
    received = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"echo incomplete: {sent} sent, {len(received)} received"
        want_write = [sock] if sent < len(payload) else []
        readable, writable, _ = select.select([sock], want_write, [], 1.0)
        if writable:
            try:
                sent += sock.send(payload[sent : sent + 256 * 1024])
            except BlockingIOError:
                pass
            if sent == len(payload):
                sock.shutdown(socket.SHUT_WR)
        if readable:
            try:
                chunk = sock.recv(1024 * 1024)
            except BlockingIOError:
                continue
            if not chunk:
                return bytes(received)
            received += chunk


def test_slow_reader_is_held_back_by_flow_control_and_gets_every_byte(live: Plan) -> None:
    """A client writes 96 MiB to an echo and never reads.  The echo cannot be
    delivered, so every buffer on the way fills; HTTP/2 flow control (4 MiB
    stream windows) must then stop the ztunnels from reading more, so the
    writer blocks long before the end and the agents' memory stays bounded,
    while other connections -- one of them on the very same pooled HBONE
    connection -- keep their normal latency.  Once the reader reads, every
    byte comes back in order (SHA-256)."""
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server")
    payload = os.urandom(96 * MIB)
    agents = [agent_pid(live, node.name) for node in live.nodes]
    rss_before = sum(rss_bytes(pid) for pid in agents)
    with connected(client, server) as sock:
        sent = send_until_stalled(sock, payload, stall_s=2.0)
        assert sent < len(payload) // 2, f"{sent} of {len(payload)} bytes taken by a connection nobody reads"
        growth = sum(rss_bytes(pid) for pid in agents) - rss_before
        assert growth < 24 * MIB, f"the agents grew by {growth / MIB:.0f} MiB for a stalled connection"
        assert_mesh_serves(live)
        # The client pod's pool has one HBONE connection to the server: the stalled stream shared it.
        assert len(open_sockets(client.netns, HBONE_PORT, peer_ip=server.ip)) == 1
        assert not select.select([], [sock], [], 0.5)[1], "the slow reader's writer was unblocked without reading"
        received = finish_echo(sock, payload, sent, timeout=60)
    assert len(received) == len(payload)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    wait_for_sockets(server.netns, ECHO_PORT, 0)


# == half-close =========================================================================================


def test_half_close_delivers_the_whole_echo_then_eof(live: Plan) -> None:
    """The client writes, then shuts down its sending side before reading a
    byte.  The FIN must cross both ztunnels as END_STREAM and reach the echo
    (which closes only on EOF), while the other direction stays open: the
    client gets the whole echo, then EOF; and the tunnel ends cleanly."""
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server")
    payload = os.urandom(2 * MIB + 4321)
    mark = log_mark(live, server.node)
    with connected(client, server, timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := sock.recv(1024 * 1024):
            received += chunk
    assert bytes(received) == payload
    [line] = wait_for_access(live, server.node, mark, 'direction="inbound"', 'src.workload="client"',
                             f"dst.hbone_addr={server.ip}:{ECHO_PORT}")
    assert f"bytes_recv={len(payload)}" in line and f"bytes_sent={len(payload)}" in line, line
    assert "error=" not in line, line
    wait_for_sockets(server.netns, ECHO_PORT, 0)


# == a client reset mid-stream ============================================================================


def test_client_reset_mid_stream_resets_the_server_side(live: Plan) -> None:
    """The client resets its connection (SO_LINGER 0) with data in flight.
    The reset must travel as RST_STREAM and end the server side's
    application connection too (no socket left behind in the server pod,
    both access lines say "connection reset"), and the client's
    captured socket is gone; new connections work afterwards."""
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server")
    mark, client_mark = log_mark(live, server.node), log_mark(live, client.node)
    sock = connected(client, server)
    try:
        sock.sendall(b"warm-up")
        assert read_exactly(sock, 7) == b"warm-up"
        # The app's accepted socket and the ztunnel's dial to it, both in the server pod.
        wait_for_sockets(server.netns, ECHO_PORT, 2)
        sock.sendall(os.urandom(256 * 1024))
        reset_on_close(sock)
    finally:
        sock.close()
    [line] = wait_for_access(live, server.node, mark, 'direction="inbound"', 'src.workload="client"')
    assert 'error="connection reset"' in line, line
    [outbound] = wait_for_access(live, client.node, client_mark, 'direction="outbound"', 'src.workload="client"')
    assert 'error="connection reset"' in outbound, outbound
    wait_for_sockets(server.netns, ECHO_PORT, 0)
    wait_for_sockets(client.netns, OUTBOUND_PORT, 0)
    assert_mesh_serves(live)


# == a raw HBONE client that resets a stream or drops its connection =========================================


def test_raw_hbone_client_resetting_a_stream_and_dropping_its_connection(
    live: Plan, root: ca.Issued, tmp_path: Path
) -> None:
    """An allowed identity opens two CONNECT streams on one HBONE connection.
    RST_STREAM on one closes that tunnel's application connection and leaves
    the other stream (and a new one on the same connection) working; then the
    client drops the TCP connection with a RST, without GOAWAY: both
    remaining tunnels' application connections are closed too, and new HBONE
    connections and meshed traffic still work."""
    outsider, server = live.pod("plain", "outsider"), live.pod("mesh", "server")
    chain = hbone_probe.leaf(root, SpiffeId(live.cluster_domain, "mesh", "prober"), tmp_path, "prober")
    context = hbone_probe.client_context(chain, trust=root)
    mark = log_mark(live, server.node)
    reset_lines = ('direction="inbound"', 'src.identity="cluster.local/ns/mesh/sa/prober"', 'error="connection reset"')
    with hbone_probe.Session(outsider.netns, server.ip, context) as session:
        first, second = session.open(ECHO_PORT), session.open(ECHO_PORT)
        assert session.status == {first: 200, second: 200}, session.status
        for stream_id in (first, second):
            greeting = f"hello {stream_id}".encode()
            session.send(stream_id, greeting)
            assert session.receive(stream_id, len(greeting)) == greeting
        wait_for_sockets(server.netns, ECHO_PORT, 4)  # two tunnels: app socket + ztunnel dial each

        session.reset(first)
        wait_for_access(live, server.node, mark, *reset_lines)
        wait_for_sockets(server.netns, ECHO_PORT, 2)
        session.send(second, b"still here")
        assert session.receive(second, len(f"hello {second}still here")) == f"hello {second}still here".encode()
        third = session.open(ECHO_PORT)
        assert session.status[third] == 200
        session.send(third, b"third")
        assert session.receive(third, 5) == b"third"
        assert not session.terminated

        session.abort()
    wait_for_access(live, server.node, mark, *reset_lines, count=3)
    wait_for_sockets(server.netns, ECHO_PORT, 0)
    wait_for_sockets(server.netns, HBONE_PORT, 0, peer_ip=outsider.ip)
    assert tunnel_echo(outsider, server, context, b"again") == b"again"
    assert_mesh_serves(live)


# == client certificates from the real root without a usable SPIFFE identity ===================================

PROBER = "spiffe://cluster.local/ns/mesh/sa/prober"
CLIENT = "spiffe://cluster.local/ns/mesh/sa/client"


@pytest.mark.parametrize(
    "names",
    [
        None,
        [x509.DNSName("server.mesh.svc.cluster.local")],
        [x509.UniformResourceIdentifier("https://cluster.local/ns/mesh/sa/prober")],
        [x509.UniformResourceIdentifier("spiffe://cluster.local/mesh/prober")],
        [x509.UniformResourceIdentifier(PROBER), x509.UniformResourceIdentifier(CLIENT)],
    ],
    ids=["no-san", "dns-name-only", "non-spiffe-uri", "malformed-spiffe-id", "two-spiffe-ids"],
)
def test_certificate_without_one_spiffe_id_is_refused(
    live: Plan, root: ca.Issued, tmp_path: Path, names: list[x509.GeneralName] | None
) -> None:
    """Signed by the emulation's own root, valid, with client-auth usage --
    only the SAN is wrong, so OpenSSL accepts the chain and the ztunnel's
    identity check is what must refuse it: no 200, not one application byte."""
    outsider, server = live.pod("plain", "outsider"), live.pod("mesh", "server")
    chain = hbone_probe.leaf_naming(root, names, tmp_path, "nospiffe")
    outcome = hbone_probe.connect(outsider.netns, server.ip, ECHO_PORT, hbone_probe.client_context(chain), payload=b"x")
    assert outcome.refused and outcome.status is None and outcome.data == b"", outcome
    assert outcome.events == [], f"the server spoke HTTP/2 to an unidentified peer: {outcome}"
    wait_for_sockets(server.netns, HBONE_PORT, 0, peer_ip=outsider.ip)


def test_same_certificate_with_a_spiffe_id_is_accepted(live: Plan, root: ca.Issued, tmp_path: Path) -> None:
    """The control for the refusals above: the same certificate shape with
    one valid SPIFFE id gets its tunnel."""
    outsider, server = live.pod("plain", "outsider"), live.pod("mesh", "server")
    chain = hbone_probe.leaf_naming(root, [x509.UniformResourceIdentifier(PROBER)], tmp_path, "spiffe")
    assert tunnel_echo(outsider, server, hbone_probe.client_context(chain), b"x") == b"x"


# == last: the agents survived all of it ====================================================================


# What asyncio or the proxy's handler wrapper logs when a connection's code raised instead of handling the event.
TROUBLE = ("Traceback", "connection handler failed", "exception was never retrieved", "Exception in callback")


def test_agents_alive_and_their_logs_clean(live: Plan) -> None:
    """Everything above must have been handled as network events: no agent
    died, and no handler failed with a traceback or an unretrieved exception."""
    for node in live.nodes:
        assert daemons.alive(agent_pid(live, node.name))
        log = Path(StateDir(live.name).agent_log_path(node.name)).read_text(errors="replace")
        for needle in TROUBLE:
            assert needle not in log, f"{node.name}: {needle!r} in the agent log:\n{log[-3000:]}"
    assert_mesh_serves(live)
