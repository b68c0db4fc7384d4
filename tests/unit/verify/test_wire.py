"""Finding one TCP segment in captured frames, bare, in VXLAN, or quoted by ICMP."""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from dataplane.kernel.sniff import CapturedPacket
from dataplane.verify.wire import new_syn, sightings


def frame(pkt, t: float, iface: str = "eth0", direction: str = "out") -> CapturedPacket:  # type: ignore[no-untyped-def]
    return CapturedPacket(t, iface, direction, bytes(Ether() / pkt))


def test_a_syn_is_found_bare_wrapped_and_quoted_in_time_order() -> None:
    syn = new_syn("10.0.0.1", "10.96.0.5", 80)
    segment = IP(syn.packet())
    wrapped = IP(src="192.168.1.4", dst="192.168.2.4") / UDP(sport=40000, dport=4789) / VXLAN(vni=1) / Ether() / segment
    quoted = IP(src="192.168.1.4", dst="10.0.0.1") / ICMP(type=3, code=3) / segment
    reply = IP(src="10.96.0.5", dst="10.0.0.1") / TCP(sport=80, dport=syn.sport, flags="SA", seq=5, ack=syn.seq + 1)
    other = IP(src="10.0.0.1", dst="10.96.0.5") / TCP(sport=1, dport=80, flags="S", seq=(syn.seq + 1000) & 0xFFFFFFFF)
    captured = {
        "b": [frame(wrapped, 2.0), frame(other, 2.5)],
        "a": [frame(segment, 1.0), frame(quoted, 3.0, direction="in"), frame(reply, 4.0, direction="in")],
    }
    found = sightings(captured, [syn.seq, syn.seq + 1])
    assert [(s.netns, s.time) for s in found] == [("a", 1.0), ("b", 2.0), ("a", 3.0), ("a", 4.0)]
    bare, inner, icmp, syn_ack = found
    assert bare.is_syn and (bare.src, bare.sport, bare.dst, bare.dport) == ("10.0.0.1", syn.sport, "10.96.0.5", 80)
    assert inner.vxlan and inner.dst == "10.96.0.5" and inner.seq == syn.seq
    assert icmp.icmp == 3 and icmp.seq == syn.seq and not icmp.is_syn
    assert syn_ack.is_syn_ack and syn_ack.ack == syn.seq + 1
