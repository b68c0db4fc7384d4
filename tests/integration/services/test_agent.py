"""The node agent against the real kernel.

Each test builds a throwaway lab: a client namespace with one veth to each of
three pod namespaces (``dp-agtest<random>.cli`` and ``…web.a/b/c``), writes a
plan, starts ``python -m dataplane.agent`` as a subprocess and talks to the
pods from the client namespace.  Sockets made in the client namespace
(``netns.socket_in``) are used from the test thread, so the traffic never
touches the host namespace; every test asserts the host's links are unchanged.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dataplane.agent import ready
from dataplane.kernel import netns
from dataplane.topology.plan import Container, ContainerPort, Namespace, Pod
from tests.integration.support.agentlab import (
    MARKS,
    NODE,
    AgentLab,
    Link,
    StartAgent,
    agent_starter,
    ip,
    lab_namespaces,
    netns_pids,
    new_tag,
    wait_for,
)

pytestmark = MARKS

POD_NAMES = ("a", "b", "c")
HTTP, ECHO = 80, 7


@dataclass(frozen=True)
class Lab(AgentLab):
    def pod_netns(self, name: str) -> str:
        return self.name(f"web.{name}")

    def pod_ip(self, name: str) -> str:
        return f"10.99.{POD_NAMES.index(name) + 1}.2"

    def client_ip(self, name: str) -> str:
        return f"10.99.{POD_NAMES.index(name) + 1}.1"

    def pod(self, name: str, *, node: str = NODE, command: tuple[str, ...] = ()) -> Pod:
        ports = (
            ContainerPort(HTTP, "TCP", "http", "http"),
            ContainerPort(ECHO, "TCP", "echo", "tcp-echo"),
            ContainerPort(ECHO, "UDP", "uecho", "udp-echo"),
        )
        containers: tuple[Container, ...] = (Container("app", ports=ports),)
        if command:
            containers += (Container("sidecar", command=command),)
        return Pod(
            namespace="web",
            name=name,
            node=node,
            zone="a",
            ip=self.pod_ip(name),
            netns=self.pod_netns(name),
            host_iface=f"v{name}",
            containers=containers,
        )

    def write_plan(self, *pods: Pod) -> None:
        self.install_plan(source="test_agent.py", vpc_cidr="10.99.0.0/16", namespaces=(Namespace("web"),), pods=pods)

    def connect(self, pod: str, port: int) -> socket.socket:
        sock = netns.socket_in(self.client, socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(10)
        try:
            sock.connect((self.pod_ip(pod), port))
        except OSError:
            sock.close()
            raise
        return sock


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Client namespace veth'd to three pod namespaces; all removed afterwards, whatever happened."""
    lab = Lab(tag=new_tag("agtest"), state_dir=tmp_path)
    links = [Link(lab.pod_netns(p), f"v{p}", lab.client_ip(p), lab.pod_ip(p)) for p in POD_NAMES]
    with lab_namespaces(lab.client, links):
        yield lab


@pytest.fixture
def start_agent(lab: Lab) -> Iterator[StartAgent]:
    """Starts the agent on the lab's plan; it is stopped (killed if need be) afterwards."""
    with agent_starter(lab.state_dir) as start:
        yield start


