"""Answers on the wire: DNS messages in, DNS messages out, parsed with dnslib."""

from __future__ import annotations

import dataclasses
import random

import pytest
from dnslib import CLASS, EDNS0, OPCODE, QTYPE, RCODE, RR, DNSQuestion, DNSRecord

from dataplane.clusterdns import Zone, answer, build_zone
from tests.unit.clusterdns.sample import DNS_IP, PODS, SERVICES, WEB_IP, headless, make_plan, pod

SVC = "shop.svc.cluster.local"


@pytest.fixture(scope="module")
def zone() -> Zone:
    return build_zone(make_plan())


def ask(zone: Zone, name: str, qtype: str = "A", *, over_udp: bool = True, edns: int | None = None) -> DNSRecord:
    query = DNSRecord.question(name, qtype)
    if edns is not None:
        query.add_ar(EDNS0(udp_len=edns))
    wire = answer(zone, bytes(query.pack()), over_udp=over_udp)
    assert wire is not None
    reply = DNSRecord.parse(wire)
    assert (reply.header.id, reply.header.qr, reply.questions) == (query.header.id, 1, query.questions)
    return reply


def records(section: list[RR]) -> set[tuple[str, str, str]]:
    return {(str(rr.rname), QTYPE[rr.rtype], str(rr.rdata)) for rr in section}


def rcode(reply: DNSRecord) -> str:
    return str(RCODE[reply.header.rcode])


def test_cluster_ip_a_record(zone: Zone) -> None:
    reply = ask(zone, f"web.{SVC}")
    assert (rcode(reply), reply.header.aa, reply.header.ra) == ("NOERROR", 1, 0)
    assert records(reply.rr) == {(f"web.{SVC}.", "A", WEB_IP)}
    assert [rr.ttl for rr in reply.rr] == [5]


def test_names_are_case_insensitive_and_answered_as_asked(zone: Zone) -> None:
    reply = ask(zone, "WEB.Shop.SVC.Cluster.Local")
    assert records(reply.rr) == {("WEB.Shop.SVC.Cluster.Local.", "A", WEB_IP)}


def test_aaaa_of_a_known_name_is_nodata_with_soa(zone: Zone) -> None:
    reply = ask(zone, f"web.{SVC}", "AAAA")
    assert (rcode(reply), reply.rr) == ("NOERROR", [])
    assert [QTYPE[rr.rtype] for rr in reply.auth] == ["SOA"]


def test_unknown_name_in_the_domain_is_nxdomain_with_soa(zone: Zone) -> None:
    for name in (f"nope.{SVC}", "nope.cluster.local", f"nobody.{SVC}", "10-9-9-9.shop.pod.cluster.local"):
        reply = ask(zone, name)
        assert (rcode(reply), reply.header.aa, reply.rr) == ("NXDOMAIN", 1, []), name
        assert records(reply.auth) == {("cluster.local.", "SOA", str(ask(zone, "cluster.local", "SOA").rr[0].rdata))}


def test_empty_non_terminal_is_nodata(zone: Zone) -> None:
    for name in (SVC, "empty.svc.cluster.local", "svc.cluster.local"):
        reply = ask(zone, name)
        assert (rcode(reply), reply.rr, len(reply.auth)) == ("NOERROR", [], 1), name


def test_names_outside_the_cluster_are_refused(zone: Zone) -> None:
    for name, qtype in (("example.com", "A"), ("db.example.com", "A"), ("8.8.8.8.in-addr.arpa", "PTR")):
        reply = ask(zone, name, qtype)
        assert (rcode(reply), reply.header.aa, reply.rr, reply.auth) == ("REFUSED", 0, [], []), name


def test_headless_service_answers_every_ready_endpoint_in_random_order(zone: Zone) -> None:
    reply = ask(zone, f"web-all.{SVC}")
    assert {str(rr.rdata) for rr in reply.rr} == {"10.0.1.5", "10.0.1.6", "10.0.1.7"}
    orders = {tuple(str(rr.rdata) for rr in ask(zone, f"web-all.{SVC}").rr) for _ in range(60)}
    assert len(orders) > 1  # shuffled like CoreDNS's loadbalance plugin (1 in 6**59 to fail by chance)
    assert records(ask(zone, f"10-0-1-6.web-all.{SVC}").rr) == {(f"10-0-1-6.web-all.{SVC}.", "A", "10.0.1.6")}


