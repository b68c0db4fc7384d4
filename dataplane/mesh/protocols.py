"""What a port speaks, as Istio decides it from a Service port's declaration.

``appProtocol`` wins, then the port's name (``<protocol>`` or
``<protocol>-<suffix>``); ports 25, 53, 3306 and 27017 are taken as TCP
(servers that speak first: SMTP, DNS over TCP, MySQL, MongoDB).  Anything
else is undeclared, and a waypoint then *sniffs*: it waits for the client's
first bytes to tell HTTP from TCP, with no timeout (Istio's
``protocolDetectionTimeout`` is 0), so a server-first protocol on an
undeclared port hangs -- the case that sends such workloads to sidecars
(``waypoint-l7.md`` §6.1).
"""

from __future__ import annotations

from dataplane.topology.plan import ServicePort

HTTP, HTTP2, GRPC, TCP = "http", "http2", "grpc", "tcp"
UNDECLARED = None

_BY_NAME = {
    "http": HTTP, "http2": HTTP2, "grpc": GRPC, "grpc-web": HTTP2, "h2c": HTTP2,
    "tcp": TCP, "tls": TCP, "https": TCP, "mongo": TCP, "mysql": TCP, "redis": TCP,
}
_BY_APP_PROTOCOL = {**_BY_NAME, "kubernetes.io/h2c": HTTP2, "kubernetes.io/ws": HTTP, "kubernetes.io/wss": TCP}
SERVER_FIRST_PORTS = frozenset({25, 53, 3306, 27017})

_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"CONNECT ", b"OPTIONS ", b"TRACE ", b"PATCH ")
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def declared(port: ServicePort | None, number: int) -> str | None:
    """``http``, ``http2``, ``grpc``, ``tcp``, or None when the port is undeclared (sniffed)."""
    if port is not None and port.app_protocol:
        known = _BY_APP_PROTOCOL.get(port.app_protocol.lower())
        if known:
            return known
    if port is not None and port.name:
        known = _BY_NAME.get(port.name.lower().split("-", 1)[0])
        if known is None and port.name.lower().startswith("grpc-web"):
            known = HTTP2
        if known:
            return known
    return TCP if number in SERVER_FIRST_PORTS else UNDECLARED


def sniffed(first_bytes: bytes) -> str:
    """What a client's first bytes say: HTTP/2 prior knowledge, HTTP/1.x, or plain TCP."""
    if first_bytes.startswith(H2_PREFACE[: len(first_bytes)]) and len(first_bytes) >= 3:
        return HTTP2
    if first_bytes.startswith(_METHODS):
        return HTTP
    return TCP