def _http(
    sock: socket.socket, method: str, path: str, host: str, body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("unused")
    conn.sock = sock  # already connected, from inside the client namespace
    conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    response = conn.getresponse()
    assert response.getheader("content-type") == "application/json"
    return response.status, json.loads(response.read())


def _client(sock: socket.socket) -> str:
    ip, port = sock.getsockname()
    return f"{ip}:{port}"


def test_http_reports_the_pod_and_the_real_client(lab: Lab, start_agent: StartAgent) -> None:
    lab.write_plan(lab.pod("a"), lab.pod("b", node="n2"))
    _, state = start_agent()
    assert state.pods == ["web/a"]  # b is on another node (and has no namespace here)
    assert state.sockets == 3 and state.errors == []

    sock = lab.connect("a", HTTP)
    status, report = _http(sock, "GET", "/hello?x=1", "web.test")
    assert status == 200
    assert report == {
        "pod": "a",
        "namespace": "web",
        "node": NODE,
        "podIP": lab.pod_ip("a"),
        "client": _client(sock),
        "method": "GET",
        "path": "/hello?x=1",
        "host": "web.test",
        "port": HTTP,
        "protocol": "HTTP/1.1",
        "bodyBytes": 0,
        "headers": {"accept-encoding": "identity"},  # what http.client sends besides Host
    }
    assert _client(sock).startswith(lab.client_ip("a") + ":")

    status, report = _http(sock, "POST", "/upload", "web.test", body=b"x" * 100_000)  # same connection
    assert (status, report["method"], report["bodyBytes"], report["client"]) == (200, "POST", 100_000, _client(sock))
    status, _ = _http(sock, "GET", "/status/503", "web.test")
    assert status == 503
    started = time.monotonic()
    status, report = _http(sock, "GET", "/delay/0.4", "web.test", headers={"x-env": "prod"})
    assert status == 200 and time.monotonic() - started >= 0.4
    assert report["headers"]["x-env"] == "prod"
    statuses = [_http(sock, "GET", "/flaky/2/orders", "web.test")[0] for _ in range(4)]
    assert statuses == [503, 503, 200, 200]  # the first two requests for that path fail
    sock.close()


def test_http_answers_garbage_with_400_and_closes(lab: Lab, start_agent: StartAgent) -> None:
    lab.write_plan(lab.pod("a"))
    start_agent()
    with lab.connect("a", HTTP) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_tcp_echo_returns_4_mib_intact_and_honours_half_close(lab: Lab, start_agent: StartAgent) -> None:
    lab.write_plan(lab.pod("a"))
    start_agent()
    payload = os.urandom(4 << 20)
    received = bytearray()
    with lab.connect("a", ECHO) as sock:

        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        while chunk := sock.recv(1 << 16):
            received += chunk
        sender.join()
    assert len(received) == len(payload) and bytes(received) == payload


def test_tcp_echo_stops_reading_from_a_client_that_does_not_read(lab: Lab, start_agent: StartAgent) -> None:
    """Backpressure: the agent must not buffer without bound for a peer that never reads."""
    lab.write_plan(lab.pod("a"))
    start_agent()
    limit = 64 << 20
    chunk = os.urandom(1 << 16)
    sent = 0
    with lab.connect("a", ECHO) as sock:
        sock.setblocking(False)
        while sent < limit:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                if not select.select([], [sock], [], 1.0)[1]:
                    break  # stalled for a second: the agent stopped reading
        assert sent < limit, "the agent kept reading although nothing was read back"
        sock.setblocking(True)
        sock.shutdown(socket.SHUT_WR)
        received = 0
        while data := sock.recv(1 << 20):
            received += len(data)
    assert received == sent


def test_udp_echo(lab: Lab, start_agent: StartAgent) -> None:
    lab.write_plan(lab.pod("a"))
    start_agent()
    with netns.socket_in(lab.client, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"ping", (lab.pod_ip("a"), ECHO))
        assert sock.recvfrom(2048) == (b"ping", (lab.pod_ip("a"), ECHO))


def test_command_runs_inside_the_pod_namespace_with_its_own_log(lab: Lab, start_agent: StartAgent) -> None:
    lab.write_plan(lab.pod("a", command=("sh", "-c", "echo sidecar up; exec sleep 300")))
    _, state = start_agent()
    pid = state.workloads["web/a/sidecar"]
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == netns.inode(lab.pod_netns("a"))
    assert os.getpgid(pid) == pid  # its own process group
    log = lab.state_dir / "logs" / "web.a.sidecar.log"
    wait_for("the command's output", lambda: log.exists() and "sidecar up" in log.read_text())


def test_sighup_closes_removed_pods_opens_new_ones_and_keeps_the_rest(lab: Lab, start_agent: StartAgent) -> None:
    lab.write_plan(lab.pod("a", command=("sleep", "300")), lab.pod("b"))
    agent, state = start_agent()
    assert state.pods == ["web/a", "web/b"]
    kept, dropped = lab.connect("b", HTTP), lab.connect("a", HTTP)
    _, first = _http(kept, "GET", "/", "b")
    _http(dropped, "GET", "/", "a")

    lab.write_plan(lab.pod("b"), lab.pod("c"))
    agent.proc.send_signal(signal.SIGHUP)
    state = agent.ready_after(lab.state_dir, state.generation)
    assert (state.pods, state.sockets, state.workloads, state.errors) == (["web/b", "web/c"], 6, {}, [])

    for port in (HTTP, ECHO):  # a: every listening socket closed
        with pytest.raises(ConnectionRefusedError):
            lab.connect("a", port)
    with contextlib.suppress(ConnectionResetError):  # a: the accepted connection closed too
        assert dropped.recv(1) == b""
    assert netns_pids(lab.pod_netns("a")) == []  # a: its command stopped
    _, again = _http(kept, "GET", "/", "b")  # b untouched: same keep-alive connection
    assert again["client"] == first["client"]
    assert _http(lab.connect("c", HTTP), "GET", "/", "c")[1]["pod"] == "c"  # c opened

    # Nothing holds a's namespace any more: once unnamed, the kernel frees it and its veth with it.
    netns.delete(lab.pod_netns("a"))
    wait_for("a's namespace to be freed", lambda: "va@" not in ip("-n", lab.client, "-o", "link"))
    kept.close()
    dropped.close()


def test_unservable_pods_and_bad_plans_are_reported_not_fatal(lab: Lab, start_agent: StartAgent) -> None:
    missing = Pod("web", "z", NODE, "a", "10.99.9.2", f"dp-{lab.tag}.web.z", "vz", containers=lab.pod("a").containers)
    lab.write_plan(lab.pod("a"), missing)
    agent, state = start_agent()
    assert state.pods == ["web/a"]
    assert len(state.errors) == 1 and state.errors[0].startswith("web/z: ")

    (lab.state_dir / "plan.json").write_text("{not json")
    agent.proc.send_signal(signal.SIGHUP)
    state = agent.ready_after(lab.state_dir, state.generation)
    assert state.pods == ["web/a"] and state.errors[0].startswith("plan.json: ")
    assert _http(lab.connect("a", HTTP), "GET", "/", "a")[0] == 200


def test_sigterm_stops_everything_and_exits_0(lab: Lab, start_agent: StartAgent) -> None:
    stubborn = ("sh", "-c", "trap '' TERM; sleep 300 & sleep 300 & wait")  # the whole group ignores SIGTERM
    lab.write_plan(lab.pod("a", command=stubborn), lab.pod("b", command=("sleep", "300")))
    agent, state = start_agent()
    groups = set(state.workloads.values())
    assert len(groups) == 2

    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(15) == 0, agent.log.read_text()
    assert ready.read(lab.state_dir, NODE) is None
    for pod in ("a", "b"):
        assert netns_pids(lab.pod_netns(pod)) == []
    left = []  # live members of the commands' groups (killed orphans may wait as zombies for init)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            run_state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except OSError:
            continue
        if int(pgrp) in groups and run_state != "Z":
            left.append(stat.parent.name)
    assert left == []
    assert "stopped web/a/sidecar (exit code -9)" in agent.log.read_text()  # SIGKILLed after the grace period
