"""Passes from every namespace -> the probe's hops, in path order, and a verdict.

Which passes are the probe's request: the probe's first packet is the first
one the source namespace sent from the probe's port, and its IP id travels
unchanged through forwarding, DNAT, masquerade and VXLAN, so every pass of a
packet with that id (and not coming back from the far end) is a hop of the
request.  The reply is found the same way from the first packet the
destination sent back.  Hops
are ordered by the TTL they arrived with (each forwarding namespace takes one
off); a namespace's own ``output`` comes before anything it receives.

From each pass: the interfaces, the headers on entry and on exit (or on
delivery), the rules that matched in any table but the tracing one, and the
outcome.  ``steps`` is the readable summary of those rules: the chains jumped
to, minus the dispatch chains every packet meets, and the actions taken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dataplane.trace.events import Event, Packet
from dataplane.trace.passes import Pass, split

# Chains every new packet passes through on its way to a decision; listing
# them would hide the service and endpoint chains that tell the story.
DISPATCH_CHAINS = frozenset(
    {
        "services",
        "masquerading",
        "service-endpoints-check",
        "nodeport-endpoints-check",
        "cluster-ips-check",
        "firewall-check",
    }
)
MASQUERADE_MARK = re.compile(r"meta mark set meta mark \| 0x0*4000\b")
_DNAT = re.compile(r"\bdnat (?:ip )?to (\S+)")
_ADDRESS_PORT = re.compile(r"^\d+\.\d+\.\d+\.\d+(?::\d+)?$")
# Whole words only: "goto reject-chain" and "jump masquerading" are neither.
_REJECT = re.compile(r"(?<![\w-])reject(?![\w-])")
_MASQUERADE = re.compile(r"(?<![\w-])masquerade(?![\w-])")
_VMAP = re.compile(r"\bvmap (@\S+)")


def rejects(rule: str, verdict: str) -> bool:
    """A reject statement ended the packet (nft reports a reject as verdict drop)."""
    return verdict == "drop" and bool(_REJECT.search(rule))


@dataclass(frozen=True)
class Flow:
    """A packet's addresses and ports at one point of its way."""

    src: str
    sport: int | None
    dst: str
    dport: int | None

    @classmethod
    def of(cls, packet: Packet) -> Flow:
        return cls(packet.saddr, packet.sport, packet.daddr, packet.dport)

    @staticmethod
    def _end(ip: str, port: int | None) -> str:
        return ip if port is None else f"{ip}:{port}"

    @property
    def source(self) -> str:
        return self._end(self.src, self.sport)

    @property
    def destination(self) -> str:
        return self._end(self.dst, self.dport)

    def __str__(self) -> str:
        return f"{self.source} -> {self.destination}"


@dataclass(frozen=True)
class RuleHit:
    table: str
    chain: str
    rule: str  # the rule's text, or "policy" for a base chain's policy
    verdict: str


@dataclass(frozen=True)
class Hop:
    direction: str  # request | reply
    netns: str
    hook: str  # prerouting (arrived) | output (sent from here)
    iif: str | None
    oif: str | None
    before: Flow
    after: Flow
    ttl: int
    rules: tuple[RuleHit, ...]
    steps: tuple[str, ...]
    outcome: str  # sent | forwarded | bridged | delivered | rejected | dropped | vanished

    @property
    def rewrites(self) -> tuple[str, ...]:
        """Address changes made here.  On the reply they undo the request's:
        conntrack rewrites the source back from the endpoint to the address
        the client asked for (un-DNAT) and the destination back from the
        masquerade address to the client (un-SNAT)."""
        reply = self.direction == "reply"
        changes = []
        if (self.after.dst, self.after.dport) != (self.before.dst, self.before.dport):
            changes.append(f"{'un-SNAT' if reply else 'DNAT'} {self.after.destination}")
        if (self.after.src, self.after.sport) != (self.before.src, self.before.sport):
            changes.append(f"{'un-DNAT' if reply else 'SNAT'} {self.after.source}")
        return tuple(changes)


@dataclass(frozen=True)
class Verdict:
    kind: str  # delivered | rejected | dropped | vanished (never left) | lost (left, seen nowhere next) | unseen
    netns: str | None  # where it was delivered, rejected, dropped or last seen
    address: str | None  # delivered: the address:port reached
    rule: RuleHit | None  # rejected or dropped: the rule that did it
    via: str | None = None  # the verdict map that sent the packet there (e.g. @no-endpoint-services)


def _target(verdict: str) -> str | None:
    kind, _, target = verdict.partition(" ")
    return target if kind in ("jump", "goto") and target else None


def steps_of(events: Sequence[Event], rewritten_to: str) -> tuple[str, ...]:
    """The chains entered and the actions taken, in order.  A DNAT whose
    target is chosen by an expression (``numgen ... map``) is shown with the
    destination the packet really got, ``rewritten_to``."""
    steps: list[str] = []
    for event in events:
        rule, verdict = event.rule or "", event.verdict or ""
        target = _target(verdict)
        if target and target not in DISPATCH_CHAINS:
            steps.append(target)
        if MASQUERADE_MARK.search(rule) and event.chain != "mark-for-masquerade":
            steps.append("mark-for-masquerade")
        if dnat := _DNAT.search(rule):
            literal = dnat.group(1)
            action = f"dnat to {literal if _ADDRESS_PORT.match(literal) else rewritten_to}"
            # Shown with the chain that did it (the endpoint chain), if it is listed.
            at = max((i for i, step in enumerate(steps) if step == event.chain), default=None)
            if at is None:
                steps.append(action)
            else:
                steps[at] += f" ({action})"
        if _MASQUERADE.search(rule) and verdict == "accept":
            steps.append("masquerade")
        if rejects(rule, verdict):
            steps.append("reject")
        elif verdict == "drop":
            steps.append(f"drop in {event.chain}")
    return tuple(steps)


