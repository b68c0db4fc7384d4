"""A namespace's monitor lines -> passes: one packet's way through one namespace.

The kernel derives a trace id from the packet buffer, its hash and its input
interface, so ids are reused by later packets, events of concurrent packets
interleave, and one packet can change id on its way through a namespace (a
routed bridge does it between prerouting and postrouting).  A pass starts
where the tracing table marks a packet on entry (``prerouting`` or
``output``) and collects every later event with the same id until the id
starts a new pass.  A packet line under an id no pass owns is the same
packet at a later hook: it joins the newest unfinished pass whose packet has
the same IP id (which no NAT changes), preferring one with the same
addresses and ports.  Packet lines show the headers at each base chain, so
entry and exit give the rewrites made inside the namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dataplane.trace.events import Event, Packet, parse_line
from dataplane.trace.ruleset import MARK_HOOKS, TABLE


@dataclass
class Pass:
    netns: str
    index: int  # order of its first line within the namespace's stream
    trace_id: str
    events: list[Event] = field(default_factory=list)

    @property
    def entry(self) -> Packet:
        packet = self.events[0].packet
        assert packet is not None  # a pass starts at a packet line
        return packet

    @property
    def hook(self) -> str:
        """``prerouting`` (arrived) or ``output`` (sent by this namespace)."""
        return self.events[0].chain

    def _watched(self, chain: str) -> Packet | None:
        return next(
            (e.packet for e in self.events if e.kind == "packet" and e.table == TABLE and e.chain == chain), None
        )

    @property
    def exit(self) -> Packet | None:
        """The packet leaving the namespace (postrouting, after every NAT)."""
        return self._watched("postrouting")

    @property
    def delivered(self) -> Packet | None:
        """The packet handed to a local socket of this namespace (input hook)."""
        return self._watched("input")

    def last_packet(self) -> Packet:
        return [e.packet for e in self.events if e.packet is not None][-1]

    @property
    def finished(self) -> bool:
        return self.exit is not None or self.delivered is not None

    def rule_events(self) -> list[Event]:
        """Rules and policies of every table but the tracing one."""
        return [e for e in self.events if e.kind in ("rule", "policy") and e.table != TABLE]


def _same_flow(a: Packet, b: Packet) -> bool:
    return (a.saddr, a.sport, a.daddr, a.dport) == (b.saddr, b.sport, b.daddr, b.dport)


def _owner(passes: list[Pass], packet: Packet) -> Pass | None:
    """The unfinished pass a packet line under a new trace id continues."""
    candidates = [
        p
        for p in reversed(passes)
        if not p.finished and p.entry.ip_id == packet.ip_id and p.entry.proto == packet.proto
    ]
    return next((p for p in candidates if _same_flow(p.last_packet(), packet)), None) or next(iter(candidates), None)


def split(netns: str, lines: Iterable[str]) -> list[Pass]:
    """The passes in one namespace's monitor output, in stream order."""
    passes: list[Pass] = []
    by_id: dict[str, Pass] = {}
    for line in lines:
        event = parse_line(line)
        if event is None:
            continue
        if event.kind == "packet" and event.table == TABLE and event.chain in MARK_HOOKS:
            by_id[event.trace_id] = Pass(netns, len(passes), event.trace_id)
            passes.append(by_id[event.trace_id])
        elif event.kind == "packet" and event.packet is not None and event.trace_id not in by_id:
            owner = _owner(passes, event.packet)
            if owner is not None:
                by_id[event.trace_id] = owner
        current = by_id.get(event.trace_id)
        if current is not None:
            current.events.append(event)
    return passes
