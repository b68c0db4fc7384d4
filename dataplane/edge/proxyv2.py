"""The PROXY protocol v2 header an NLB writes before a connection's bytes (``proxy-protocol: "*"``).

Binary form only, as the NLB sends it: the 12-byte signature, version 2
with command PROXY, TCP over IPv4, then the client's and the listener's
address and port.  No TLVs: AWS adds one only for PrivateLink endpoints.
"""

from __future__ import annotations

import ipaddress
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_PROXY_V2 = 0x21  # version 2, command PROXY
_TCP4 = 0x11  # AF_INET, STREAM
_ADDRESSES = struct.Struct("!4s4sHH")


def header(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """The header for a TCP connection from ``source`` to ``destination`` (IPv4 addresses and ports)."""
    body = _ADDRESSES.pack(
        ipaddress.IPv4Address(source[0]).packed, ipaddress.IPv4Address(destination[0]).packed, source[1], destination[1]
    )
    return SIGNATURE + bytes((_PROXY_V2, _TCP4)) + struct.pack("!H", len(body)) + body


def parse(data: bytes) -> tuple[tuple[str, int], tuple[str, int], int]:
    """(source, destination, header length) of a TCP4 header at the start of ``data`` (ValueError otherwise)."""
    if not data.startswith(SIGNATURE) or len(data) < 16 or data[12] != _PROXY_V2 or data[13] != _TCP4:
        raise ValueError("not a PROXY v2 TCP4 header")
    (length,) = struct.unpack("!H", data[14:16])
    if length < _ADDRESSES.size or len(data) < 16 + length:
        raise ValueError("a truncated PROXY v2 header")
    src, dst, sport, dport = _ADDRESSES.unpack(data[16 : 16 + _ADDRESSES.size])
    return (str(ipaddress.IPv4Address(src)), sport), (str(ipaddress.IPv4Address(dst)), dport), 16 + length