def _outcome(one: Pass) -> str:
    events = one.rule_events()
    if any(rejects(e.rule or "", e.verdict or "") for e in events):
        return "rejected"
    if any(e.verdict == "drop" for e in events):
        return "dropped"
    if one.delivered is not None:
        return "delivered"
    if one.exit is None:
        return "vanished"
    if one.hook == "output":
        return "sent"
    # A bridge with bridge-nf-call-iptables shows frames to the IP hooks
    # without routing them: no TTL taken off.
    return "bridged" if one.exit.ttl == one.entry.ttl else "forwarded"


def hop_of(one: Pass, direction: str) -> Hop:
    entry = one.entry
    leaving = one.delivered or one.exit or one.last_packet()
    events = one.rule_events()
    return Hop(
        direction=direction,
        netns=one.netns,
        hook=one.hook,
        iif=entry.iif,
        oif=one.exit.oif if one.exit else entry.oif,
        before=Flow.of(entry),
        after=Flow.of(leaving),
        ttl=entry.ttl,
        rules=tuple(RuleHit(e.table, e.chain, e.rule or "policy", e.verdict or "") for e in events),
        steps=steps_of(events, Flow.of(leaving).destination),
        outcome=_outcome(one),
    )


def _path_order(one: Pass) -> tuple[int, int, int, int]:
    """Higher arriving TTL first; at equal TTL a namespace's own output first,
    then one that passed the packet on without taking TTL off (a bridge) before
    one that routed or delivered it."""
    leaving_ttl = one.exit.ttl if one.exit is not None else -1
    return (-one.entry.ttl, 0 if one.hook == "output" else 1, -leaving_ttl, one.index)


@dataclass(frozen=True)
class Probe:
    """What the assembly needs to know about the probe."""

    src_netns: str
    sport: int
    proto: str
    peers: frozenset[tuple[str, int]]  # the destination and every endpoint it may be DNATed to


def _is_reply(packet: Packet, probe: Probe) -> bool:
    if packet.proto != probe.proto:
        return False
    return packet.dport == probe.sport or (packet.saddr, packet.sport) in probe.peers


def _same_packet(passes: Sequence[Pass], ip_id: int) -> list[Pass]:
    """The passes of the packet with ``ip_id``: one per hook and arriving TTL,
    since a packet may cross a namespace twice (a router bridging it, then
    routing it back), always with a different TTL, while a later packet that
    happens to carry the same id (replies often have id 0) repeats one."""
    chosen: dict[tuple[str, int], Pass] = {}
    for one in passes:
        if one.entry.ip_id == ip_id:
            chosen.setdefault((one.hook, one.entry.ttl), one)
    return list(chosen.values())


def assemble(lines: Mapping[str, Sequence[str]], probe: Probe) -> tuple[list[Hop], Verdict]:
    """The request's hops, then the reply's, and what became of the request."""
    by_netns = {name: split(name, text) for name, text in lines.items()}
    requests = {
        name: [p for p in passes if p.entry.proto == probe.proto and not _is_reply(p.entry, probe)]
        for name, passes in by_netns.items()
    }
    replies = {name: [p for p in passes if _is_reply(p.entry, probe)] for name, passes in by_netns.items()}
    first = next(
        (p for p in requests.get(probe.src_netns, []) if p.hook == "output" and p.entry.sport == probe.sport), None
    )
    if first is None:
        return [], Verdict("unseen", probe.src_netns, None, None)
    request = [p for passes in requests.values() for p in _same_packet(passes, first.entry.ip_id)]
    hops = [hop_of(p, "request") for p in sorted(request, key=_path_order)]
    verdict = verdict_of(hops)
    # The reply starts where the request was delivered; failing that, it is
    # the first answer the source received.
    origin = next((p for p in replies.get(verdict.netns or "", []) if p.hook == "output"), None) or next(
        (p for p in replies.get(probe.src_netns, []) if p.hook == "prerouting"), None
    )
    if origin is not None:
        reply = [p for passes in replies.values() for p in _same_packet(passes, origin.entry.ip_id)]
        hops += [hop_of(p, "reply") for p in sorted(reply, key=_path_order)]
    return hops, verdict


def _via(rules: Sequence[RuleHit]) -> str | None:
    """The verdict map that decided: looked up by the last rule, or by the rule
    that jumped into the last rule's chain."""
    last = rules[-1]
    for rule in (last, *(r for r in reversed(rules[:-1]) if _target(r.verdict) == last.chain)):
        if found := _VMAP.search(rule.rule):
            return found.group(1)
    return None


def verdict_of(request: Sequence[Hop]) -> Verdict:
    """The first hop that rejected or dropped the request decides; otherwise
    the last one: delivered there, stuck there, or gone out of sight."""
    for hop in request:
        if hop.outcome in ("rejected", "dropped"):
            at = next(i for i, r in enumerate(hop.rules) if r.verdict == "drop")
            return Verdict(hop.outcome, hop.netns, None, hop.rules[at], _via(hop.rules[: at + 1]))
    last = request[-1]
    if last.outcome in ("delivered", "vanished"):
        return Verdict(last.outcome, last.netns, last.after.destination if last.outcome == "delivered" else None, None)
    return Verdict("lost", last.netns, None, None)
