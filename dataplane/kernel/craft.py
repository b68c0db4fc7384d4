"""Sending crafted IPv4 packets from inside an emulated namespace.

``dpctl verify`` proves rewrites with packets whose every header field it
chose (a TCP SYN with a known sequence number is recognisable on every link,
whatever NAT does to its addresses and ports).  A raw ``IPPROTO_RAW`` socket
sends the packet exactly as built (the kernel fills in nothing but the IP
id and checksum when they are zero), and because the socket is made inside
the source namespace the packet takes that namespace's routes and crosses
its netfilter OUTPUT hook like any locally generated packet.
"""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Self

from dataplane.kernel import netns


class RawSender:
    """One raw IPv4 socket inside ``netns_name``; ``send`` takes whole IP packets."""

    def __init__(self, netns_name: str):
        self.netns = netns_name
        self.sock = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def send(self, packet: bytes, destination: str) -> None:
        """Send ``packet`` (a complete IPv4 packet, header included) towards ``destination``."""
        self.sock.sendto(packet, (destination, 0))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
