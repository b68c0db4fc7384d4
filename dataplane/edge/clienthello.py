"""The server name (SNI) of a TLS ClientHello, read from its first record.

A gateway that routes TLS by name, or refuses names no listener serves,
decides before any handshake, as Envoy's TLS inspector does: from the bytes
the client sent first, left in place for whoever handles the connection.
Only the first record is read (a ClientHello split over records is rare
enough that Envoy's inspector gives up on it too).
"""

from __future__ import annotations

from dataclasses import dataclass

HANDSHAKE, CLIENT_HELLO, SERVER_NAME = 22, 1, 0
RECORD_HEADER = 5


@dataclass(frozen=True)
class Hello:
    complete: bool  # the first record is all there (else: read more)
    tls: bool  # it is a TLS handshake record carrying a ClientHello
    sni: str | None = None


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 2], "big")


def inspect(data: bytes) -> Hello:
    """What ``data`` (the connection's first bytes) says about the ClientHello."""
    if len(data) < RECORD_HEADER:
        return Hello(False, True)
    if data[0] != HANDSHAKE or data[1] != 3:
        return Hello(True, False)
    end = RECORD_HEADER + _u16(data, 3)
    if len(data) < end:
        return Hello(False, True)
    body = data[RECORD_HEADER:end]
    if not body or body[0] != CLIENT_HELLO:
        return Hello(True, False)
    try:
        return Hello(True, True, _server_name(body))
    except IndexError:
        return Hello(True, False)


def _server_name(body: bytes) -> str | None:
    at = 4 + 2 + 32  # handshake header, client_version, random
    at += 1 + body[at]  # session id
    at += 2 + _u16(body, at)  # cipher suites
    at += 1 + body[at]  # compression methods
    if at + 2 > len(body):
        return None  # no extensions
    end = at + 2 + _u16(body, at)
    at += 2
    while at + 4 <= end:
        kind, size = _u16(body, at), _u16(body, at + 2)
        if kind == SERVER_NAME:
            names = body[at + 4:at + 4 + size]
            pos = 2
            while pos + 3 <= len(names):
                name_type, length = names[pos], _u16(names, pos + 1)
                if name_type == 0:
                    return names[pos + 3:pos + 3 + length].decode("ascii", "replace").lower()
                pos += 3 + length
            return None
        at += 4 + size
    return None
