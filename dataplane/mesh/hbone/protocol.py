"""The pure parts of HBONE: settings, CONNECT validation, status codes, headers.

Nothing here does I/O, so the rules of ``shared/reference/ztunnel.md`` §1.4-1.7
can be unit-tested on their own.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus

from h2.settings import SettingCodes

HBONE_PORT = 15008
# ztunnel's own ports: a CONNECT to them would loop back into ztunnel (SelfCall).
ILLEGAL_PORTS = frozenset({15001, 15006, 15008})

MIB = 1024 * 1024
STREAM_WINDOW = 4 * MIB  # HTTP2_STREAM_WINDOW_SIZE
CONNECTION_WINDOW = 16 * MIB  # HTTP2_CONNECTION_WINDOW_SIZE: 4x a stream, so one stalled stream cannot starve the rest
MAX_FRAME_SIZE = 1 * MIB  # HTTP2_FRAME_SIZE
# What we put in one DATA frame: asyncio's transports read at most 256 KiB at a
# time, and a larger frame is reassembled from several reads by h2's frame
# buffer (copies); on loopback 256 KiB frames measured ~20 % faster than 1 MiB.
SEND_FRAME_SIZE = 256 * 1024
# DATA queued past this is written at once rather than at the end of the
# event-loop step (``H2Session.flush_soon``): the transport's high-water mark.
FLUSH_BYTES = 64 * 1024
SERVER_MAX_CONCURRENT_STREAMS = 200
MAX_STREAMS_PER_CONNECTION = 100  # POOL_MAX_STREAMS_PER_CONNECTION (client side)
CLIENT_MAX_HEADER_LIST = 16 * 1024
SERVER_MAX_HEADER_LIST = 64 * 1024
CONNECT_TIMEOUT = 10.0
POOL_IDLE_TIMEOUT = 300.0  # POOL_UNUSED_RELEASE_TIMEOUT


@dataclass(frozen=True)
class Keepalive:
    """HTTP/2 PING on a quiet connection every ``interval`` s; a PING not
    acknowledged within ``timeout`` s drops the connection (ztunnel: 10 s /
    20 s, ``shared/reference/ztunnel.md`` §1.7).  What finds a peer that
    vanished without a FIN or RST, which TCP alone would notice only after
    its retransmissions (minutes)."""

    interval: float = 10.0
    timeout: float = 20.0


KEEPALIVE = Keepalive()


def local_settings(client: bool) -> dict[SettingCodes, int]:
    """The SETTINGS each side announces (ztunnel's values, §1.7)."""
    settings = {
        SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
        SettingCodes.MAX_FRAME_SIZE: MAX_FRAME_SIZE,
        SettingCodes.MAX_HEADER_LIST_SIZE: CLIENT_MAX_HEADER_LIST if client else SERVER_MAX_HEADER_LIST,
    }
    if client:
        settings[SettingCodes.ENABLE_PUSH] = 0
    else:
        settings[SettingCodes.MAX_CONCURRENT_STREAMS] = SERVER_MAX_CONCURRENT_STREAMS
    return settings


class AuthorityError(ValueError):
    """``:authority`` is not ``host:port``."""


def parse_authority(authority: str) -> tuple[str, int]:
    """``"10.0.0.1:80"``, ``"[fd00::1]:80"`` or ``"name.ns.svc:80"`` -> (host, port).

    ztunnel accepts an IP or a host name (a Service name, resolved later) with
    a port; anything else is a 400.
    """
    host, sep, port_text = authority.rpartition(":")
    if not sep or not host or not port_text.isdigit() or port_text.startswith("0"):
        raise AuthorityError(f"authority {authority!r} is not host:port")
    port = int(port_text)
    if not 0 < port < 65536:
        raise AuthorityError(f"authority {authority!r}: port out of range")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise AuthorityError(f"authority {authority!r}: bad IPv6 address") from exc
        return host, port
    if ":" in host:
        raise AuthorityError(f"authority {authority!r}: IPv6 address without brackets")
    try:
        return str(ipaddress.IPv4Address(host)), port
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
        raise AuthorityError(f"authority {authority!r}: bad host name")
    return host.lower(), port


def format_authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Rejection:
    """A CONNECT refused before any upstream dial: the status and why."""

    status: int
    reason: str


def check_connect(headers: Iterable[tuple[str, str]]) -> tuple[str, int] | Rejection:
    """Steps 1, 2 and 4 of the server's order (§1.5): method, authority, illegal port.

    Returns the target ``(host, port)`` or the rejection.  Step 3 (authority IP
    must be the pod the connection arrived on) needs the listener's address and
    is the caller's; step 5 (authorization) and 6 (dial) follow.
    """
    fields = dict(headers)
    if fields.get(":method") != "CONNECT":
        return Rejection(HTTPStatus.BAD_REQUEST, f"method {fields.get(':method')!r} is not CONNECT")
    try:
        host, port = parse_authority(fields.get(":authority", ""))
    except AuthorityError as exc:
        return Rejection(HTTPStatus.BAD_REQUEST, str(exc))
    if port in ILLEGAL_PORTS:
        return Rejection(HTTPStatus.SERVICE_UNAVAILABLE, f"port {port} is ztunnel's own")
    return host, port


def status_line(status: int) -> str:
    """``503 Service Unavailable``, as ztunnel's ``http status:`` error prints it."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


class HboneError(ConnectionError):
    """The server answered the CONNECT with something other than 200."""

    def __init__(self, status: int, reason: str = ""):
        self.status = status
        super().__init__(f"http status: {status_line(status)}" + (f" ({reason})" if reason else ""))


def traceparent() -> str:
    """A fresh W3C traceparent, one per user connection (§1.4)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def forwarded(client: tuple[str, int], host: str | None = None) -> str:
    """``for="ip:port"`` plus ``;host=<service fqdn>`` when the target was a Service."""
    value = f'for="{format_authority(*client)}"'
    return value + (f";host={host}" if host else "")