def test_srv_for_a_cluster_ip_service_with_the_target_address_as_glue(zone: Zone) -> None:
    reply = ask(zone, f"_http._tcp.web.{SVC}", "SRV")
    assert records(reply.rr) == {(f"_http._tcp.web.{SVC}.", "SRV", f"0 100 80 web.{SVC}.")}
    assert records(reply.ar) == {(f"web.{SVC}.", "A", WEB_IP)}


def test_srv_for_a_headless_service_names_each_endpoint(zone: Zone) -> None:
    reply = ask(zone, f"_postgres._tcp.db.{SVC}", "SRV")
    assert records(reply.rr) == {
        (f"_postgres._tcp.db.{SVC}.", "SRV", f"0 50 5432 10-0-2-5.db.{SVC}."),
        (f"_postgres._tcp.db.{SVC}.", "SRV", f"0 50 5433 10-0-2-6.db.{SVC}."),
    }
    assert records(reply.ar) == {(f"10-0-2-5.db.{SVC}.", "A", "10.0.2.5"), (f"10-0-2-6.db.{SVC}.", "A", "10.0.2.6")}


def test_ptr_for_cluster_ips_and_headless_endpoints(zone: Zone) -> None:
    assert records(ask(zone, "10.0.96.10.in-addr.arpa", "PTR").rr) == {
        ("10.0.96.10.in-addr.arpa.", "PTR", "kube-dns.kube-system.svc.cluster.local.")
    }
    assert records(ask(zone, "5.2.0.10.In-Addr.Arpa", "PTR").rr) == {
        ("5.2.0.10.In-Addr.Arpa.", "PTR", f"10-0-2-5.db.{SVC}.")
    }


def test_pod_a_record(zone: Zone) -> None:
    reply = ask(zone, "10-0-2-6.shop.pod.cluster.local")
    assert records(reply.rr) == {("10-0-2-6.shop.pod.cluster.local.", "A", "10.0.2.6")}


def test_external_name_answers_a_cname_for_any_type_and_leaves_the_outside_target_alone(zone: Zone) -> None:
    for qtype in ("A", "AAAA", "SRV", "CNAME"):
        reply = ask(zone, f"ext.{SVC}", qtype)
        assert (rcode(reply), reply.header.aa, reply.auth) == ("NOERROR", 1, []), qtype
        assert records(reply.rr) == {(f"ext.{SVC}.", "CNAME", "db.example.com.")}, qtype


def test_cname_to_a_name_in_the_zone_is_followed(zone: Zone) -> None:
    reply = ask(zone, f"alias.{SVC}")
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr] == [("CNAME", f"web.{SVC}."), ("A", WEB_IP)]
    assert str(reply.rr[1].rname) == f"web.{SVC}."
    dangling = ask(zone, f"dangling.{SVC}")  # RFC 6604: the RCODE is the last name's
    assert (rcode(dangling), [QTYPE[rr.rtype] for rr in dangling.rr]) == ("NXDOMAIN", ["CNAME"])


def test_cname_loops_end() -> None:
    loop = (
        *SERVICES,
        dataclasses.replace(SERVICES[6], name="a", external_name=f"b.{SVC}"),
        dataclasses.replace(SERVICES[6], name="b", external_name=f"a.{SVC}"),
    )
    reply = ask(build_zone(make_plan(services=loop)), f"a.{SVC}")
    assert (rcode(reply), [str(rr.rdata) for rr in reply.rr]) == ("NOERROR", [f"b.{SVC}.", f"a.{SVC}."])


def test_apex_soa_ns_and_version(zone: Zone) -> None:
    soa = ask(zone, "cluster.local", "SOA")
    assert [str(rr.rdata).split()[:2] for rr in soa.rr] == [["ns.dns.cluster.local.", "hostmaster.cluster.local."]]
    ns = ask(zone, "cluster.local", "NS")
    assert records(ns.rr) == {("cluster.local.", "NS", "ns.dns.cluster.local.")}
    assert records(ns.ar) == {("ns.dns.cluster.local.", "A", DNS_IP)}
    assert records(ask(zone, "dns-version.cluster.local", "TXT").rr) == {
        ("dns-version.cluster.local.", "TXT", '"1.1.0"')
    }
    assert {QTYPE[rr.rtype] for rr in ask(zone, "cluster.local", "ANY").rr} == {"SOA", "NS"}


