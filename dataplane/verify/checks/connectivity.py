"""Connectivity: every pod to every Service port and every other pod's TCP
ports, and the outside client to every NodePort and LoadBalancer VIP.

The expected outcome of each probe is computed from the plan, never assumed:
the endpoints kube-proxy would use from that node (``kubeproxy.categorize``,
so Local traffic policies and terminating fall-backs are the real rules),
reject where a Service has no usable endpoint anywhere, drop where it has
some but none the policy allows, and the ambient mesh's L4 authorization
(``mesh.authz.evaluate``) for enrolled destinations, which shows up as a
connection accepted and then reset or closed without an answer.

A probe is a real TCP connection from inside the source namespace with a
minimal HTTP GET (the built-in responder answers JSON naming its pod) or a
byte echo.  Sockets are made on one ``NetnsThread`` per source (a thread per
socket would be far too slow for hundreds of probes) and driven from a small
thread pool.
"""

from __future__ import annotations

import errno
import json
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import TypeVar

from dataplane.kernel.netns import NetnsThread
from dataplane.kubeproxy.categorize import categorize, external_policy_local, internal_policy_local, usable
from dataplane.mesh import authz
from dataplane.mesh.enrollment import is_enrolled
from dataplane.topology.endpoints import Endpoint, PodIndex, service_port_endpoints
from dataplane.topology.plan import Plan, Pod, Service, ServicePort
from dataplane.verify.result import CheckResult

NAME = "connectivity"
T = TypeVar("T")
CONNECT_TIMEOUT = 1.5
READ_TIMEOUT = 2.0
WORKERS = 8
MAX_SOURCES = 30
EXTERNAL = "external"

# outcomes a probe can have
ANSWER, REFUSED, TIMEOUT, DENIED, UNREACHABLE, ERROR = "answer", "refused", "timeout", "denied", "unreachable", "error"
DESCRIBE = {
    ANSWER: "answered",
    REFUSED: "refused",
    TIMEOUT: "timeout",
    DENIED: "connected then reset/EOF without an answer",
    UNREACHABLE: "unreachable",
    ERROR: "error",
}


@dataclass(frozen=True)
class Expected:
    """Acceptable outcomes; for ANSWER, the pods (``ns/pod``) allowed to answer."""

    outcomes: frozenset[str]
    answerers: frozenset[str] = frozenset()
    why: str = ""

    def text(self) -> str:
        return " or ".join(DESCRIBE[o] for o in sorted(self.outcomes))


@dataclass(frozen=True)
class Probe:
    source: str  # ns/pod or "external"
    source_netns: str
    destination: str  # column label
    subject: str
    ip: str
    port: int
    responder: str  # http | tcp-echo | connect
    expected: Expected


@dataclass(frozen=True)
class Outcome:
    kind: str
    detail: str
    answerer: str | None = None  # ns/pod from the HTTP answer


# -- what to expect ------------------------------------------------------------------


def _identity(plan: Plan, pod: Pod) -> str:
    return f"{plan.trust_domain}/ns/{pod.namespace}/sa/{pod.service_account}"


def _authz_expectation(
    plan: Plan, targets: list[tuple[Pod, int]], src_ip: str, identity: str | None
) -> Expected:
    """ANSWER from the targets the mesh allows; DENIED possible when it denies some."""
    allowed, denied, reasons = set(), set(), []
    for pod, port in targets:
        key = f"{pod.namespace}/{pod.name}"
        if is_enrolled(plan, pod):
            decision = authz.evaluate(plan, pod, authz.Connection(src_ip, identity, pod.ip, port))
            if not decision.allowed:
                denied.add(key)
                reasons.append(f"{key}: {decision.reason}")
                continue
        allowed.add(key)
    outcomes = set()
    if allowed:
        outcomes.add(ANSWER)
    if denied:
        outcomes.add(DENIED)
    return Expected(frozenset(outcomes), frozenset(allowed), "; ".join(reasons))


