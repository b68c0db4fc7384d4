"""What the outside client's resolver answers from the zones."""

from __future__ import annotations

import dnslib

from dataplane.route53.answer import View, answer
from dataplane.route53.records import HostedZone, Record

ELB = "k8s-shop-shop-0b6553f432-9828115014.us-east-1.elb.amazonaws.com"
ZONE = HostedZone("example.com", records=(
    Record("app.example.com", "A", None, (), ELB, True),
    Record("app.example.com", "AAAA", None, (), ELB, True),
    Record("a-app.example.com", "TXT", 300, ('"heritage=external-dns,external-dns/owner=c1"',)),
    Record("www.example.com", "CNAME", 300, (ELB,)),
    Record("x.deep.example.com", "A", 300, ("198.51.100.5",)),
))
VIEW = View((ZONE,), {ELB: ("203.0.113.254", "203.0.113.253")})


def _ask(name: str, kind: str) -> dnslib.DNSRecord:
    reply = answer(VIEW, bytes(dnslib.DNSRecord.question(name, kind).pack()), over_udp=True)
    assert reply is not None
    return dnslib.DNSRecord.parse(reply)


def _values(reply: dnslib.DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr)


def test_an_alias_answers_with_the_albs_addresses() -> None:
    reply = _ask("App.Example.com", "A")
    assert _values(reply) == ["203.0.113.253", "203.0.113.254"]
    assert str(reply.rr[0].rname) == "App.Example.com."
    aaaa = _ask("app.example.com", "AAAA")
    assert aaaa.header.rcode == dnslib.RCODE.NOERROR and not aaaa.rr and aaaa.auth[0].rtype == dnslib.QTYPE.SOA


def test_a_cname_to_the_alb_is_followed() -> None:
    assert _values(_ask("www.example.com", "A")) == ["203.0.113.253", "203.0.113.254", ELB + "."]


def test_txt_nxdomain_empty_non_terminal_and_refused() -> None:
    assert _values(_ask("a-app.example.com", "TXT")) == ['"heritage=external-dns,external-dns/owner=c1"']
    assert _ask("nothing.example.com", "A").header.rcode == dnslib.RCODE.NXDOMAIN
    deep = _ask("deep.example.com", "A")
    assert deep.header.rcode == dnslib.RCODE.NOERROR and not deep.rr
    assert _ask("example.org", "A").header.rcode == dnslib.RCODE.REFUSED
    assert {rr.rtype for rr in _ask("example.com", "NS").rr} == {dnslib.QTYPE.NS}


def test_a_reply_is_never_answered() -> None:
    reply = dnslib.DNSRecord.question("app.example.com", "A").reply()
    assert answer(VIEW, bytes(reply.pack()), over_udp=True) is None
