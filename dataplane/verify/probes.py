"""Probing for real: a TCP connection from inside a source namespace, and what came of it.

Shared by the connectivity and policy checks.  A probe connects, then sends a
minimal HTTP GET (the built-in responder answers JSON naming its pod) or a
byte echo, and its outcome is one of a few kinds the checks compare with what
they expected.  Sockets are made on one ``NetnsThread`` per source (a thread
per socket would be far too slow for hundreds of probes) and driven from a
small thread pool.
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
from typing import TypeVar

from dataplane.kernel.netns import NetnsThread
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.result import CheckResult
from dataplane.verify.sniffers import Captures

T = TypeVar("T")
CONNECT_TIMEOUT = 1.5
READ_TIMEOUT = 2.0
WORKERS = 8

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



PROBE_PATH, PROBE_HOST = "/dpctl-verify", "dpctl-verify"
_REFUSALS = (b"RBAC: access denied", b"upstream connect error", b"no healthy upstream")


def waypoint_refusal(head: bytes, body: bytes) -> str | None:
    """The waypoint's own 403/503 (its L7 policy, or the destination refusing the
    waypoint, or no endpoint): the mesh said no, as a reset says it without one."""
    from_envoy = any(line.lower() == b"server: istio-envoy" for line in head.split(b"\r\n"))
    if from_envoy and body.startswith(_REFUSALS):
        return body.split(b"\n", 1)[0].decode("latin-1", "replace")
    return None


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
            sock.sendall(f"GET {PROBE_PATH} HTTP/1.0\r\nHost: {PROBE_HOST}\r\n\r\n".encode())
            data = _recv_all(sock)
        except ConnectionResetError:
            return Outcome(DENIED, "connection reset after connect")
        except TimeoutError:
            return Outcome(TIMEOUT, f"connected, no answer within {READ_TIMEOUT}s")
        if not data:
            return Outcome(DENIED, "EOF without an answer")
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        if (refusal := waypoint_refusal(head, body)) is not None:
            return Outcome(DENIED, f"{status} from the waypoint: {refusal}")
        try:
            report = json.loads(body)
            who = f"{report['namespace']}/{report['pod']}"
        except (ValueError, KeyError, TypeError):
            return Outcome(ANSWER, status)
        return Outcome(ANSWER, f"{status} from {who}", who)
    finally:
        sock.close()


EVIDENCE_BPF = "tcp or icmp"


def run_probes(
    items: Sequence[T],
    probe_of: Callable[[T], Probe],
    judge_one: Callable[[T, Outcome, float], CheckResult],
    progress: Callable[[int, int], None] | None = None,
    evidence: Evidence = NO_EVIDENCE,
    watched: Sequence[str] = (),
) -> list[CheckResult]:
    """Probe every item for real and judge it, in item order.

    One thread per source namespace makes the sockets (a thread per socket
    would be far too slow for hundreds of probes); a few workers run the
    probes concurrently.  With ``evidence``, each failed probe is then tried
    once more, alone, while its source namespace and ``watched`` (the nodes)
    are captured."""
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
        results = [done[i] for i in range(len(items))]
        for i, result in enumerate(results):
            if evidence.wanted(result):
                results[i] = _retried_under_capture(items[i], probe_of, judge_one, one, result, evidence, watched)
        return results
    finally:
        for t in threads.values():
            t.close()


def _retried_under_capture(
    item: T,
    probe_of: Callable[[T], Probe],
    judge_one: Callable[[T, Outcome, float], CheckResult],
    one: Callable[[T], CheckResult],
    failed: CheckResult,
    evidence: Evidence,
    watched: Sequence[str],
) -> CheckResult:
    """``failed`` with the frames of one more try of its probe, and that try's outcome."""
    with Captures([probe_of(item).source_netns, *watched], EVIDENCE_BPF) as captures:
        again = one(item)
        time.sleep(0.05)  # the last frames reach the sniffers
    frames = [(netns, frame) for netns, packets in captures.packets.items() for frame in packets]
    outcome = "passed" if again.ok else "failed again"
    return evidence.keep(failed, frames, note=f"retried under capture: {outcome} ({again.evidence})")


