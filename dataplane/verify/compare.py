"""Expected hops against the sightings of one packet: equal, or the first difference.

The sightings are in time order.  They must match the expected hops one for
one: same namespace, interface and direction, the VXLAN wrapping where the
plan puts it, a source among the expected ones and exactly the expected
destination address and port.  The report names the first hop that differs
(expected vs seen), a hop that never showed up, or one the plan has no
place for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dataplane.verify.hops import Hop
from dataplane.verify.wire import Sighting


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # the first difference; "" when ok
    matched: int  # hops that matched before the first difference


def describe(s: Sighting, places: Mapping[str, str]) -> str:
    """A sighting the way a hop is written: ``node a1 eth0 out (src -> dst:port)``."""
    return f"{places.get(s.netns, s.netns)} {s.iface} {s.direction} ({s.addresses()})"


def _same_place(hop: Hop, s: Sighting) -> bool:
    return (hop.netns, hop.iface, hop.direction) == (s.netns, s.iface, s.direction)


def _same_header(hop: Hop, s: Sighting) -> bool:
    a = hop.addresses
    return s.src in a.src and (s.dst, s.dport) == (a.dst, a.dport) and s.vxlan == hop.vxlan


def compare(expected: Sequence[Hop], seen: Sequence[Sighting], places: Mapping[str, str]) -> Verdict:
    for i, hop in enumerate(expected):
        if i >= len(seen):
            last = f"; last seen at {describe(seen[-1], places)}" if seen else "; never seen anywhere"
            return Verdict(False, f"hop {i + 1} missing: expected {hop.text()}{last}", i)
        s = seen[i]
        if not _same_place(hop, s):
            return Verdict(False, f"hop {i + 1}: expected {hop.text()}, seen {describe(s, places)}", i)
        if not _same_header(hop, s):
            return Verdict(False, f"hop {i + 1} at {hop.place}: expected {hop.text()}, seen {describe(s, places)}", i)
    if len(seen) > len(expected):
        extra = seen[len(expected)]
        return Verdict(
            False, f"hop {len(expected) + 1} unexpected: seen {describe(extra, places)} after the last expected hop",
            len(expected),
        )
    return Verdict(True, "", len(expected))


def best(alternatives: Sequence[Sequence[Hop]], seen: Sequence[Sighting], places: Mapping[str, str]) -> Verdict:
    """Pass when any alternative matches (a Service may pick any endpoint); else
    the verdict of the one that matched longest, so the report names where the
    packet left every acceptable way."""
    verdicts = [compare(hops, seen, places) for hops in alternatives]
    passed = next((v for v in verdicts if v.ok), None)
    if passed is not None:
        return passed
    if not verdicts:
        return Verdict(False, "no expected path", 0)
    return max(verdicts, key=lambda v: v.matched)
