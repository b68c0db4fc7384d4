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

from dataplane.build.state import StateDir
from dataplane.kernel import netns
from dataplane.topology.plan import Plan
from tests.integration.conftest import dpctl, unique_name, write_topology
from tests.integration.traffic import http_get

pytestmark = [pytest.mark.root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module", params=["vpc", "overlay"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plan]:
    name = unique_name("mesh")
    path = write_topology(tmp_path_factory.mktemp("mesh"), "mesh.yaml", name, CNI=request.param)
    try:
        dpctl("up", "-q", str(path), check=True)
        yield StateDir(name).load_plan()
    finally:
        dpctl("down", name)


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
        sock.connect((server.ip, 8081))  # accepted by the client's ztunnel
        try:
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
