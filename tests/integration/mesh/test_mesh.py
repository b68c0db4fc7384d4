"""The ambient mesh end to end: the node agents' ztunnels, in-pod capture,
HBONE between nodes, L4 policies and live enroll/unenroll, checked with real
traffic and captures on the nodes' real interfaces."""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.kernel import daemons, netns
from dataplane.mesh.identity import pod_identity
from dataplane.mesh.promtext import Sample, parse
from dataplane.state.store import StateDir
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan
from tests.integration.support import dpctl, each_cni, write_topology
from tests.integration.support.traffic import http_get

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module", params=["vpc", "overlay"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations
) -> Iterator[Plan]:
    for emulation in each_cni(request, tmp_path_factory, module_topology, "mesh.yaml", "mesh"):
        yield emulation.plan


def service_ip(plan: Plan) -> str:
    ip = next(s.cluster_ip for s in plan.services if s.namespace == "mesh" and s.name == "server")
    assert ip
    return ip


def agent_log(plan: Plan, node: str) -> str:
    return Path(StateDir(plan.name).agent_log_path(node)).read_text()


def wait_for_log(plan: Plan, node: str, needle: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in agent_log(plan, node).splitlines() if needle in line]
        if lines:
            return lines[-1]
        assert time.monotonic() < deadline, f"no log line with {needle!r} on {node}"
        time.sleep(0.05)


def echo_connection(src_netns: str, ip: str, port: int = 9000) -> socket.socket:
    sock = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect((ip, port))
    return sock


