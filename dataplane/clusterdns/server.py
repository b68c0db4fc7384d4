"""Answering DNS messages from the cluster zone, with dnslib doing all the packing.

``answer`` turns one request message into one reply message; the caller owns
the transport (a UDP datagram, or a TCP message framed by its 2-byte length).

What it answers, as CoreDNS's ``kubernetes`` plugin does for its zone:

* names in the cluster domain authoritatively (AA): the records of the
  requested type; NOERROR with no answer (NODATA) for a name that exists
  without them, so AAAA of every name, the cluster being IPv4-only; NXDOMAIN
  for a name that does not exist; both with the zone's SOA in the authority
  section, which lets resolvers cache the negative answer;
* a CNAME (an ExternalName Service) for any type, followed while its target
  is in the zone; a target outside it is left to the client's resolver;
* the reverse names of cluster addresses (PTR).

Names outside all that get REFUSED: a real CoreDNS forwards them to the
node's resolver, but there is no upstream here, and an empty NXDOMAIN would
claim that a real name does not exist.  Recursion is never offered (RA is
clear, as on CoreDNS's own answers for the cluster zone).

A UDP reply is kept within 512 bytes, or within the size the client
announced with EDNS (at most 1232, DNS Flag Day 2020's size that never needs
IP fragments); a longer one is sent as the question alone with TC set, and
the client repeats the query over TCP.
"""

from __future__ import annotations

import random

import dnslib
from dnslib import CLASS, OPCODE, QTYPE, RCODE

from dataplane.clusterdns import zone as z

CLASSIC_UDP_SIZE = 512
EDNS_UDP_SIZE = 1232  # the most we send over UDP, and what we announce we accept
TCP_MESSAGE_SIZE = 65535  # the 2-byte length prefix cannot say more
EDNS_VERSION = 0
_BADVERS = 16  # extended RCODE: upper 8 bits in the OPT record, lower 4 in the header
_MAX_CHAIN = 8  # CNAMEs followed before giving up on a loop
_NO_TRANSFER = (QTYPE.AXFR, QTYPE.IXFR)


def answer(zone: z.Zone, request: bytes, *, over_udp: bool) -> bytes | None:
    """The reply to ``request``, or None when nothing should be sent back.

    Nothing is sent for a message that is a reply itself (answering those
    would let two servers loop) or too short to carry a message ID.
    """
    try:
        query = dnslib.DNSRecord.parse(request)
    except dnslib.DNSError:
        return _format_error(request)
    if query.header.qr:
        return None
    options = [rr for rr in query.ar if rr.rtype == QTYPE.OPT]
    reply = _reply_header(query)
    extended_rcode = 0
    if len(options) > 1 or len(query.questions) != 1:
        reply.header.rcode = RCODE.FORMERR
    elif options and (options[0].ttl >> 16) & 0xFF != EDNS_VERSION:
        extended_rcode = _BADVERS >> 4
    elif query.header.opcode != OPCODE.QUERY:
        reply.header.rcode = RCODE.NOTIMP
    else:
        _resolve(zone, query.q, reply)
    if options:  # RFC 6891: a query with EDNS gets a reply with EDNS
        reply.add_ar(dnslib.EDNS0(udp_len=EDNS_UDP_SIZE, ext_rcode=extended_rcode))
    return _fit(reply, _udp_limit(options) if over_udp else TCP_MESSAGE_SIZE)


def _udp_limit(options: list[dnslib.RR]) -> int:
    """512 bytes, or the size the client announced with EDNS, kept within 512..1232."""
    if not options:
        return CLASSIC_UDP_SIZE
    return int(min(max(options[0].rclass, CLASSIC_UDP_SIZE), EDNS_UDP_SIZE))


def _reply_header(query: dnslib.DNSRecord) -> dnslib.DNSRecord:
    """A reply carrying the query's ID, opcode, RD and CD bits and its question."""
    header = dnslib.DNSHeader(
        id=query.header.id, qr=1, opcode=query.header.opcode, rd=query.header.rd, cd=query.header.cd, ra=0
    )
    return dnslib.DNSRecord(header, questions=list(query.questions))


