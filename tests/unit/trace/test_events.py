"""Monitor lines as nft 1.0.6 prints them -> events."""

from __future__ import annotations

from dataplane.trace.events import parse_line

PACKET = (
    'trace id 6b498e60 ip dpctl-trace prerouting packet: iif "br-sub-a" ether saddr b6:bb:e1:67:dc:4a '
    "ether daddr a2:3e:ce:a4:f2:63 ip saddr 192.168.50.6 ip daddr 192.168.60.5 ip dscp cs0 ip ecn not-ect "
    "ip ttl 63 ip id 30508 ip length 60 tcp sport 25719 tcp dport 8080 tcp flags == syn tcp window 64240 "
)


def test_packet_line() -> None:
    event = parse_line(PACKET)
    assert event is not None and event.kind == "packet" and event.packet is not None
    assert (event.trace_id, event.family, event.table, event.chain) == ("6b498e60", "ip", "dpctl-trace", "prerouting")
    p = event.packet
    assert (p.iif, p.oif, p.saddr, p.daddr) == ("br-sub-a", None, "192.168.50.6", "192.168.60.5")
    assert (p.proto, p.sport, p.dport, p.ttl, p.ip_id, p.tcp_flags) == ("tcp", 25719, 8080, 63, 30508, "syn")


def test_postrouting_packet_without_iif_and_udp() -> None:
    line = (
        'trace id 5a66224e ip dpctl-trace postrouting packet: oif "eth0" ip saddr 10.244.1.5 ip daddr 10.244.1.6 '
        "ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 19436 ip length 30 udp sport 41235 udp dport 9000 udp length 10 "
        "@th,64,16 0x6869 "
    )
    event = parse_line(line)
    assert event is not None and event.packet is not None
    assert (event.packet.iif, event.packet.oif, event.packet.proto, event.packet.dport) == (None, "eth0", "udp", 9000)
    assert event.packet.tcp_flags is None


def test_rule_line_keeps_text_and_verdict() -> None:
    line = (
        "trace id d27e344f ip kube-proxy service-ULMVA6XW-shop/web/tcp/http rule numgen random mod 2 vmap "
        "{ 0 : goto endpoint-AAAA-shop/web/tcp/http__10.244.1.6/8080, 1 : goto endpoint-BBBB-shop/web/tcp/http__10.244.1.7/8080 } "
        "(verdict goto endpoint-BBBB-shop/web/tcp/http__10.244.1.7/8080)"
    )
    event = parse_line(line)
    assert event is not None and event.kind == "rule"
    assert event.chain == "service-ULMVA6XW-shop/web/tcp/http"
    assert event.rule is not None and event.rule.startswith("numgen random mod 2 vmap {")
    assert event.verdict == "goto endpoint-BBBB-shop/web/tcp/http__10.244.1.7/8080"


def test_reject_reads_as_drop() -> None:
    event = parse_line("trace id de793aba ip kube-proxy reject-chain rule reject (verdict drop)")
    assert event is not None and (event.rule, event.verdict) == ("reject", "drop")


def test_policy_line() -> None:
    event = parse_line("trace id 1bbea6cd ip dpctl-trace output policy accept ")
    assert event is not None and (event.kind, event.verdict) == ("policy", "accept")


def test_rule_unknown_to_the_monitor_and_other_output() -> None:
    event = parse_line("trace id 6b498e60 ip dpctl-trace prerouting unknown rule handle 6 (verdict accept)")
    assert event is not None and event.kind == "other"
    assert parse_line("Error: Unknown device type.") is None
    assert parse_line("") is None
