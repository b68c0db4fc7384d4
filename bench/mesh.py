"""The ambient mesh against the direct path and a stunnel4 mTLS relay pair.

One emulation, two nodes in two subnets, a client pod on one and a server
pod (iperf3 + an echo server, each its own process, as a pod's application
would be: ``echo_server.py``) on the other, all in namespace ``bench``.
In one run, on the same pods and links:

1. **direct**: client -> server pod IP, the namespace not enrolled;
2. **stunnel4 pair**: client app -> 127.0.0.1 -> stunnel (client netns) ->
   TLS 1.3 mTLS (AES-GCM, certificates from the emulation's CA) -> stunnel
   (server netns) -> 127.0.0.1 -> app; the namespace still not enrolled, so the
   ztunnels leave it alone: the reference C TLS relay on this path;
3. **mesh (HBONE)**: the namespace enrolled live (``dpctl mesh enroll``);
   the same client -> server pod IP now travels client pod -> ztunnel (node A)
   -> HBONE -> ztunnel (node B) -> server pod, plus 1,000 concurrent echo
   streams checked byte for byte (sha256);
4. **direct again**: unenrolled, as a drift check.

Figures are ratios within the run; the targets are those of issue 4 item 10.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.common import IPERF_SECONDS, emulation, iperf
from dataplane.agent import ready
from dataplane.kernel import netns
from dataplane.mesh.enrollment import AMBIENT, DATAPLANE_MODE
from dataplane.mesh.identity import pod_identity
from dataplane.realize.identities import store_for
from dataplane.realize.live import change
from dataplane.state.store import StateDir
from dataplane.testing.streams import echo_streams
from dataplane.topology.plan import Plan

NAMESPACE = "bench"
IPERF_PORT = 5201
ECHO_PORT = 9000
RTT_ROUNDS = 10_000
CONN_SECONDS = 3.0
STREAMS = 1_000
STREAM_BYTES = 64 * 1024
IO_TIMEOUT = 10.0
# stunnel: local ports in the client pod, TLS ports on the server pod.
STUNNEL_LOCAL = {IPERF_PORT: 25201, ECHO_PORT: 29000}
STUNNEL_TLS = {IPERF_PORT: 8443, ECHO_PORT: 8444}
STUNNEL_BIN = "stunnel4"

# Targets of issue 4 item 10.
TARGET_STUNNEL_RATIO = 0.75
TARGET_P50_ADDED_US = 150.0
TARGET_CONN_PER_S = 1_500.0

TOPOLOGY = f"""\
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {{name: NAME}}
spec:
  vpc:
    cidr: 192.168.0.0/16
    subnets:
      - {{name: a, cidr: 192.168.70.0/24, zone: a}}
      - {{name: b, cidr: 192.168.80.0/24, zone: b}}
  nodes:
    - {{name: na, subnet: a}}
    - {{name: nb, subnet: b}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: client, namespace: {NAMESPACE}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: server, namespace: {NAMESPACE}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {NAMESPACE}}}
spec:
  nodeName: na
  serviceAccountName: client
  containers: [{{name: c}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: server, namespace: {NAMESPACE}}}
spec:
  nodeName: nb
  serviceAccountName: server
  containers:
    - name: iperf
      command: [iperf3, -s, -p, "{IPERF_PORT}"]
      ports: [{{name: tcp-iperf, containerPort: {IPERF_PORT}}}]
    - name: echo
      command: [{sys.executable}, {Path(__file__).with_name("echo_server.py")}, "{ECHO_PORT}"]
      ports: [{{name: tcp-echo, containerPort: {ECHO_PORT}}}]
"""

T = TypeVar("T")


# -- results


@dataclass
class Row:
    """The figures of one path; None where a test was not run or failed."""

    label: str
    single: float | None = None  # Gbit/s
    multi: float | None = None  # Gbit/s, -P 4
    p50: float | None = None  # µs
    p99: float | None = None  # µs
    conns: float | None = None  # new connections per second
    cpu: dict[str, float] = field(default_factory=dict)  # test -> proxy CPU, % of one core
    errors: list[str] = field(default_factory=list)


@dataclass
class StreamsResult:
    """The concurrent-streams test: what went in, what came back intact."""

    streams: int
    sent: int
    received_intact: int
    corrupt: int
    failed: int
    seconds: float
    problems: list[tuple[str, int]] = field(default_factory=list)  # the commonest failures

    @property
    def lost(self) -> int:
        return self.sent - self.received_intact


@dataclass
class Target:
    """Where a row's traffic goes: the address and ports the client dials."""

    host: str
    iperf_port: int
    echo_port: int