def echo(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    data = b""
    while len(data) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        data += chunk
    return data


class Capture:
    """tcpdump -w on every interface of a node namespace (eth0, vxlan0, pod veths).

    In in-pod mode the tunnel starts inside the pod, so no plaintext may show
    anywhere in the node; on ``any`` the overlay's decapsulated packets are
    seen too, so the port checks work in both CNI modes."""

    def __init__(self, node_netns: str, path: Path):
        self.path = path
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", node_netns, "tcpdump", "-Z", "root", "-i", "any", "-U", "--immediate-mode", "-n", "-s", "0", "-w", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        self.proc.stderr.readline()  # "listening on eth0 ..." once the capture runs

    def stop(self) -> bytes:
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        return self.path.read_bytes()

    def count(self, expression: str) -> int:
        out = subprocess.run(
            ["tcpdump", "-r", str(self.path), "-n", expression], capture_output=True, text=True, check=True
        ).stdout
        return len(out.splitlines())


def test_enrolled_to_enrolled_by_pod_ip_and_cluster_ip(live: Plan) -> None:
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server-0")
    assert client.node != server.node
    for ip, port in ((server.ip, 8080), (service_ip(live), 80)):
        answer = http_get(client.netns, ip, port)
        assert answer["pod"] == "server-0"
        assert answer["client"].split(":")[0] == client.ip  # spoofed: the app sees the client pod
    inbound = wait_for_log(live, server.node, 'direction="inbound"')
    assert 'src.identity="cluster.local/ns/mesh/sa/client"' in inbound
    assert f"dst.hbone_addr={server.ip}:8080" in inbound
    outbound = wait_for_log(live, client.node, 'dst.service="server.mesh.svc.cluster.local"')
    assert f"dst.addr={server.ip}:15008" in outbound


def test_plaintext_never_on_node_links(live: Plan, tmp_path: Path) -> None:
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server-0")
    marker = f"MARKER-{secrets.token_hex(12)}".encode()
    captures = [Capture(live.node(n).netns, tmp_path / f"{n}.pcap") for n in (client.node, server.node)]
    try:
        with echo_connection(client.netns, server.ip) as sock:
            assert echo(sock, marker * 50) == marker * 50
        with echo_connection(client.netns, service_ip(live)) as sock:
            assert echo(sock, marker) == marker
    finally:
        payloads = [c.stop() for c in captures]
    for capture, payload in zip(captures, payloads):
        assert marker not in payload, f"plaintext marker seen on {capture.path.name}"
        between = f"tcp and host {client.ip} and host {server.ip}"
        assert capture.count(f"{between} and port 15008") > 0
        assert capture.count(f"{between} and not port 15008") == 0


def test_unenrolled_to_enrolled_is_captured_inbound(live: Plan) -> None:
    outsider, server = live.pod("plain", "outsider"), live.pod("mesh", "server-0")
    answer = http_get(outsider.netns, server.ip, 8080)
    assert answer["client"].split(":")[0] == outsider.ip
    line = wait_for_log(live, server.node, 'src.workload="outsider"')
    assert f"dst.addr={server.ip}:8080" in line and 'direction="inbound"' in line
    assert "src.identity" not in line


def test_deny_policy_resets_the_client(live: Plan) -> None:
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server-0")
    sock = netns.socket_in(client.netns, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(5)
        try:
            sock.connect((server.ip, 8081))  # accepted by the client's ztunnel (its reset may beat connect() back)
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
        assert data == b"", "a denied connection must get no HTTP answer"
    line = wait_for_log(live, server.node, 'error="connection closed due to policy rejection')
    assert "explicitly denied by: mesh/deny-8081" in line and f"dst.hbone_addr={server.ip}:8081" in line
    assert "http status: 401" in wait_for_log(live, client.node, "401")


def test_unenroll_and_enroll_live(live: Plan, tmp_path: Path) -> None:
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server-0")
    held = echo_connection(client.netns, server.ip)  # through the mesh, kept open
    try:
        assert echo(held, b"before") == b"before"
        dpctl("mesh", "unenroll", "mesh", "-t", live.name, check=True)
        rows = dpctl("mesh", "workloads", "-t", live.name, "-o", "json", check=True).stdout
        assert '"protocol": "HBONE"' not in rows
        assert echo(held, b"while-unenrolled") == b"while-unenrolled"
        capture = Capture(live.node(server.node).netns, tmp_path / "plain.pcap")
        try:
            answer = http_get(client.netns, server.ip, 8080)
            with echo_connection(client.netns, service_ip(live)) as sock:
                assert echo(sock, b"plain") == b"plain"
        finally:
            capture.stop()
        assert answer["client"].split(":")[0] == client.ip
        between = f"tcp and host {client.ip} and host {server.ip}"
        assert capture.count(f"{between} and port 8080") > 0
        assert capture.count(f"{between} and port 15008") == 0  # the held tunnel is idle meanwhile
        # Unenrolled, the DENY policy no longer applies (no ztunnel on the path).
        assert http_get(client.netns, server.ip, 8081)["port"] == 8081
    finally:
        dpctl("mesh", "enroll", "mesh", "-t", live.name, check=True)
    try:
        assert echo(held, b"after") == b"after"
        answer = http_get(client.netns, server.ip, 8080)
        assert answer["client"].split(":")[0] == client.ip
        assert "HBONE" in dpctl("mesh", "workloads", "-t", live.name, check=True).stdout
    finally:
        held.close()


def http_keepalive(sock: socket.socket) -> str:
    """One HTTP/1.1 request on a kept connection; the status line of the answer."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: server\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        head += chunk
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    body = head.split(b"\r\n\r\n", 1)[1]
    while len(body) < length:
        body += sock.recv(65536)
    return head.split(b"\r\n", 1)[0].decode()


def is_cut(sock: socket.socket) -> bool:
    """True once the connection is closed or reset (a send may still be accepted locally)."""
    try:
        sock.sendall(b"still there?")
        return sock.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def fresh_connection_is_cut(src_netns: str, ip: str, port: int = 9000) -> bool:
    """A new connection is closed or reset; its reset may even beat connect() back."""
    sock = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(5)
        try:
            sock.connect((ip, port))
        except ConnectionResetError:
            return True
        return is_cut(sock)


DENY_ECHO = """
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: deny-echo, namespace: mesh}}
spec:
  action: DENY
  rules:
    - from: [{{source: {{principals: ["{domain}/ns/mesh/sa/client"]}}}}]
      to: [{{operation: {{ports: ["9000"]}}}}]
    - from: [{{source: {{ipBlocks: ["{outsider}/32"]}}}}]
      to: [{{operation: {{ports: ["9000"]}}}}]
