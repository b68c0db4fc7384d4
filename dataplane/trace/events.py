"""One ``nft monitor trace`` line -> one event.

nft prints each trace event as ``trace id <id> <family> <table> <chain>``
followed by one of: ``packet: <headers>`` (the packet as the base chain saw
it on entry -- the kernel adds the headers once per base chain), ``rule
<text> (verdict <v>)``, ``policy <v>`` or another verdict.  Only the fields
the hop assembly needs are taken from the headers; the line itself is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(r"^trace id (?P<id>[0-9a-f]+) (?P<family>\S+) (?P<table>\S+) (?P<chain>\S+) (?P<rest>.*)$")
_RULE = re.compile(r"^rule (?P<rule>.*) \(verdict (?P<verdict>[^)]*)\)\s*$")
_IFACE = {key: re.compile(rf'\b{key} "(?P<v>[^"]*)"') for key in ("iif", "oif")}
_IP_FIELD = {key: re.compile(rf"\bip {key} (?P<v>\S+)") for key in ("saddr", "daddr", "ttl", "id")}
_PORTS = re.compile(r"\b(?P<proto>tcp|udp|sctp) sport (?P<sport>\d+) (?P=proto) dport (?P<dport>\d+)")
_TCP_FLAGS = re.compile(r"\btcp flags == (?P<v>\S+)")


@dataclass(frozen=True)
class Packet:
    """The headers of a traced packet at one base chain."""

    iif: str | None
    oif: str | None
    saddr: str
    daddr: str
    proto: str | None  # tcp | udp | sctp; None for anything without ports
    sport: int | None
    dport: int | None
    ttl: int
    ip_id: int
    tcp_flags: str | None


@dataclass(frozen=True)
class Event:
    """One monitor line: which chain, and either a packet, a rule or a policy."""

    trace_id: str
    family: str
    table: str
    chain: str
    kind: str  # packet | rule | policy | other
    packet: Packet | None = None
    rule: str | None = None
    verdict: str | None = None  # "accept", "drop", "jump X", "goto X", "continue", "return"
    raw: str = ""


def _field(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group("v") if match else None


def parse_packet(text: str) -> Packet | None:
    """The headers after ``packet:``; None when nft printed no IPv4 header."""
    saddr, daddr = _field(_IP_FIELD["saddr"], text), _field(_IP_FIELD["daddr"], text)
    if saddr is None or daddr is None:
        return None
    ports = _PORTS.search(text)
    return Packet(
        iif=_field(_IFACE["iif"], text),
        oif=_field(_IFACE["oif"], text),
        saddr=saddr,
        daddr=daddr,
        proto=ports.group("proto") if ports else None,
        sport=int(ports.group("sport")) if ports else None,
        dport=int(ports.group("dport")) if ports else None,
        ttl=int(_field(_IP_FIELD["ttl"], text) or 0),
        ip_id=int(_field(_IP_FIELD["id"], text) or 0),
        tcp_flags=_field(_TCP_FLAGS, text),
    )


def parse_line(line: str) -> Event | None:
    """The event of one monitor line; None for anything that is not a trace event."""
    line = line.rstrip()
    header = _HEADER.match(line)
    if header is None:
        return None
    rest = header.group("rest")
    kind, packet, rule, verdict = "other", None, None, None
    if rest.startswith("packet: "):
        packet = parse_packet(rest[len("packet: ") :])
        kind = "other" if packet is None else "packet"
    elif found := _RULE.match(rest):
        kind, rule, verdict = "rule", found.group("rule"), found.group("verdict")
    elif rest.startswith("policy "):
        kind, verdict = "policy", rest.split()[1]
    return Event(
        trace_id=header.group("id"),
        family=header.group("family"),
        table=header.group("table"),
        chain=header.group("chain"),
        kind=kind,
        packet=packet,
        rule=rule,
        verdict=verdict,
        raw=line,
    )