# -- CPU of the proxies


def cpu_ticks(pids: list[int]) -> int:
    """utime+stime (clock ticks) of ``pids``, summed; a vanished pid counts 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    return total


def measured(pids: list[int], test: Callable[[], T]) -> tuple[T, float]:
    """Run ``test``; its result and the CPU ``pids`` used meanwhile, in % of one core."""
    before, started = cpu_ticks(pids), time.monotonic()
    result = test()
    wall = time.monotonic() - started
    used = (cpu_ticks(pids) - before) / os.sysconf("SC_CLK_TCK")
    return result, 100.0 * used / wall if wall > 0 else 0.0


def agent_pids(plan: Plan) -> list[int]:
    """The node agents (each runs its node's ztunnel), from their ready files."""
    state = Path(StateDir(plan.name).path)
    pids = []
    for node in plan.nodes:
        current = ready.read(state, node.name)
        if current is None:
            raise RuntimeError(f"no ready file for node {node.name}")
        pids.append(current.pid)
    return pids


# -- traffic tests (client side runs inside the client pod's namespace)


def in_netns(name: str, work: Callable[[], T]) -> T:
    """Run ``work`` on a thread that has entered namespace ``name``, so every
    socket it makes (directly or through asyncio) is the pod's, without a
    thread per socket in the measured loop."""
    box: dict[str, object] = {}

    def runner() -> None:
        try:
            netns.enter(name)
            box["result"] = work()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=runner, name=f"bench-{name}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def _connect(host: str, port: int) -> socket.socket:
    """A TCP_NODELAY connection, made in the calling thread's namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(IO_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the responder")
        data += chunk
    return data


def round_trips(host: str, port: int, rounds: int = RTT_ROUNDS) -> tuple[float, float]:
    """p50 and p99 (µs) of 1-byte request/response on one connection to an echo
    responder (call inside the client's namespace)."""
    samples = []
    with _connect(host, port) as sock:
        for _ in range(100):  # warm-up
            sock.sendall(b"x")
            _recv_exactly(sock, 1)
        for _ in range(rounds):
            started = time.perf_counter_ns()
            sock.sendall(b"x")
            _recv_exactly(sock, 1)
            samples.append(time.perf_counter_ns() - started)
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def connection_rate(host: str, port: int, seconds: float = CONN_SECONDS) -> float:
    """New connections per second: connect, 1 byte there and back, close,
    sequentially (call inside the client's namespace)."""
    count = 0
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        with _connect(host, port) as sock:
            sock.sendall(b"x")
            _recv_exactly(sock, 1)
        count += 1
    return count / (time.monotonic() - started)


def concurrent_streams(host: str, port: int, streams: int = STREAMS, size: int = STREAM_BYTES) -> StreamsResult:
    """``streams`` connections at once, each sending ``size`` random bytes to an
    echo responder and half-closing; what comes back is checked by sha256
    (call inside the client's namespace)."""
    started = time.monotonic()
    outcomes = echo_streams(host, port, streams, size, timeout=60.0)
    seconds = time.monotonic() - started
    ok = outcomes.count("ok")
    problems = collections.Counter(o for o in outcomes if o != "ok")
    return StreamsResult(streams, streams * size, ok * size, sum(n for o, n in problems.items() if o.startswith("corrupt")),
                         sum(n for o, n in problems.items() if not o.startswith("corrupt")), seconds,
                         problems.most_common(3))


def measure_row(label: str, plan: Plan, path: Target, pids: list[int]) -> Row:
    """iperf3 ×1 and ×4, round trips and connection rate over ``path``; the CPU of
    ``pids`` (the proxies, if any) during each test.  A failed test is noted,
    not fatal, so the other rows still print."""
    client = plan.pod(NAMESPACE, "client").netns
    row = Row(label)
    tests: list[tuple[str, Callable[[], object]]] = [
        ("single", lambda: iperf(client, path.host, path.iperf_port, 1)),
        ("multi", lambda: iperf(client, path.host, path.iperf_port, 4)),
        ("rtt", lambda: in_netns(client, lambda: round_trips(path.host, path.echo_port))),
        ("conns", lambda: in_netns(client, lambda: connection_rate(path.host, path.echo_port))),
    ]
    for name, test in tests:
        try:
            result, cpu = measured(pids, test)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            row.errors.append(f"{name}: {exc}")
            continue
        if pids:
            row.cpu[name] = cpu
        if name == "rtt":
            row.p50, row.p99 = result  # type: ignore[misc]
        else:
            setattr(row, name, result)
    return row


# -- the emulation's knobs


def widen_ports(plan: Plan) -> None:
    """Give both pods a wide ephemeral port range and TIME_WAIT reuse, so 3 s
    of sequential connections at kernel speed do not run out of ports.  The
    range starts above the ztunnel's ports (15001/15006/15008): a connection
    that happened to use one of them as its source port would keep the
    ztunnel from listening there when the namespace is enrolled."""
    for pod in (plan.pod(NAMESPACE, "client"), plan.pod(NAMESPACE, "server")):
        for key, value in (("net.ipv4.ip_local_port_range", "16000 65535"), ("net.ipv4.tcp_tw_reuse", "1")):
            subprocess.run(["ip", "netns", "exec", pod.netns, "sysctl", "-qw", f"{key}={value}"], check=True)


def raise_fd_limit(wanted: int = 8192) -> None:
    """Enough descriptors for the concurrent-streams test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def inbound_log_lines(plan: Plan) -> int:
    """Inbound access-log lines of the server node's ztunnel: proof that the mesh rows went through it."""
    server = plan.pod(NAMESPACE, "server")
    try:
        text = Path(StateDir(plan.name).agent_log_path(server.node)).read_text(errors="replace")
    except FileNotFoundError:
        return 0
    return sum(1 for line in text.splitlines() if 'direction="inbound"' in line)


# -- stunnel4 pair


def _stunnel_tls(cert: str, key: str, ca: str) -> str:
    """The TLS part of a stunnel service: TLS 1.3 only, AES-GCM, mutual auth
    against the emulation's root, TCP_NODELAY both ways."""
    return (
        f"cert = {cert}\nkey = {key}\nCAfile = {ca}\n"
        "verifyChain = yes\nrequireCert = yes\n"
        "sslVersionMin = TLSv1.3\nsslVersionMax = TLSv1.3\n"
        "ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384\n"
        "socket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n"
    )


def stunnel_configs(plan: Plan, directory: str) -> tuple[str, str]:
    """Write the client and server stunnel configurations into ``directory``; their paths."""
    store = store_for(plan)
    store.root()
    client_pod, server_pod = plan.pod(NAMESPACE, "client"), plan.pod(NAMESPACE, "server")
    files = {}
    for role, pod in (("client", client_pod), ("server", server_pod)):
        identity = pod_identity(plan, pod)
        store.workload(identity)
        tls = _stunnel_tls(store.cert_path(identity), store.key_path(identity), store.root_cert_path)
        text = f"foreground = yes\npid =\ndebug = 4\noutput = {directory}/{role}.log\n"
        if role == "client":
            text += "client = yes\n"
        for app, local in STUNNEL_LOCAL.items():
            if role == "client":
                text += f"[app{app}]\naccept = 127.0.0.1:{local}\nconnect = {server_pod.ip}:{STUNNEL_TLS[app]}\n{tls}"
            else:
                text += f"[app{app}]\naccept = {server_pod.ip}:{STUNNEL_TLS[app]}\nconnect = 127.0.0.1:{app}\n{tls}"
        files[role] = os.path.join(directory, f"{role}.conf")
        Path(files[role]).write_text(text)
    return files["client"], files["server"]


def _listening(netns_name: str, port: int) -> bool:
    out = subprocess.run(["ip", "netns", "exec", netns_name, "ss", "-Hltn", f"sport = :{port}"],
                         capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


@contextmanager
def stunnel_pair(plan: Plan) -> Iterator[list[int]]:
    """A stunnel4 client in the client pod and a server in the server pod,
    configured in a temporary directory; yields their pids; always killed."""
    client_pod, server_pod = plan.pod(NAMESPACE, "client"), plan.pod(NAMESPACE, "server")
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="dpctl-bench-stunnel-") as directory:
        try:
            client_conf, server_conf = stunnel_configs(plan, directory)
            for pod, conf in ((server_pod, server_conf), (client_pod, client_conf)):
                procs.append(subprocess.Popen(["ip", "netns", "exec", pod.netns, STUNNEL_BIN, conf],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            waits = [(server_pod.netns, p) for p in STUNNEL_TLS.values()]
            waits += [(client_pod.netns, p) for p in STUNNEL_LOCAL.values()]
            deadline = time.monotonic() + 10
            while not all(_listening(ns, port) for ns, port in waits):
                dead = [p for p in procs if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    logs = " | ".join(Path(directory, f"{r}.log").read_text(errors="replace")[-400:]
                                      for r in ("server", "client") if Path(directory, f"{r}.log").exists())
                    raise RuntimeError(f"stunnel did not start: {logs}")
                time.sleep(0.05)
            yield [p.pid for p in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# -- the run


def enroll(plan: Plan, enrolled: bool) -> float:
    """``dpctl mesh enroll|unenroll bench``, live (a namespace label kept in the overrides); seconds taken."""
    state = StateDir(plan.name)
    overrides = state.load_overrides()
    labels = {**overrides.labels, NAMESPACE: {**overrides.labels.get(NAMESPACE, {}), DATAPLANE_MODE: AMBIENT if enrolled else None}}
    return change(state, state.load_plan(), dataclasses.replace(overrides, labels=labels)).seconds


def agent_problems(plan: Plan, limit: int = 5) -> list[str]:
    """The last distinct warning/error lines of the agents' logs (for a failed
    streams test: the logs go with the emulation at teardown)."""
    found: list[str] = []
    for node in plan.nodes:
        try:
            text = Path(StateDir(plan.name).agent_log_path(node.name)).read_text(errors="replace")
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            problem = any(word in line for word in ("ERROR", "WARNING", "Traceback", "\terror\t", "\twarn"))
            # access-log errors of the other tests (iperf3 resets) are not about the echo streams
            relevant = "\taccess\t" not in line or f":{ECHO_PORT}" in line
            if problem and relevant and line not in found:
                found.append(f"{node.name}: {line[:240]}")
    return found[-limit:]


def streams_test(plan: Plan) -> StreamsResult | str:
    """The concurrent-streams test from the client pod to the server's echo
    port (its result, or why it could not run)."""
    client, server = plan.pod(NAMESPACE, "client"), plan.pod(NAMESPACE, "server")
    try:
        return in_netns(client.netns, lambda: concurrent_streams(server.ip, ECHO_PORT))
    except Exception as exc:  # noqa: BLE001 - reported
        return f"failed: {exc!r}"


def run_rows(plan: Plan) -> tuple[list[Row], StreamsResult | str, StreamsResult | str, int]:
    """Every row, in order: direct (+ the streams test as a control of the
    checker), stunnel, mesh (+ streams), direct again.  Returns the rows, the
    mesh and control streams results and how many inbound connections the
    server's ztunnel logged during the mesh tests."""
    server = plan.pod(NAMESPACE, "server")
    direct_path = Target(server.ip, IPERF_PORT, ECHO_PORT)
    rows = [measure_row("direct (pod IP)", plan, direct_path, [])]
    control = streams_test(plan)

    try:
        with stunnel_pair(plan) as pids:
            local = Target("127.0.0.1", STUNNEL_LOCAL[IPERF_PORT], STUNNEL_LOCAL[ECHO_PORT])
            rows.append(measure_row("stunnel4 pair (mTLS)", plan, local, pids))
    except Exception as exc:  # noqa: BLE001 - the other rows still count
        rows.append(Row("stunnel4 pair (mTLS)", errors=[str(exc)]))

    seconds = enroll(plan, True)
    print(f"  enrolled namespace {NAMESPACE} in {seconds:.2f} s")
    try:
        pids = agent_pids(plan)
        before = inbound_log_lines(plan)
        rows.append(measure_row("mesh (HBONE)", plan, direct_path, pids))
        streams, rows[-1].cpu["streams"] = measured(pids, lambda: streams_test(plan))
        if isinstance(streams, StreamsResult) and streams.problems:
            streams.problems += [(f"agent log: {line}", 1) for line in agent_problems(plan)]
        time.sleep(0.5)  # access-log lines are written at connection close
        captured = inbound_log_lines(plan) - before
    finally:
        seconds = enroll(plan, False)
        print(f"  unenrolled namespace {NAMESPACE} in {seconds:.2f} s")
    rows.append(measure_row("direct again (drift)", plan, direct_path, []))
    return rows, streams, control, captured


def run() -> None:
    """``python -m bench mesh``: bring the emulation up, measure, print, tear down."""
    raise_fd_limit()
    print(f"ambient mesh, pod -> pod on another node ({NAMESPACE}/client on na -> {NAMESPACE}/server on nb): "
          f"direct, stunnel4 mTLS pair, HBONE through the ztunnels; iperf3 {IPERF_SECONDS} s after 1 s omit, "
          f"{RTT_ROUNDS} 1-byte round trips, {CONN_SECONDS:.0f} s of sequential connections")
    with emulation(TOPOLOGY, "mesh") as plan:
        widen_ports(plan)
        rows, streams, control, captured = run_rows(plan)
    print_report(rows, streams, control, captured)


# -- printing


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(value: float | None, base: float | None) -> str:
    return "-" if value is None or not base else f"{value / base:.2f}"


def print_streams(label: str, streams: StreamsResult | str) -> None:
    """One line for a concurrent-streams result, and its commonest failures."""
    if not isinstance(streams, StreamsResult):
        print(f"{STREAMS} concurrent streams, {label}: {streams}")
        return
    print(f"{streams.streams} concurrent streams x {STREAM_BYTES // 1024} KiB, {label}: {streams.seconds:.2f} s, "
          f"{streams.received_intact} of {streams.sent} bytes back intact (lost {streams.lost}; "
          f"{streams.corrupt} corrupt, {streams.failed} failed streams)")
    if streams.problems:
        print("  commonest failures: " + "; ".join(f"{n}x {what}" for what, n in streams.problems))


def print_report(rows: list[Row], streams: StreamsResult | str, control: StreamsResult | str, captured: int) -> None:
    """The table (ratios against the first direct row and the stunnel row), the
    proxies' CPU, the streams test and the targets of issue 4."""
    direct = rows[0]
    stunnel = next((r for r in rows if r.label.startswith("stunnel")), Row("stunnel"))
    mesh = next((r for r in rows if r.label.startswith("mesh")), Row("mesh"))
    print()
    print(f"{'path':<22} {'1-stream Gbit/s':>16} {'xdir':>5} {'xstn':>5} {'4-stream Gbit/s':>16} {'xdir':>5} "
          f"{'xstn':>5} {'p50 us':>7} {'p99 us':>7} {'+p50':>6} {'conn/s':>7} {'xdir':>5}")
    for row in rows:
        added = None if row.p50 is None or direct.p50 is None else row.p50 - direct.p50
        print(f"{row.label:<22} {_fmt(row.single, '.2f'):>16} {_ratio(row.single, direct.single):>5} "
              f"{_ratio(row.single, stunnel.single):>5} {_fmt(row.multi, '.2f'):>16} {_ratio(row.multi, direct.multi):>5} "
              f"{_ratio(row.multi, stunnel.multi):>5} {_fmt(row.p50, '.0f'):>7} {_fmt(row.p99, '.0f'):>7} "
              f"{_fmt(added, '+.0f'):>6} {_fmt(row.conns, '.0f'):>7} {_ratio(row.conns, direct.conns):>5}")
    print()
    print("proxy CPU, % of one core (sum of both proxies; the ztunnels are the node agents):")
    for row in rows:
        if row.cpu:
            print(f"  {row.label:<22} " + "  ".join(f"{k} {v:.0f}" for k, v in row.cpu.items()))
    for row in rows:
        for error in row.errors:
            print(f"  ERROR {row.label}: {error}")
    print(f"  mesh rows: {captured} inbound connections in the server ztunnel's access log "
          f"({'went through the mesh' if captured else 'NOT captured: mesh rows are not valid'})")
    print_streams("mesh (HBONE)", streams)
    print_streams("control, direct path", control)
    print_targets(direct, stunnel, mesh, streams)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def print_targets(direct: Row, stunnel: Row, mesh: Row, streams: StreamsResult | str) -> None:
    """Issue 4 item 10's targets, as met/missed from this run's figures."""
    ratio = None if mesh.single is None or not stunnel.single else mesh.single / stunnel.single
    added = None if mesh.p50 is None or direct.p50 is None else mesh.p50 - direct.p50
    lost = streams.lost if isinstance(streams, StreamsResult) else None
    checks = [
        (f"single-stream >= {TARGET_STUNNEL_RATIO}x stunnel", _fmt(ratio, ".2f") + "x",
         None if ratio is None else ratio >= TARGET_STUNNEL_RATIO),
        (f"p50 <= direct + {TARGET_P50_ADDED_US:.0f} us", _fmt(added, "+.0f") + " us",
         None if added is None else added <= TARGET_P50_ADDED_US),
        (f">= {TARGET_CONN_PER_S:.0f} new conn/s", _fmt(mesh.conns, ".0f") + "/s",
         None if mesh.conns is None else mesh.conns >= TARGET_CONN_PER_S),
        ("no byte lost (1,000 streams)", "-" if lost is None else f"{lost} lost",
         None if lost is None else lost == 0 and streams.corrupt == 0 and streams.failed == 0),  # type: ignore[union-attr]
    ]
    print("targets (issue 4):")
    for name, value, ok in checks:
        print(f"  {name:<36} {value:>10}  {_verdict(ok)}")


if __name__ == "__main__":
    run()
