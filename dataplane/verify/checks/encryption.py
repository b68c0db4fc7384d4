"""Encryption: meshed pods on different nodes never exchange plaintext.

For each sampled pair (source, destination) of enrolled pods on different
nodes, a random plaintext canary is POSTed from the source to the
destination's first HTTP port while every interface of both nodes'
namespaces is captured.  The pair fails when the canary appears in any
frame, when any TCP packet between the two pod addresses uses a port other
than 15008 (HBONE), or when the byte stream on 15008 is not a sequence of
TLS records (content type 20-23, version 0x0303; 0x0301 allowed on a
ClientHello's record, as RFC 8446 §5.1 permits).  VXLAN-wrapped frames
(overlay mode) are judged by their inner packet.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Callable

from scapy.layers.inet import IP, TCP

from dataplane.kernel import netns
from dataplane.kernel.sniff import CapturedPacket, Sniffer
from dataplane.mesh import authz
from dataplane.mesh.enrollment import enrolled_pods
from dataplane.mesh.identity import pod_identity
from dataplane.topology.plan import Plan, Pod
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.result import CheckResult

NAME = "encryption"
HBONE_PORT = 15008
MAX_PAIRS = 10
TIMEOUT = 5.0


def _first_http_port(pod: Pod) -> int | None:
    for container in pod.containers:
        if container.command:
            continue
        for cp in container.ports:
            if cp.protocol == "TCP" and cp.responder == "http":
                return cp.port
    return None


def _allowed(plan: Plan, src: Pod, dst: Pod, port: int) -> bool:
    """Only pairs the AuthorizationPolicies allow: a denied canary is never delivered."""
    identity = pod_identity(plan, src).principal
    return authz.evaluate(plan, dst, authz.Connection(src.ip, identity, dst.ip, port)).allowed


def sample_pairs(plan: Plan, limit: int = MAX_PAIRS) -> list[tuple[Pod, Pod, int]]:
    meshed = sorted(enrolled_pods(plan), key=lambda p: (p.namespace, p.name))
    pairs = []
    for src in meshed:
        for dst in meshed:
            port = _first_http_port(dst)
            if src.node != dst.node and port is not None and _allowed(plan, src, dst, port):
                pairs.append((src, dst, port))
    if len(pairs) <= limit:
        return pairs
    step = len(pairs) / limit
    return [pairs[int(i * step)] for i in range(limit)]


def _label(pod: Pod) -> str:
    return f"{pod.namespace}/{pod.name}"


def send_canary(src: Pod, dst: Pod, port: int, canary: bytes) -> str:
    sock = netns.socket_in(src.netns, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(TIMEOUT)
        sock.connect((dst.ip, port))
        sock.sendall(b"POST /dpctl-verify HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(canary), canary))
        answer = sock.recv(4096)
    return answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")


def _inner(pkt) -> tuple[IP, TCP] | None:  # type: ignore[no-untyped-def]
    """The innermost IP/TCP of a frame (inside VXLAN when wrapped)."""
    layer, found = pkt, None
    while layer is not None and layer.payload is not None and len(layer) > 0:
        if isinstance(layer, IP) and isinstance(layer.payload, TCP):
            found = (layer, layer.payload)
        layer = layer.payload if layer.payload.name != "NoPayload" else None
    return found


def _summary(p: CapturedPacket) -> str:
    try:
        return p.packet.summary()
    except Exception:  # noqa: BLE001
        return f"{len(p.data)} bytes"


def check_pair(src: Pod, dst: Pod, port: int, captured: dict[str, list[CapturedPacket]], canary: bytes) -> list[str]:
    """Every problem seen in the capture, each naming namespace, interface and packet."""
    problems: list[str] = []
    ips = {src.ip, dst.ip}
    streams: dict[tuple[str, int, str, int], dict[int, bytes]] = defaultdict(dict)
    for ns, packets in captured.items():
        for p in packets:
            where = f"{ns} {p.iface} ({p.direction})"
            if canary in p.data:
                problems.append(f"plaintext canary seen in {where}: {_summary(p)}")
                continue
            inner = _inner(p.packet)
            if inner is None:
                continue
            ip, tcp = inner
            if {ip.src, ip.dst} != ips:
                continue
            if HBONE_PORT not in (tcp.sport, tcp.dport):
                problems.append(f"non-HBONE TCP between the pods in {where}: {_summary(p)}")
                continue
            payload = bytes(tcp.payload)
            if payload:
                streams[(ip.src, tcp.sport, ip.dst, tcp.dport)].setdefault(tcp.seq, payload)
    for flow, segments in streams.items():
        bad = _tls_problem(segments)
        if bad:
            problems.append(f"not TLS on {flow[0]}:{flow[1]} -> {flow[2]}:{flow[3]}: {bad}")
    return problems


def _tls_problem(segments: dict[int, bytes]) -> str | None:
    """Walk the reassembled stream record by record; resync after a gap in sequence numbers."""
    pos, need = None, 0  # need: bytes left of the current record
    for seq in sorted(segments):
        data = segments[seq]
        if pos is not None and seq > pos:
            need = 0  # gap: what we missed may have ended the record; expect a header
        elif pos is not None and seq < pos:
            data = data[pos - seq:]  # retransmission overlap
            seq = pos
        i = 0
        if need:
            i = min(need, len(data))
            need -= i
        while i < len(data):
            header = data[i : i + 5]
            # 0x0303 everywhere, but a ClientHello's record may say 0x0301 (RFC 8446 §5.1)
            versions = (b"\x03\x03", b"\x03\x01") if header[0] == 22 else (b"\x03\x03",)
            if header[0] not in (20, 21, 22, 23) or (len(header) >= 3 and header[1:3] not in versions):
                return f"segment seq {seq} offset {i} starts {header.hex()} (no TLS record header)"
            if len(header) < 5:
                break
            length = int.from_bytes(header[3:5], "big")
            end = i + 5 + length
            if end > len(data):
                need = end - len(data)
                i = len(data)
            else:
                i = end
        pos = seq + len(data)
    return None


def run(plan: Plan, progress: Callable[[int, int], None] | None = None, evidence: Evidence = NO_EVIDENCE) -> list[CheckResult]:
    pairs = sample_pairs(plan)
    if not pairs:
        return [CheckResult(NAME, "meshed pod pairs on different nodes", ok=True, skipped=True, reason="skipped: no meshed pods")]
    results = []
    for n, (src, dst, port) in enumerate(pairs, 1):
        results.append(check_pair_live(plan, src, dst, port, evidence))
        if progress:
            progress(n, len(pairs))
    return results


def check_pair_live(plan: Plan, src: Pod, dst: Pod, port: int, evidence: Evidence = NO_EVIDENCE) -> CheckResult:
    """Send a fresh canary from ``src`` to ``dst``:``port`` while both nodes are captured, and judge it."""
    started = time.monotonic()
    subject = f"{_label(src)} -> {_label(dst)}:{port}"
    namespaces = [plan.node(src.node).netns, plan.node(dst.node).netns]
    canary = f"dpctl-canary-{secrets.token_hex(12)}".encode()
    sniffers = [Sniffer(ns) for ns in namespaces]
    answer = ""
    problems: list[str] = []
    try:
        for s in sniffers:
            s.start()
        try:
            answer = send_canary(src, dst, port, canary)
        except OSError as exc:
            problems.append(f"canary could not be sent: {exc}")
        time.sleep(0.05)  # let the last frames reach the sockets
    finally:
        captured = {s.netns: s.stop() for s in sniffers}
    problems += check_pair(src, dst, port, captured, canary)
    problems.sort(key=lambda text: not text.startswith("plaintext canary"))  # the worst first
    total = sum(len(v) for v in captured.values())
    summary = f"{total} frames captured on every interface of {', '.join(namespaces)}; answer: {answer}"
    if problems:
        summary = "; ".join(problems[:5]) + (f"; … {len(problems) - 5} more" if len(problems) > 5 else "")
    result = CheckResult(
        NAME, subject, not problems, problems[0] if problems else "", summary,
        seconds=round(time.monotonic() - started, 3), source=_label(src), destination=f"{_label(dst)}:{port}",
    )
    return evidence.keep(result, ((netns, frame) for netns, frames in captured.items() for frame in frames))
