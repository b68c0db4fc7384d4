"""``dpctl trace --live``: what one real connection did, next to what the trace predicted.

The prediction keeps every branch; the live connection took one.  The
proxies' own access-log lines say which (the waypoint's upstream host, the
ztunnel's destination workload), the node links show the bytes (TLS to 15008
between nodes, plaintext only inside a pod's own namespace), and a SYN to a
15008 during the connection tells a new HBONE connection from a pooled one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dataplane.trace.accesslogs import EnvoyLine, ZtunnelLine
from dataplane.trace.links import LinkFlow, label

_POD = re.compile(rb'"pod"\s*:\s*"([^"]+)"')
_ZTUNNEL_FIELDS = ("src.addr", "src.identity", "dst.addr", "dst.hbone_addr", "dst.service", "dst.workload",
                   "dst.identity", "bytes_sent", "bytes_recv", "error")


@dataclass(frozen=True)
class LiveResult:
    client: str  # ip:port of the live socket
    request: str  # what was sent
    outcome: str  # the status line, or what became of the connection
    answered_by: str  # the pod the built-in responder named in its answer ("" unknown)
    seconds: float
    tunnels: tuple[tuple[str, str], ...]  # (hop, new | pooled | unseen)
    logs: tuple[ZtunnelLine | EnvoyLine, ...]
    flows: tuple[LinkFlow, ...]


def http_answer(answer: bytes) -> tuple[str, str]:
    """The status line of an HTTP answer and the pod a built-in responder named in its body."""
    head = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    found = _POD.search(answer)
    return head, found.group(1).decode(errors="replace") if found else ""


def picked(logs: tuple[ZtunnelLine | EnvoyLine, ...], pods_by_ip: Mapping[str, str]) -> list[str]:
    """What the proxies chose, in their own words: the waypoint's upstream, the ztunnel's workload."""
    said = []
    for line in logs:
        if isinstance(line, EnvoyLine) and line.endpoint:
            pod = pods_by_ip.get(line.endpoint.rpartition(":")[0], "?")
            said.append(f"the waypoint sent {line.method} {line.path} to {line.endpoint} ({pod}), cluster {line.cluster}")
        elif isinstance(line, EnvoyLine):
            said.append(f"the waypoint answered {line.code} {line.flags} {line.details} itself")
        elif line.direction == "outbound" and "dst.workload" in line.fields:
            workload = "/".join(line.fields[k] for k in ("dst.namespace", "dst.workload") if k in line.fields)
            said.append(f"the source ztunnel sent it to {workload} via {line.fields.get('dst.addr', '?')}")
    return said


def _log_text(line: ZtunnelLine | EnvoyLine) -> str:
    if isinstance(line, EnvoyLine):
        return f"node {line.node} waypoint: {line.raw}"
    fields = " ".join(f"{k}={line.fields[k]}" for k in _ZTUNNEL_FIELDS if k in line.fields)
    return f"node {line.node} ztunnel {line.direction}: {fields}"


def lines(live: LiveResult, pods_by_ip: Mapping[str, str], netns_labels: Mapping[str, str],
          iface_labels: Mapping[str, str]) -> list[str]:
    by = f", answered by {live.answered_by}" if live.answered_by else ""
    out = [f"live: {live.request} from {live.client}: {live.outcome}{by} ({live.seconds * 1000:.1f} ms)"]
    out += [f"   chose: {said}" for said in picked(live.logs, pods_by_ip)]
    out += [f"   {hop}: {state}" + {"new": " (its TCP handshake was seen)",
                                    "pooled": " (no handshake: an open connection carried the stream)",
                                    "unseen": " (no packet of it on the captured links)"}[state]
            for hop, state in live.tunnels]
    out.append("   access log:" if live.logs else "   access log: no line of this connection found")
    out += [f"      {_log_text(line)}" for line in live.logs]
    if not any(isinstance(x, ZtunnelLine) and x.direction == "inbound" for x in live.logs):
        out.append("      (no inbound line yet: a ztunnel writes it when the tunnel closes, and a waypoint keeps its "
                   "upstream connections open)")
    out.append("   packets on the node links:" if live.flows else "   packets on the node links: none seen")
    for flow in live.flows:
        opened = ", SYN seen" if flow.opened else ""
        vxlan = ", in VXLAN" if flow.vxlan else ""
        out.append(f"      {label(flow, netns_labels, iface_labels)}: {flow.source} -> {flow.destination} "
                   f"{flow.content}, {flow.packets} packets, {flow.payload_bytes} payload bytes{opened}{vxlan}")
    return out


def as_dict(live: LiveResult) -> dict[str, Any]:
    found = dataclasses.asdict(live)
    found["logs"] = [line.raw for line in live.logs]
    return found
