"""Captured packets to files Wireshark and tcpdump read.

The format follows the file name: ``*.pcapng`` keeps each packet's interface
(one Interface Description Block per interface name) and direction (the
Enhanced Packet Block's flags), which a capture over every interface of a
namespace needs to stay readable; anything else is classic pcap with link
type Ethernet (DLT_EN10MB), which every tool reads but which cannot say on
which interface or in which direction a packet was seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Self

from scapy.data import DLT_EN10MB
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import PcapNgWriter, PcapWriter

from dataplane.kernel.sniff import SNAPLEN, CapturedPacket


def is_pcapng(path: str) -> bool:
    return path.lower().endswith(".pcapng")


class PcapFile:
    """A capture file written packet by packet, so a long capture is on disk
    as it goes and an interrupted one keeps everything written so far."""

    def __init__(self, path: str):
        self.path = path
        self.count = 0
        self._writer: PcapWriter | PcapNgWriter
        if is_pcapng(path):
            self._writer = PcapNgWriter(path)
        else:
            self._writer = PcapWriter(path, linktype=DLT_EN10MB, snaplen=SNAPLEN)
        # A file with no packets must still have its header to be a valid capture.
        self._writer.linktype = DLT_EN10MB
        self._writer.write_header(None)

    def write(self, packets: Iterable[CapturedPacket | Packet]) -> None:
        for captured in packets:
            self._writer.write(captured.packet if isinstance(captured, CapturedPacket) else captured)
            self.count += 1

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def write_pcap(path: str, packets: Iterable[CapturedPacket]) -> int:
    """Write ``packets`` to ``path`` (pcap or pcapng by extension); how many."""
    with PcapFile(path) as out:
        out.write(packets)
        return out.count


def placed(netns: str, captured: CapturedPacket) -> Packet:
    """The frame with its interface named ``<netns>/<iface>``: a capture across
    several namespaces has many ``eth0``s, and pcapng keeps one interface per name."""
    pkt = Ether(captured.data)
    pkt.time = captured.time
    pkt.sniffed_on = f"{netns}/{captured.iface}"
    pkt.direction = captured.packet.direction
    return pkt