def _pods_of(plan: Plan, endpoints: tuple[Endpoint, ...] | list[Endpoint]) -> list[tuple[Pod, int]]:
    return [(plan.pod(e.namespace, e.pod), e.port) for e in endpoints]


def expect_cluster_ip(plan: Plan, source: Pod, service: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> Expected:
    meshed = is_enrolled(plan, source)
    identity = _identity(plan, source) if meshed else None
    if meshed:
        # the source's ztunnel resolves the VIP itself to a ready endpoint
        targets = list(usable(endpoints))
        if not targets:
            return Expected(frozenset({REFUSED, DENIED}), why="no usable endpoint (meshed source)")
    else:
        cats = categorize(endpoints, service, port, source.node)
        targets = list(cats.local if internal_policy_local(service) else cats.cluster)
        if not targets:
            if cats.has_any:
                return Expected(frozenset({TIMEOUT}), why=f"internalTrafficPolicy Local: no endpoint on {source.node}")
            return Expected(frozenset({REFUSED}), why="no usable endpoint")
    return _authz_expectation(plan, _pods_of(plan, targets), source.ip, identity)


def expect_pod(plan: Plan, source: Pod, target: Pod, port: int) -> Expected:
    identity = _identity(plan, source) if is_enrolled(plan, source) else None
    return _authz_expectation(plan, [(target, port)], source.ip, identity)


def expect_node_port(plan: Plan, node: str, service: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> Expected:
    cats = categorize(endpoints, service, port, node)
    local = external_policy_local(service, port)
    targets = list(cats.local if local else cats.cluster)
    if not targets:
        if cats.has_any:
            return Expected(frozenset({TIMEOUT}), why=f"externalTrafficPolicy Local: no endpoint on {node}")
        return Expected(frozenset({REFUSED}), why="no usable endpoint")
    assert plan.external is not None
    # Cluster policy masquerades to the node; Local keeps the client's address
    src_ip = plan.external.client_ip if local else plan.node(node).ip
    return _authz_expectation(plan, _pods_of(plan, targets), src_ip, None)


def expect_vip(plan: Plan, service: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> Expected:
    assert plan.external is not None
    client = IPv4Address(plan.external.client_ip)
    ranges = service.load_balancer_source_ranges
    if ranges and not any(client in IPv4Network(r, strict=False) for r in ranges):
        return Expected(frozenset({TIMEOUT}), why="client outside loadBalancerSourceRanges")
    if external_policy_local(service, port):
        targets = [e for node in plan.nodes for e in categorize(endpoints, service, port, node.name).local]
    else:
        targets = list(usable(endpoints))
    if not targets:
        return Expected(frozenset({REFUSED, TIMEOUT}), why="no healthy target")
    merged: dict[str, Expected] = {}
    for e in targets:
        pod = plan.pod(e.namespace, e.pod)
        src_ip = plan.external.client_ip if external_policy_local(service, port) else plan.node(e.node).ip
        merged[e.pod + e.namespace] = _authz_expectation(plan, [(pod, e.port)], src_ip, None)
    return Expected(
        frozenset().union(*(x.outcomes for x in merged.values())),
        frozenset().union(*(x.answerers for x in merged.values())),
        "; ".join(x.why for x in merged.values() if x.why),
    )


# -- what to probe --------------------------------------------------------------------


def sample_sources(plan: Plan, limit: int | None = None) -> list[Pod]:
    """All pods when there are few; else a deterministic sample with one per node."""
    pods = sorted(plan.pods, key=lambda p: (p.namespace, p.name))
    limit = MAX_SOURCES if limit is None else limit
    if len(pods) <= limit:
        return pods
    chosen: dict[str, Pod] = {}
    for node in plan.nodes:
        on_node = [p for p in pods if p.node == node.name]
        if on_node:
            chosen[f"{on_node[0].namespace}/{on_node[0].name}"] = on_node[0]
    step = len(pods) / max(1, limit - len(chosen))
    i = 0.0
    while len(chosen) < limit and int(i) < len(pods):
        p = pods[int(i)]
        chosen.setdefault(f"{p.namespace}/{p.name}", p)
        i += step
    return sorted(chosen.values(), key=lambda p: (p.namespace, p.name))[:limit]


def _responder_for(plan: Plan, service: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> str:
    for e in endpoints:
        for cp in plan.pod(e.namespace, e.pod).ports:
            if cp.port == e.port and cp.protocol == "TCP":
                return cp.responder if cp.responder in ("http", "tcp-echo") else "connect"
    return "connect"


def served_ports(pod: Pod) -> list[tuple[int, str]]:
    """The pod's TCP ports the node agent serves (containers with a command serve their own)."""
    ports = []
    for container in pod.containers:
        if container.command:
            continue
        for cp in container.ports:
            if cp.protocol == "TCP":
                ports.append((cp.port, cp.responder if cp.responder in ("http", "tcp-echo") else "connect"))
    return ports


def plan_probes(plan: Plan, max_sources: int | None = None) -> list[Probe]:
    index = PodIndex(plan.pods)
    slices = {s.key: service_port_endpoints(plan, s, index) for s in plan.services}
    services = sorted(plan.services, key=lambda s: (s.namespace, s.name))
    probes: list[Probe] = []
    for src in sample_sources(plan, max_sources):
        label = f"{src.namespace}/{src.name}"
        for svc in services:
            if svc.cluster_ip is None:
                continue
            for port, endpoints in slices[svc.key]:
                if port.protocol != "TCP":
                    continue
                dest = f"svc {svc.namespace}/{svc.name}:{port.port}"
                probes.append(Probe(
                    label, src.netns, dest, f"{label} -> {dest}", svc.cluster_ip, port.port,
                    _responder_for(plan, svc, port, endpoints), expect_cluster_ip(plan, src, svc, port, endpoints),
                ))
        for dst in sorted(plan.pods, key=lambda p: (p.namespace, p.name)):
            if dst is src:
                continue
            for number, responder in served_ports(dst):
                dest = f"pod {dst.namespace}/{dst.name}:{number}"
                probes.append(Probe(
                    label, src.netns, dest, f"{label} -> {dest}", dst.ip, number, responder,
                    expect_pod(plan, src, dst, number),
                ))
    if plan.external is not None:
        ext = plan.external
        for svc in services:
            for port, endpoints in slices[svc.key]:
                if port.protocol != "TCP":
                    continue
                responder = _responder_for(plan, svc, port, endpoints)
                if port.node_port:
                    for node in plan.nodes:
                        dest = f"nodeport {svc.namespace}/{svc.name} {node.name}:{port.node_port}"
                        probes.append(Probe(
                            EXTERNAL, ext.client_netns, dest, f"{EXTERNAL} -> {dest}", node.ip, port.node_port,
                            responder, expect_node_port(plan, node.name, svc, port, endpoints),
                        ))
                for vip in svc.load_balancer_ips:
                    dest = f"lb {svc.namespace}/{svc.name} {vip}:{port.port}"
                    probes.append(Probe(
                        EXTERNAL, ext.client_netns, dest, f"{EXTERNAL} -> {dest}", vip, port.port,
                        responder, expect_vip(plan, svc, port, endpoints),
                    ))
    return probes


# -- probing ---------------------------------------------------------------------------


def _recv_all(sock: socket.socket, limit: int = 1 << 16) -> bytes:
    chunks = []
    size = 0
    while size < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def probe_once(sock: socket.socket, probe: Probe) -> Outcome:
    """Connect ``sock`` (already made inside the source namespace) and talk."""
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect((probe.ip, probe.port))
        except TimeoutError:
            return Outcome(TIMEOUT, f"no answer to SYN within {CONNECT_TIMEOUT}s")
        except ConnectionRefusedError:
            return Outcome(REFUSED, "connection refused")
        except ConnectionResetError:
            # The handshake completed (a SYN answered by RST is "refused"), and a
            # capturing ztunnel that denies the flow reset it before connect()
            # returned: the same denial as a reset after it, only faster.
            return Outcome(DENIED, "connection reset right after the handshake")
        except OSError as exc:
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return Outcome(UNREACHABLE, exc.strerror or str(exc))
            return Outcome(ERROR, f"connect: {exc}")
        if probe.responder == "connect":
            return Outcome(ANSWER, "connected")
        sock.settimeout(READ_TIMEOUT)
        try:
            if probe.responder == "tcp-echo":
                token = secrets.token_hex(8).encode()
                sock.sendall(token)
                data = b""
                while len(data) < len(token):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if not data:
                    return Outcome(DENIED, "EOF without an answer")
                if data != token:
                    return Outcome(ERROR, f"echo mismatch: sent {token!r}, got {data[:40]!r}")
                return Outcome(ANSWER, "echoed")
            sock.sendall(b"GET /dpctl-verify HTTP/1.0\r\nHost: dpctl-verify\r\n\r\n")
            data = _recv_all(sock)
        except ConnectionResetError:
            return Outcome(DENIED, "connection reset after connect")
        except TimeoutError:
            return Outcome(TIMEOUT, f"connected, no answer within {READ_TIMEOUT}s")
        if not data:
            return Outcome(DENIED, "EOF without an answer")
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        try:
            report = json.loads(body)
            who = f"{report['namespace']}/{report['pod']}"
        except (ValueError, KeyError, TypeError):
            return Outcome(ANSWER, status)
        return Outcome(ANSWER, f"{status} from {who}", who)
    finally:
        sock.close()


def judge(probe: Probe, outcome: Outcome, seconds: float) -> CheckResult:
    exp = probe.expected
    ok = outcome.kind in exp.outcomes
    reason = ""
    if ok and outcome.kind == ANSWER and outcome.answerer and exp.answerers and outcome.answerer not in exp.answerers:
        ok = False
        reason = f"wrong pod answered: {outcome.answerer} (expected one of {', '.join(sorted(exp.answerers))})"
    elif not ok:
        reason = f"{outcome.kind}: {outcome.detail}; expected {exp.text()}" + (f" ({exp.why})" if exp.why else "")
    return CheckResult(
        NAME, probe.subject, ok, reason, evidence=outcome.detail, seconds=round(seconds, 3),
        source=probe.source, destination=probe.destination,
    )


def run_probes(
    items: Sequence[T],
    probe_of: Callable[[T], Probe],
    judge_one: Callable[[T, Outcome, float], CheckResult],
    progress: Callable[[int, int], None] | None = None,
) -> list[CheckResult]:
    """Probe every item for real and judge it, in item order.

    One thread per source namespace makes the sockets (a thread per socket
    would be far too slow for hundreds of probes); a few workers run the
    probes concurrently."""
    threads: dict[str, NetnsThread] = {}
    try:
        for item in items:
            source = probe_of(item).source_netns
            if source not in threads:
                threads[source] = NetnsThread(source)

        def one(item: T) -> CheckResult:
            probe = probe_of(item)
            started = time.monotonic()
            try:
                sock = threads[probe.source_netns].call(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
                outcome = probe_once(sock, probe)
            except Exception as exc:  # noqa: BLE001  reported as the probe's result
                outcome = Outcome(ERROR, f"{type(exc).__name__}: {exc}")
            return judge_one(item, outcome, time.monotonic() - started)

        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="verify") as pool:
            futures = {pool.submit(one, item): i for i, item in enumerate(items)}
            done: dict[int, CheckResult] = {}
            for n, future in enumerate(as_completed(futures), 1):
                done[futures[future]] = future.result()
                if progress:
                    progress(n, len(items))
        return [done[i] for i in range(len(items))]
    finally:
        for t in threads.values():
            t.close()


def run(plan: Plan, progress: Callable[[int, int], None] | None = None, max_sources: int | None = None) -> list[CheckResult]:
    return run_probes(plan_probes(plan, max_sources), lambda p: p, judge, progress)
