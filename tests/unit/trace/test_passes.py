"""Grouping a namespace's monitor lines into passes of one packet."""

from __future__ import annotations

from dataplane.trace.passes import split

from .captures import load


def line(trace_id: str, table: str, chain: str, rest: str) -> str:
    return f"trace id {trace_id} ip {table} {chain} {rest}"


def packet(ip_id: int, ttl: int, src: str = "10.0.0.1", sport: int = 20000, dst: str = "10.0.0.2") -> str:
    return f"packet: ip saddr {src} ip daddr {dst} ip ttl {ttl} ip id {ip_id} tcp sport {sport} tcp dport 80 "


def test_a_reused_trace_id_starts_a_new_pass() -> None:
    lines = [
        line("aa", "dpctl-trace", "output", packet(1, 64)),
        line("aa", "dpctl-trace", "postrouting", packet(1, 64)),
        line("aa", "dpctl-trace", "output", packet(2, 64)),
    ]
    passes = split("ns", lines)
    assert [p.entry.ip_id for p in passes] == [1, 2]
    assert passes[0].exit is not None and passes[1].exit is None


def test_a_packet_that_changes_trace_id_stays_one_pass() -> None:
    # The VPC router's bridge gives a routed packet a new trace id at postrouting.
    raw = load("vpc-pod-to-service")["raw"]
    router = next(name for name in raw if name.endswith(".vpc"))
    passes = split(router, raw[router])
    first = passes[0]
    assert first.exit is not None and first.exit.ip_id == first.entry.ip_id
    assert first.exit.ttl == first.entry.ttl - 1
    assert len({e.trace_id for e in first.events}) == 2


def test_interleaved_packets_keep_their_own_events() -> None:
    lines = [
        line("aa", "dpctl-trace", "prerouting", packet(1, 63)),
        line("bb", "dpctl-trace", "prerouting", packet(2, 63, src="10.0.0.9")),
        line("aa", "kube-proxy", "nat-prerouting", "rule jump services (verdict jump services)"),
        line("bb", "dpctl-trace", "input", packet(2, 63, src="10.0.0.9")),
        line("aa", "dpctl-trace", "postrouting", packet(1, 62, dst="10.0.0.3")),
    ]
    one, two = split("ns", lines)
    assert [e.kind for e in one.events] == ["packet", "rule", "packet"]
    assert one.exit is not None and one.exit.daddr == "10.0.0.3"
    assert two.delivered is not None and two.exit is None
