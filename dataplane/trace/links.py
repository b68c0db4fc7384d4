"""What a live connection put on each node link, flow by flow.

The CLI captures every interface of the nodes a mesh trace crosses and hands
each TCP segment over as a ``Segment`` (a VXLAN frame as its inner packet);
this module keeps the ones between the workloads of the trace, groups them
per (namespace, interface, connection) and says what they carried: TLS
records (HBONE is TLS 1.3 to 15008), plaintext HTTP, other bytes.  A SYN
towards a 15008 tells a new HBONE connection from a pooled one (``tunnel_state``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from dataplane.mesh.constants import HBONE_PORT

_HTTP_STARTS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"HTTP/1.", b"PRI * HTTP/2")


@dataclass(frozen=True)
class Segment:
    netns: str
    iface: str
    direction: str  # in | out
    src: str
    sport: int
    dst: str
    dport: int
    flags: str  # TCP flags as Scapy writes them: "S", "SA", "PA", ...
    payload: bytes  # the first bytes of the TCP payload (enough to classify it)
    length: int  # the payload's length
    vxlan: bool = False  # seen inside a VXLAN frame


@dataclass(frozen=True)
class LinkFlow:
    """One connection as one interface of one namespace saw it."""

    netns: str
    iface: str
    source: str  # ip:port of the side that spoke first here (the SYN's sender when seen)
    destination: str
    packets: int
    payload_bytes: int
    opened: bool  # its SYN was seen
    content: str  # TLS | plaintext HTTP | plaintext | no payload
    vxlan: bool


def content_of(payload: bytes) -> str:
    if not payload:
        return ""
    if payload[0] in (20, 21, 22, 23) and payload[1:2] == b"\x03":
        return "TLS"
    if payload.startswith(_HTTP_STARTS):
        return "plaintext HTTP"
    return "plaintext"


def relevant(segment: Segment, addresses: Collection[str], ports: Collection[int]) -> bool:
    """Between two of the trace's workloads and on one of its ports (15008 or an application port)."""
    return (
        segment.src in addresses and segment.dst in addresses and (segment.sport in ports or segment.dport in ports)
    )


@dataclass
class _Tally:
    source: str
    destination: str
    vxlan: bool
    packets: int = 0
    payload_bytes: int = 0
    opened: bool = False
    content: str = ""


def summarize(segments: Iterable[Segment], server_ports: Collection[int] = (HBONE_PORT,)) -> list[LinkFlow]:
    """One row per interface and connection, in the order they were first seen, written
    client -> server: the SYN's way when it was seen, else towards one of ``server_ports``."""
    rows: dict[tuple[str, str, frozenset[tuple[str, int]]], _Tally] = {}
    for s in segments:
        key = (s.netns, s.iface, frozenset({(s.src, s.sport), (s.dst, s.dport)}))
        ends = [f"{s.src}:{s.sport}", f"{s.dst}:{s.dport}"]
        if s.sport in server_ports and s.dport not in server_ports:
            ends.reverse()
        row = rows.setdefault(key, _Tally(ends[0], ends[1], s.vxlan))
        if s.flags == "S":
            row.source, row.destination, row.opened = f"{s.src}:{s.sport}", f"{s.dst}:{s.dport}", True
        row.packets += 1
        row.payload_bytes += s.length
        row.content = row.content or content_of(s.payload)
    return [
        LinkFlow(netns, iface, r.source, r.destination, r.packets, r.payload_bytes, r.opened,
                 r.content or "no payload", r.vxlan)
        for (netns, iface, _), r in rows.items()
    ]


def tunnel_state(segments: Iterable[Segment], client: str, peer: str) -> str:
    """``new`` when a SYN from ``client`` to ``peer``:15008 was seen, ``pooled`` when only
    data was, ``unseen`` when nothing between them was."""
    between = [s for s in segments if {s.src, s.dst} == {client, peer} and HBONE_PORT in (s.sport, s.dport)]
    if any(s.flags == "S" and s.src == client for s in between):
        return "new"
    return "pooled" if between else "unseen"


def label(flow: LinkFlow, netns_labels: Mapping[str, str], iface_labels: Mapping[str, str]) -> str:
    """``node n1 pv0123abcd (default/curl)``: the namespace and the interface in the plan's names."""
    iface = flow.iface + (f" ({iface_labels[flow.iface]})" if flow.iface in iface_labels else "")
    return f"{netns_labels.get(flow.netns, flow.netns)} {iface}"