def test_zone_transfers_and_other_classes_are_refused(zone: Zone) -> None:
    assert rcode(ask(zone, "cluster.local", "AXFR", over_udp=False)) == "REFUSED"
    query = DNSRecord(q=DNSQuestion(f"web.{SVC}", QTYPE.A, CLASS.CH))
    assert rcode(DNSRecord.parse(answer(zone, bytes(query.pack()), over_udp=True))) == "REFUSED"


def _big_zone(endpoints: int) -> Zone:
    pods = (*PODS, *(pod(f"big-{i}", f"10.0.9.{i + 1}", labels={"app": "big"}) for i in range(endpoints)))
    return build_zone(make_plan(pods=pods, services=(*SERVICES, headless("big", {"app": "big"}))))


def test_udp_replies_past_512_bytes_are_truncated_to_the_question() -> None:
    zone = _big_zone(40)  # 40 A records: about 700 bytes
    reply = ask(zone, f"big.{SVC}")
    assert (reply.header.tc, reply.rr, reply.ar) == (1, [], [])
    assert len(ask(zone, f"big.{SVC}", over_udp=False).rr) == 40  # TCP: the whole answer
    edns = ask(zone, f"big.{SVC}", edns=4096)  # EDNS lifts the limit, to 1232 at most
    assert (edns.header.tc, len(edns.rr), [QTYPE[rr.rtype] for rr in edns.ar]) == (0, 40, ["OPT"])
    assert len(edns.pack()) > 512


def test_udp_replies_past_1232_bytes_are_truncated_whatever_edns_says() -> None:
    zone = _big_zone(100)
    reply = ask(zone, f"big.{SVC}", edns=4096)
    assert (reply.header.tc, reply.rr, [QTYPE[rr.rtype] for rr in reply.ar]) == (1, [], ["OPT"])
    assert len(ask(zone, f"big.{SVC}", over_udp=False, edns=4096).rr) == 100


def test_edns_is_echoed_and_unknown_versions_get_badvers(zone: Zone) -> None:
    reply = ask(zone, f"web.{SVC}", edns=1232)
    (opt,) = reply.ar
    assert (opt.rtype, opt.rclass, rcode(reply)) == (QTYPE.OPT, 1232, "NOERROR")
    query = DNSRecord.question(f"web.{SVC}")
    query.add_ar(EDNS0(udp_len=1232, version=1))
    reply = DNSRecord.parse(answer(zone, bytes(query.pack()), over_udp=True))
    (opt,) = reply.ar
    assert ((opt.ttl >> 24) << 4 | reply.header.rcode, reply.rr) == (16, [])  # BADVERS


def test_malformed_and_unusual_messages(zone: Zone) -> None:
    two = DNSRecord.question(f"web.{SVC}")
    two.add_question(DNSQuestion(f"db.{SVC}"))
    assert rcode(DNSRecord.parse(answer(zone, bytes(two.pack()), over_udp=True))) == "FORMERR"
    update = DNSRecord.question(f"web.{SVC}")
    update.header.opcode = OPCODE.UPDATE
    assert rcode(DNSRecord.parse(answer(zone, bytes(update.pack()), over_udp=True))) == "NOTIMP"
    garbage = DNSRecord.question(f"web.{SVC}").pack()[:12] + b"\x05abc"
    formerr = DNSRecord.parse(answer(zone, bytes(garbage), over_udp=True))
    assert (rcode(formerr), formerr.header.id) == ("FORMERR", int.from_bytes(garbage[:2], "big"))
    assert answer(zone, b"\x12", over_udp=True) is None  # not even an ID to answer to
    response = ask(zone, f"web.{SVC}")
    assert answer(zone, bytes(response.pack()), over_udp=True) is None  # never answer an answer


def test_random_bytes_never_raise(zone: Zone) -> None:
    rng = random.Random(7)
    valid = bytes(DNSRecord.question(f"_http._tcp.web.{SVC}", "SRV").pack())
    for _ in range(3000):
        noisy = bytearray(valid)
        for _ in range(rng.randint(1, 6)):
            noisy[rng.randrange(len(noisy))] = rng.randrange(256)
        answer(zone, bytes(noisy[: rng.randint(0, len(noisy))]), over_udp=True)
        answer(zone, rng.randbytes(rng.randint(0, 64)), over_udp=False)
