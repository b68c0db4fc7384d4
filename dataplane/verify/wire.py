"""What a captured frame says about a TCP flow: one ``Sighting`` per frame.

The dnat and path checks follow one TCP segment across every namespace it
crosses.  NAT rewrites addresses and ports, VXLAN wraps the packet in
another one, but nothing on the way touches the TCP sequence and
acknowledgement numbers: a SYN sent with a random initial sequence number
is recognisable on every link, and so is its SYN-ACK (ack = ISN + 1) and an
ICMP error quoting it.  Frames are parsed by Scapy only when their bytes
contain one of the numbers looked for, since parsing every frame of a
capture would cost far more than the probes themselves.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from scapy.layers.inet import ICMP, IP, TCP, IPerror, TCPerror
from scapy.layers.vxlan import VXLAN

from dataplane.kernel.sniff import CapturedPacket

SYN, RST, ACK = 0x02, 0x04, 0x10
# Below the ephemeral range and the NodePort range, as for ``kernel/probe.py``:
# no real connection of the emulation takes the port meanwhile.
PORT_RANGE = (20000, 30000)


@dataclass(frozen=True)
class Sighting:
    """One frame of a TCP flow, as one interface of one namespace saw it.

    Addresses are the (inner, when ``vxlan``) IP header's; for an ICMP error
    ``icmp`` holds its type and ``seq`` the sequence number of the quoted
    segment."""

    netns: str
    iface: str
    direction: str  # in | out
    time: float
    src: str
    sport: int
    dst: str
    dport: int
    flags: int
    seq: int
    ack: int
    vxlan: bool = False
    icmp: int | None = None
    frame: CapturedPacket | None = field(default=None, compare=False, repr=False)  # kept as evidence

    @property
    def is_syn(self) -> bool:
        return self.icmp is None and self.flags & (SYN | ACK) == SYN

    @property
    def is_syn_ack(self) -> bool:
        return self.icmp is None and self.flags & (SYN | ACK) == SYN | ACK

    @property
    def is_rst(self) -> bool:
        return self.icmp is None and bool(self.flags & RST)

    def addresses(self) -> str:
        text = f"{self.src}:{self.sport} -> {self.dst}:{self.dport}"
        if self.icmp is not None:
            return f"ICMP type {self.icmp} quoting {text}"
        return text + (" (in VXLAN)" if self.vxlan else "")


def parse(netns: str, captured: CapturedPacket) -> Sighting | None:
    """The frame's innermost TCP segment (or quoted one, for ICMP), or None."""
    layer = captured.packet
    vxlan = False
    if VXLAN in layer:
        layer = layer[VXLAN].payload
        vxlan = True
    if IP not in layer:
        return None
    ip = layer[IP]
    if isinstance(ip.payload, ICMP) and IPerror in ip and TCPerror in ip:
        quoted, segment = ip[IPerror], ip[TCPerror]
        return Sighting(
            netns, captured.iface, captured.direction, captured.time, quoted.src, segment.sport, quoted.dst,
            segment.dport, int(segment.flags), segment.seq, segment.ack, vxlan, icmp=ip[ICMP].type, frame=captured,
        )
    if not isinstance(ip.payload, TCP):
        return None
    tcp = ip[TCP]
    return Sighting(
        netns, captured.iface, captured.direction, captured.time, ip.src, tcp.sport, ip.dst, tcp.dport,
        int(tcp.flags), tcp.seq, tcp.ack, vxlan, frame=captured,
    )


def sightings(captured: Mapping[str, Iterable[CapturedPacket]], numbers: Collection[int]) -> list[Sighting]:
    """Every TCP (or ICMP-quoted TCP) frame carrying one of ``numbers`` as its
    sequence or acknowledgement number, from every namespace, in time order."""
    needles = [struct.pack("!I", n & 0xFFFFFFFF) for n in numbers]
    wanted = {n & 0xFFFFFFFF for n in numbers}
    found = []
    for netns, packets in captured.items():
        for p in packets:
            if not any(needle in p.data for needle in needles):
                continue
            seen = parse(netns, p)
            if seen is not None and (seen.seq in wanted or seen.ack in wanted):
                found.append(seen)
    found.sort(key=lambda s: s.time)
    return found


@dataclass(frozen=True)
class Syn:
    """A crafted TCP SYN: its bytes and the numbers that identify it on the wire."""

    src: str
    sport: int
    dst: str
    dport: int
    seq: int

    def packet(self) -> bytes:
        ip = IP(src=self.src, dst=self.dst, flags="DF", ttl=64)
        return bytes(ip / TCP(sport=self.sport, dport=self.dport, flags="S", seq=self.seq, window=64240))


def new_syn(src: str, dst: str, dport: int) -> Syn:
    """A SYN from a random port in PORT_RANGE with a random, non-zero sequence number."""
    low, high = PORT_RANGE
    return Syn(src, low + secrets.randbelow(high - low), dst, dport, 1 + secrets.randbelow(0xFFFFFFFE))