"""


def test_policy_edit_closes_only_the_connections_it_now_denies(live: Plan, tmp_path: Path) -> None:
    """ztunnel re-checks established inbound connections when policies change:
    the newly denied ones (HBONE and 15006 plaintext alike) are closed with
    the policy in the access log, the others carry on."""
    client, server, outsider = live.pod("mesh", "client"), live.pod("mesh", "server-0"), live.pod("plain", "outsider")
    original = write_topology(tmp_path, "mesh.yaml", live.name, CNI=live.cni)
    edited = tmp_path / "edited.yaml"
    edited.write_text(original.read_text() + DENY_ECHO.format(domain=live.trust_domain, outsider=outsider.ip))
    opened = [
        echo_connection(client.netns, server.ip),  # HBONE, to be denied by principal
        echo_connection(outsider.netns, server.ip),  # plaintext via 15006, to be denied by ipBlocks
        echo_connection(client.netns, server.ip, 8080),  # HBONE, another port: kept
        echo_connection(outsider.netns, server.ip, 8080),  # plaintext, another port: kept
    ]
    denied_hbone, denied_plain, kept_hbone, kept_plain = opened
    try:
        for sock in (denied_hbone, denied_plain):
            assert echo(sock, b"before") == b"before"
        for sock in (kept_hbone, kept_plain):
            assert http_keepalive(sock) == "HTTP/1.1 200 OK"
        dpctl("apply", str(edited), check=True)
        try:
            assert is_cut(denied_hbone), "an HBONE connection the new policy denies must be closed"
            assert is_cut(denied_plain), "a plaintext connection the new policy denies must be closed"
            for sock in (kept_hbone, kept_plain):
                assert http_keepalive(sock) == "HTTP/1.1 200 OK"
            line = wait_for_log(live, server.node, "explicitly denied by: mesh/deny-echo")
            assert 'error="connection closed due to policy rejection' in line
            assert fresh_connection_is_cut(client.netns, server.ip), "new connections must be denied too"
        finally:
            dpctl("apply", str(original), check=True)
    finally:
        for sock in opened:
            sock.close()


def test_scaling_keeps_established_meshed_connections(live: Plan) -> None:
    """Scale up and back down under a held tunnel: the survivor's connection
    never notices, the new replica joins the mesh at once (HBONE, in the
    workloads table) and its removal does not disturb the rest."""
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server-0")
    with echo_connection(client.netns, server.ip) as held:
        assert echo(held, b"before") == b"before"
        dpctl("scale", "mesh/server", "2", "-t", live.name, check=True)
        try:
            assert echo(held, b"while-scaled") == b"while-scaled"
            added = next(p for p in StateDir(live.name).load_plan().pods if p.namespace == "mesh" and p.name.startswith("server") and p.name != "server-0")
            rows = dpctl("mesh", "workloads", "-t", live.name, "-o", "json", check=True).stdout
            assert f'"{added.ip}"' in rows and rows.count('"protocol": "HBONE"') >= 3
            with echo_connection(client.netns, added.ip) as fresh:
                assert echo(fresh, b"new replica") == b"new replica"
            wait_for_log(live, added.node, f"dst.hbone_addr={added.ip}:9000")
        finally:
            dpctl("scale", "mesh/server", "1", "-t", live.name, check=True)
        assert echo(held, b"after") == b"after"


def ztunnel_threads_in(plan: Plan, pod_netns: str) -> set[int]:
    """Agents of ``plan`` with a thread inside ``pod_netns`` (the ztunnel's per-pod socket thread)."""
    return daemons.processes_in([pod_netns]) & daemons.agents_of(StateDir(plan.name).path)


def wait_for_threads(plan: Plan, pod_netns: str, present: bool, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while bool(ztunnel_threads_in(plan, pod_netns)) != present:
        assert time.monotonic() < deadline, f"ztunnel thread in {pod_netns}: expected present={present}"
        time.sleep(0.1)


def test_unenrolled_pod_is_not_held_by_a_ztunnel_thread(live: Plan) -> None:
    """A thread inside a pod keeps its namespace (and veths) alive: it goes with the enrollment."""
    server = live.pod("mesh", "server-0")
    wait_for_threads(live, server.netns, present=True)
    try:
        dpctl("mesh", "unenroll", "mesh", "-t", live.name, check=True)
        wait_for_threads(live, server.netns, present=False)
    finally:
        dpctl("mesh", "enroll", "mesh", "-t", live.name, check=True)
    wait_for_threads(live, server.netns, present=True)
    with echo_connection(live.pod("mesh", "client").netns, server.ip) as sock:
        assert echo(sock, b"again") == b"again"


# -- metrics and graph -----------------------------------------------------------------------------------


def node_metrics(plan: Plan, node: str) -> list[Sample]:
    """The node ztunnel's series, scraped through ``dpctl mesh metrics NODE``."""
    return parse(dpctl("mesh", "metrics", node, "-t", plan.name, check=True).stdout)


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def wait_for_total(plan: Plan, node: str, name: str, at_least: float, timeout: float = 5.0, **labels: str) -> float:
    """Poll the node's metrics until the summed series reach ``at_least`` (closes are counted asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = total(node_metrics(plan, node), name, **labels)
        if value >= at_least:
            return value
        assert time.monotonic() < deadline, f"{name}{labels} on {node} stayed at {value} < {at_least}"
        time.sleep(0.1)


def test_destination_metrics_count_meshed_connections_and_bytes(live: Plan) -> None:
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server-0")
    mtls = {
        "reporter": "destination",
        "source_workload": "client",
        "source_workload_namespace": "mesh",
        "source_principal": str(pod_identity(live, client)),
        "destination_workload": "server",
        "destination_workload_namespace": "mesh",
        "destination_principal": str(pod_identity(live, server)),
        "connection_security_policy": "mutual_tls",
        "request_protocol": "tcp",
    }
    before = node_metrics(live, server.node)
    opened = total(before, "istio_tcp_connections_opened_total", **mtls)
    closed = total(before, "istio_tcp_connections_closed_total", **mtls)
    received = total(before, "istio_tcp_received_bytes_total", **mtls)
    sent = total(before, "istio_tcp_sent_bytes_total", **mtls)
    payloads = [secrets.token_bytes(n) for n in (1000, 20_000, 300_000)]
    for payload, ip in zip(payloads, (server.ip, service_ip(live), server.ip)):
        with echo_connection(client.netns, ip) as sock:
            assert echo(sock, payload) == payload
    n, nbytes = len(payloads), sum(map(len, payloads))
    wait_for_total(live, server.node, "istio_tcp_connections_closed_total", closed + n, **mtls)
    after = node_metrics(live, server.node)
    assert total(after, "istio_tcp_connections_opened_total", **mtls) >= opened + n
    # Istio's flipped convention: what the client sent is the destination's "received"
    assert total(after, "istio_tcp_received_bytes_total", **mtls) >= received + nbytes
    assert total(after, "istio_tcp_sent_bytes_total", **mtls) >= sent + nbytes  # echoed back
    # The client's node reports the same connections as source, knowing the Service it dialled.
    source = node_metrics(live, client.node)
    assert total(
        source, "istio_tcp_connections_opened_total", reporter="source", source_workload="client",
        destination_workload="server", connection_security_policy="mutual_tls",
        destination_service="server.mesh.svc.cluster.local",
    ) >= 1


def test_denied_connection_is_flagged_deny(live: Plan) -> None:
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server-0")
    deny = {"reporter": "destination", "source_workload": "client", "destination_workload": "server",
            "response_flags": "DENY", "connection_security_policy": "mutual_tls"}
    before = total(node_metrics(live, server.node), "istio_tcp_connections_closed_total", **deny)
    with netns.socket_in(client.netns, socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            # The local ztunnel accepts, is refused (401) and resets: on a busy
            # machine that reset can come back before connect() returns.
            sock.connect((server.ip, 8081))
            sock.sendall(b"x")
            sock.recv(100)
        except ConnectionResetError:
            pass
    wait_for_total(live, server.node, "istio_tcp_connections_closed_total", before + 1, **deny)
    assert total(node_metrics(live, server.node), "istio_tcp_received_bytes_total", **deny) == 0


def test_graph_from_metrics(live: Plan, tmp_path: Path) -> None:
    client, server, outsider = live.pod("mesh", "client"), live.pod("mesh", "server-0"), live.pod("plain", "outsider")
    with echo_connection(client.netns, server.ip) as sock:
        assert echo(sock, b"graph") == b"graph"
    http_get(outsider.netns, server.ip, 8080)
    wait_for_total(live, server.node, "istio_tcp_connections_closed_total", 1,
                   reporter="destination", source_workload="outsider", destination_workload="server")
    svg = tmp_path / "mesh.svg"
    dpctl("mesh", "graph", "-t", live.name, "-o", str(svg), check=True)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") or "<svg" in text[:500]
    assert ">client<" in text and ">server<" in text and "mTLS" in text
    dot = tmp_path / "mesh.dot"
    dpctl("mesh", "graph", "-t", live.name, "-o", str(dot), check=True)
    edges = dot.read_text().splitlines()
    meshed = [e for e in edges if '"mesh/client" -> "mesh/server"' in e]
    assert meshed and all("style=solid" in e for e in meshed) and any("mTLS" in e for e in meshed)
    plain = [e for e in edges if '"plain/outsider" -> "mesh/server"' in e]
    assert plain and all("style=dashed" in e and "mTLS" not in e for e in plain)


def test_metrics_endpoint_is_node_loopback_only(live: Plan) -> None:
    server, outsider = live.pod("mesh", "server-0"), live.pod("plain", "outsider")  # outsider: no capture
    text = dpctl("mesh", "metrics", "-t", live.name, check=True).stdout
    assert 'istio_build{component="ztunnel"' in text and text.count("# node ") == len(live.nodes)
    node_ip = live.node(server.node).ip
    with netns.socket_in(outsider.netns, socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        with pytest.raises(OSError):
            sock.connect((node_ip, 15020))


# -- last: changes the module's topology ---------------------------------------------------------------------


def agent_thread_inodes(plan: Plan) -> set[int | None]:
    inodes: set[int | None] = set()
    for pid in daemons.agents_of(StateDir(plan.name).path):
        for tid in Path(f"/proc/{pid}/task").iterdir():
            inodes.add(netns.task_netns_inode(pid, int(tid.name)))
    return inodes


def test_deleted_pod_namespace_is_not_held_by_a_ztunnel_thread(live: Plan) -> None:
    victim = live.pod("mesh", "server-0")
    inode = netns.inode(victim.netns)
    assert inode in agent_thread_inodes(live)
    dpctl("delete", "pod", "-t", live.name, f"mesh/{victim.name}", check=True)
    deadline = time.monotonic() + 5
    while inode in agent_thread_inodes(live):
        assert time.monotonic() < deadline, "a ztunnel thread still holds the deleted pod's namespace"
        time.sleep(0.1)
