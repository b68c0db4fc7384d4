"""DNS replies from Route 53 zones, with dnslib doing the packing.

``answer`` is what a resolver in front of Route 53 tells a client: the
records of the zone that holds the name (the longest zone name; where a
private and a public zone share it, the private one, as the VPC resolver
prefers), CNAMEs followed within the served zones, and an ALIAS answered
with the current addresses of its target -- an ELB name, looked up in
``View.aliases``.  Those ELB names are answered too (A records, TTL 60 as
the ELB's own), so a CNAME to an ALB resolves.  A name the zone does not hold
is NXDOMAIN and one without the asked type NODATA, both with the zone's SOA;
a name in no served zone is REFUSED: there is no internet to recurse into.
The ALBs are IPv4-only, so an ALIAS AAAA answers NODATA.

A UDP reply is kept within 512 bytes or the client's EDNS size (at most
1232); a longer one is the question alone with TC set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import dnslib
from dnslib import CLASS, OPCODE, QTYPE, RCODE

from .records import HostedZone, Record, apex

OUTSIDE_RESOLVER = "127.0.0.53"  # the outside client's resolver, on its own loopback (a stub resolver's address)
ELB_TTL = 60
CLASSIC_UDP_SIZE, EDNS_UDP_SIZE, TCP_MESSAGE_SIZE = 512, 1232, 65535
_MAX_CHAIN = 8


@dataclass(frozen=True)
class View:
    """What one resolver answers: these zones, and these ELB names' addresses."""

    zones: tuple[HostedZone, ...]
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def answer(view: View, request: bytes, *, over_udp: bool) -> bytes | None:
    """The reply to ``request``; None for a message that is itself a reply, or unreadable."""
    try:
        query = dnslib.DNSRecord.parse(request)
    except dnslib.DNSError:
        return None
    if query.header.qr:
        return None
    options = [rr for rr in query.ar if rr.rtype == QTYPE.OPT]
    header = dnslib.DNSHeader(id=query.header.id, qr=1, opcode=query.header.opcode, rd=query.header.rd,
                              ra=query.header.rd)
    reply = dnslib.DNSRecord(header, questions=list(query.questions))
    if len(query.questions) != 1 or len(options) > 1:
        reply.header.rcode = RCODE.FORMERR
    elif query.header.opcode != OPCODE.QUERY:
        reply.header.rcode = RCODE.NOTIMP
    else:
        _resolve(view, query.q, reply)
    if options:
        reply.add_ar(dnslib.EDNS0(udp_len=EDNS_UDP_SIZE))
    limit = min(max(options[0].rclass, CLASSIC_UDP_SIZE), EDNS_UDP_SIZE) if options else CLASSIC_UDP_SIZE
    packed = bytes(reply.pack())
    if len(packed) <= (limit if over_udp else TCP_MESSAGE_SIZE):
        return packed
    reply.header.tc = 1
    return bytes(dnslib.DNSRecord(reply.header, questions=reply.questions, ar=options[:1]).pack())


def zone_of(zones: tuple[HostedZone, ...], name: str) -> HostedZone | None:
    """The zone that answers for ``name``: the longest name holding it, a private one first."""
    holding = [z for z in zones if z.holds(name)]
    return max(holding, key=lambda z: (len(z.name), z.private), default=None)


def _resolve(view: View, question: dnslib.DNSQuestion, reply: dnslib.DNSRecord) -> None:
    owner, qtype = str(question.qname), question.qtype
    if question.qclass != CLASS.IN or qtype in (QTYPE.AXFR, QTYPE.IXFR):
        reply.header.rcode = RCODE.REFUSED
        return
    for _ in range(_MAX_CHAIN):
        name = owner.rstrip(".").lower()
        if name in view.aliases:
            if qtype in (QTYPE.A, QTYPE.ANY):
                reply.add_answer(*(_rr(owner, "A", ELB_TTL, a) for a in view.aliases[name]))
            return
        zone = zone_of(view.zones, name)
        if zone is None:
            if not reply.rr:
                reply.header.rcode = RCODE.REFUSED
            return
        records = [r for r in (*apex(zone), *zone.records) if r.name == name]
        if not records and not any(r.name.endswith("." + name) for r in zone.records):
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(_soa(zone))
            return
        cname = next((r for r in records if r.type == "CNAME"), None)
        if cname is not None and qtype not in (QTYPE.CNAME, QTYPE.ANY):
            reply.add_answer(_rr(owner, "CNAME", cname.ttl, cname.values[0]))
            owner = cname.values[0]
            continue
        answers = [rr for r in records if qtype in (QTYPE.ANY, getattr(QTYPE, r.type)) for rr in _rrs(view, owner, r)]
        reply.add_answer(*answers)
        if not answers:
            reply.add_auth(_soa(zone))
        return


def _rrs(view: View, owner: str, record: Record) -> list[dnslib.RR]:
    if record.alias is not None:  # an ALIAS answers as its target does, with the target's TTL
        addresses = view.aliases.get(record.alias, ()) if record.type == "A" else ()
        return [_rr(owner, "A", ELB_TTL, a) for a in addresses]
    return [_rr(owner, record.type, record.ttl, value) for value in record.values]


def _soa(zone: HostedZone) -> dnslib.RR:
    soa, _ = apex(zone)
    return _rr(zone.name, "SOA", soa.ttl, soa.values[0])


def _rr(owner: str, kind: str, ttl: int | None, value: str) -> dnslib.RR:
    return dnslib.RR(owner, getattr(QTYPE, kind), rdata=_rdata(kind, value), ttl=ttl or 0)


def _rdata(kind: str, value: str) -> dnslib.RD:
    if kind == "A":
        return dnslib.A(value)
    if kind == "AAAA":
        return dnslib.AAAA(value)
    if kind == "TXT":
        return dnslib.TXT(value.strip('"'))
    if kind == "SOA":
        mname, rname, *times = value.split()
        return dnslib.SOA(mname, rname, tuple(int(t) for t in times))
    if kind in ("CNAME", "NS"):
        return getattr(dnslib, kind)(value)
    raise ValueError(f"no DNS record type {kind!r}")