def _format_error(request: bytes) -> bytes | None:
    """FORMERR for a message whose header can be read but whose body cannot."""
    try:
        header = dnslib.DNSHeader.parse(dnslib.DNSBuffer(request))
    except dnslib.DNSError:
        return None
    if header.qr:
        return None
    reply = dnslib.DNSHeader(id=header.id, qr=1, opcode=header.opcode, rd=header.rd, rcode=RCODE.FORMERR)
    return bytes(dnslib.DNSRecord(reply).pack())


def _resolve(zone: z.Zone, question: dnslib.DNSQuestion, reply: dnslib.DNSRecord) -> None:
    """Fill ``reply`` with the answer to ``question``, following CNAMEs inside the zone."""
    owner = str(question.qname)  # the answer repeats the name as asked, in its case
    name = _key(owner)
    if question.qclass != CLASS.IN or question.qtype in _NO_TRANSFER or not zone.is_authoritative(name):
        reply.header.rcode = RCODE.REFUSED
        return
    reply.header.aa = 1
    seen: set[str] = set()
    while True:
        if not zone.exists(name):
            reply.header.rcode = RCODE.NXDOMAIN
            _add_soa(zone, name, reply)
            return
        records = zone.records.get(name, ())
        alias = next((r for r in records if isinstance(r, z.CNAME)), None)
        if alias is None or question.qtype in (QTYPE.CNAME, QTYPE.ANY):
            break
        reply.add_answer(_rr(zone, owner, alias))
        seen.add(name)
        owner, name = alias.target, _key(alias.target)
        if name in seen or len(seen) >= _MAX_CHAIN or not zone.is_authoritative(name):
            return
    matching = [r for r in records if question.qtype in (QTYPE.ANY, _qtype(r))]
    if not matching:
        _add_soa(zone, name, reply)
        return
    if question.qtype == QTYPE.A:
        random.shuffle(matching)  # as kubeadm's Corefile does with its loadbalance plugin
    reply.add_answer(*(_rr(zone, owner, r) for r in matching))
    reply.add_ar(*_glue(zone, matching))


def _glue(zone: z.Zone, records: list[z.Rdata]) -> list[dnslib.RR]:
    """The addresses of the SRV and NS targets, which the client would ask for next."""
    targets = [r.target for r in records if isinstance(r, z.SRV | z.NS)]
    return [
        _rr(zone, target, r)
        for target in dict.fromkeys(targets)
        for r in zone.records.get(target, ())
        if isinstance(r, z.A)
    ]


def _add_soa(zone: z.Zone, name: str, reply: dnslib.DNSRecord) -> None:
    """The SOA that makes a negative answer cacheable; reverse names have no apex of ours."""
    if name == zone.domain or name.endswith("." + zone.domain):
        reply.add_auth(_rr(zone, zone.domain, zone.soa))


def _key(name: str) -> str:
    """Zone keys are lower case (DNS names compare case-insensitively) without the final dot."""
    return name.rstrip(".").lower()


def _qtype(rdata: z.Rdata) -> int:
    return int(getattr(QTYPE, type(rdata).__name__))


def _rr(zone: z.Zone, owner: str, rdata: z.Rdata) -> dnslib.RR:
    return dnslib.RR(owner, _qtype(rdata), rdata=_rdata(rdata), ttl=zone.ttl)


def _rdata(rdata: z.Rdata) -> dnslib.RD:
    match rdata:
        case z.A(address):
            return dnslib.A(address)
        case z.CNAME(target):
            return dnslib.CNAME(target)
        case z.PTR(target):
            return dnslib.PTR(target)
        case z.NS(target):
            return dnslib.NS(target)
        case z.TXT(text):
            return dnslib.TXT(text)
        case z.SRV(priority, weight, port, target):
            return dnslib.SRV(priority, weight, port, target)
        case z.SOA(mname, rname, serial, refresh, retry, expire, minimum):
            return dnslib.SOA(mname, rname, (serial, refresh, retry, expire, minimum))
    raise TypeError(f"no DNS record type for {rdata!r}")


def _fit(reply: dnslib.DNSRecord, limit: int) -> bytes:
    """The packed reply, or, when longer than ``limit``, the question alone with TC set.

    The question stays (unlike ``DNSRecord.truncate``): resolvers such as Go's
    discard a reply whose question does not match theirs, TC or not.
    """
    packed = bytes(reply.pack())
    if len(packed) <= limit:
        return packed
    reply.header.tc = 1
    options = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    return bytes(dnslib.DNSRecord(reply.header, questions=reply.questions, ar=options).pack())
