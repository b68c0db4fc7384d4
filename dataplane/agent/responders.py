"""The built-in workloads a container port is served by.

* ``http``: HTTP/1.1 (h11), and HTTP/2 with prior knowledge (``h2responder``,
  gRPC health included), answering every request with JSON that says which
  pod answered and what it saw (client address, Host, path), so a test can
  tell exactly where a request landed and whether its source was rewritten;
  the paths and header that make it fail or wait are ``httpbin``'s.
* ``tcp-echo``: every byte back; the client's EOF closes our side once all is
  echoed.
* ``server-first``: a MySQL-like server that greets before the client says
  anything, then echoes: what a proxy that waits for the client's first bytes
  (protocol sniffing) hangs on.
* ``udp-echo``: every datagram back to its sender.
* ``ext-authz``: an external authorizer like Istio's sample one, for
  ``action: CUSTOM`` policies (ports named ``ext-authz`` or ``http-ext-authz``).
* ``dns`` lives in ``dns_responder``: it answers from the agent's cluster zone.
* ``MetricsResponder`` is not a pod's: the agent's own ztunnel metrics endpoint
  (``GET /metrics``, ``/stats/prometheus`` on 127.0.0.1:15020 of the node),
  the same h11 machinery (``H11Responder``) with another answer.

TCP responders register their transport with the pod's ``Connections`` while
the connection is open, so removing a pod can close its accepted connections
too: a socket left open would keep the pod's network namespace alive.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Callable
from typing import cast

import h11

from dataplane.agent import httpbin
from dataplane.agent.h2responder import H2Session
from dataplane.agent.httpbin import NO_BODY_STATUSES, SERVER_NAME, Answer
from dataplane.mesh.protocols import H2_PREFACE
from dataplane.topology.plan import Pod

log = logging.getLogger(__name__)


def _response(status: int, headers: list[tuple[bytes, bytes]]) -> h11.Response:
    """A response with its standard reason phrase (none for codes without one)."""
    try:
        reason = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        reason = b""
    return h11.Response(status_code=status, headers=headers, reason=reason)


class Connections:
    """The open TCP connections of one pod.

    Once closed it aborts any connection that still arrives: asyncio creates
    an accepted connection's transport a loop iteration after the accept, so
    one can appear after its listening socket was closed.
    """

    def __init__(self) -> None:
        self._open: set[asyncio.Transport] = set()
        self._closed = False

    def add(self, transport: asyncio.Transport) -> None:
        if self._closed:
            transport.abort()
        else:
            self._open.add(transport)

    def discard(self, transport: asyncio.Transport) -> None:
        self._open.discard(transport)

    def close(self) -> None:
        self._closed = True
        for transport in list(self._open):
            transport.abort()


class Connection(asyncio.Protocol):
    """One accepted TCP connection: tracked while open, and flow-controlled.

    When the peer does not read what we write, the transport's buffer fills
    and asyncio calls ``pause_writing``; we stop reading until it drains, so a
    fast sender with a slow reader never makes the agent buffer without bound.
    """

    transport: asyncio.Transport

    def __init__(self, connections: Connections):
        self._connections = connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._connections.add(self.transport)
        log.debug("connection from %s to port %s", self.peer, self.local_port)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self.transport)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    @property
    def peer(self) -> tuple[str, int]:
        return cast(tuple[str, int], self.transport.get_extra_info("peername"))

    @property
    def local_port(self) -> int:
        return cast(int, self.transport.get_extra_info("sockname")[1])


class TcpEcho(Connection):
    """Writes back everything it reads."""

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        """The client half-closed: returning False closes our side after the
        buffer has drained, so the client reads every echoed byte, then EOF."""
        return False


class ServerFirst(TcpEcho):
    """Speaks first, as MySQL does: sends ``GREETING`` on connect, then echoes.

    ``GREETING`` is a MySQL protocol v10 handshake packet, always the same
    84 bytes: a 3-byte little-endian payload length (80) and sequence id 0,
    then protocol version 10, server version ``b"8.0.36-dpctl\\0"``, connection
    id 1, auth data ``b"dpctl-se"`` and a filler 0, capability flags
    0xdfffffff (lower half first), character set 255 (utf8mb4), status 0x0002
    (autocommit), auth data length 21, ten reserved zeros, auth data
    ``b"rver-first\\0\\0\\0"`` (13 bytes) and ``b"caching_sha2_password\\0"``.
    A test recognises it by ``data[4] == 10`` and the version string.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self.transport.is_closing():  # the pod may be closing (``Connections`` aborted it)
            self.transport.write(GREETING)


def _mysql_greeting() -> bytes:
    payload = b"".join(
        (
            b"\x0a",  # protocol version 10
            b"8.0.36-dpctl\0",
            (1).to_bytes(4, "little"),  # connection id
            b"dpctl-se\0",  # auth-plugin-data part 1 (8 bytes) and a filler
            (0xFFFF).to_bytes(2, "little"),  # capability flags, lower half
            b"\xff",  # character set: utf8mb4_0900_ai_ci
            (0x0002).to_bytes(2, "little"),  # status: SERVER_STATUS_AUTOCOMMIT
            (0xDFFF).to_bytes(2, "little"),  # capability flags, upper half
            b"\x15",  # length of the auth-plugin-data (8 + 13)
            bytes(10),  # reserved
            b"rver-first\0\0\0",  # auth-plugin-data part 2 (13 bytes)
            b"caching_sha2_password\0",
        )
    )
    return len(payload).to_bytes(3, "little") + b"\x00" + payload


GREETING = _mysql_greeting()


class H11Responder(Connection):
    """HTTP/1.1 server side with keep-alive; subclasses say what each request gets (``_answer``).

    A request that is not valid HTTP gets 400 (or h11's better hint) and the
    connection is closed.
    """

    def __init__(self, connections: Connections):
        super().__init__(connections)
        self._http = h11.Connection(h11.SERVER)
        self._request: h11.Request | None = None
        self._body_bytes = 0

    def data_received(self, data: bytes) -> None:
        self._http.receive_data(data)
        self._handle_events()

    def eof_received(self) -> bool:
        """Answer a request that was complete before the EOF, then close."""
        self._http.receive_data(b"")
        self._handle_events()
        return False

    def _handle_events(self) -> None:
        while not self.transport.is_closing():
            try:
                event = self._http.next_event()
            except h11.RemoteProtocolError as exc:
                self._reject(exc.error_status_hint)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request, self._body_bytes = event, 0
                if self._http.they_are_waiting_for_100_continue:
                    self._send(h11.InformationalResponse(status_code=100, headers=[]))
            elif isinstance(event, h11.Data):
                self._body_bytes += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                delay = self._delay(cast(h11.Request, self._request))
                if delay > 0:  # answer later; meanwhile read nothing more (no pipelining past it)
                    self.transport.pause_reading()
                    asyncio.get_running_loop().call_later(delay, self._finish_delayed)
                    return
                self._respond()
                self._next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                self.transport.close()

    def _delay(self, request: h11.Request) -> float:
        """Seconds to wait before answering ``request`` (none unless a subclass says)."""
        return 0.0

    def _finish_delayed(self) -> None:
        if self.transport.is_closing():
            return
        self._respond()
        self._next_cycle()
        if not self.transport.is_closing():
            self.transport.resume_reading()
            self._handle_events()

    def _send(self, event: h11.Event) -> None:
        data = self._http.send(event)
        if data:
            self.transport.write(data)

    def _next_cycle(self) -> None:
        if self._http.our_state is h11.DONE and self._http.their_state is h11.DONE:
            self._http.start_next_cycle()
        else:
            self.transport.close()

    def _answer(self, request: h11.Request, target: str) -> Answer:
        """What one complete request gets."""
        raise NotImplementedError

    def _respond(self) -> None:
        request = cast(h11.Request, self._request)
        target = request.target.decode("latin-1")
        status, content_type, body, extra = self._answer(request, target)
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"server", SERVER_NAME),
            *extra,
        ]
        if status in NO_BODY_STATUSES:
            headers, body = [(b"server", SERVER_NAME)], b""
        # One write for head and body: two would meet Nagle's algorithm on the
        # second segment and the client's delayed ACK on the first, 40 ms a
        # response on a keep-alive connection.
        events: list[h11.Event] = [_response(status, headers)]
        if body and request.method != b"HEAD":
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        self.transport.write(b"".join(self._http.send(event) or b"" for event in events))

    def _reject(self, status: int) -> None:
        if self._http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            headers = [(b"content-length", b"0"), (b"connection", b"close"), (b"server", SERVER_NAME)]
            self._send(_response(status, headers))
            self._send(h11.EndOfMessage())
        self.transport.close()


class HttpResponder(H11Responder):
    """A pod's HTTP port: ``httpbin.PodAnswers`` over HTTP/1.1, or over HTTP/2
    (``h2responder``) when the client opens with the HTTP/2 preface.

    The first bytes decide, once there are enough to tell: a client with
    prior knowledge sends the 24-byte preface before anything else, and no
    HTTP/1.x request starts with it, so HTTP/1.1 clients see no change.
    """

    def __init__(self, pod: Pod, connections: Connections):
        super().__init__(connections)
        self._answers = httpbin.PodAnswers(pod)
        self._sniffing = True
        self._first = b""  # what was read while it could still be the preface
        self._h2: H2Session | None = None

    def data_received(self, data: bytes) -> None:
        if self._h2 is not None:
            self._h2.receive(data)
            return
        if self._sniffing:
            data, self._first = self._first + data, b""
            if len(data) < len(H2_PREFACE) and H2_PREFACE.startswith(data):
                self._first = data
                return
            self._sniffing = False
            if data.startswith(H2_PREFACE):
                self._h2 = H2Session(self.transport, self._answers, self.peer, self.local_port)
                self._h2.receive(data)
                return
        super().data_received(data)

    def eof_received(self) -> bool:
        if self._h2 is not None:
            return False
        if self._first:  # the client half-closed after part of the preface: HTTP/1.x says what that is
            self._sniffing, data, self._first = False, self._first, b""
            super().data_received(data)
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._h2 is not None:
            self._h2.close()
        super().connection_lost(exc)

    def _delay(self, request: h11.Request) -> float:
        return httpbin.delay(request.target.decode("latin-1"))

    def _answer(self, request: h11.Request, target: str) -> Answer:
        host = next((v for k, v in request.headers if k == b"host"), b"")
        return self._answers.answer(
            httpbin.Request(
                method=request.method.decode("latin-1"),
                target=target,
                host=host.decode("latin-1"),
                headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers if k != b"host"),
                body_bytes=self._body_bytes,
                client=self.peer,
                port=self.local_port,
                protocol=f"HTTP/{request.http_version.decode('ascii')}",
            )
        )


METRICS_PATHS = frozenset({"/metrics", "/stats/prometheus"})
PROMETHEUS_TEXT = b"text/plain; version=0.0.4; charset=utf-8"


class MetricsResponder(H11Responder):
    """ztunnel's metrics endpoint: ``GET /metrics`` or ``/stats/prometheus`` -> the exposition text."""

    def __init__(self, exposition: Callable[[], str], connections: Connections):
        super().__init__(connections)
        self._exposition = exposition

    def _answer(self, request: h11.Request, target: str) -> Answer:
        if target.split("?", 1)[0] not in METRICS_PATHS:
            return Answer(404, b"text/plain; charset=utf-8", b"not found\n")
        if request.method not in (b"GET", b"HEAD"):
            return Answer(405, b"text/plain; charset=utf-8", b"method not allowed\n")
        return Answer(200, PROMETHEUS_TEXT, self._exposition().encode())


class ExtAuthzResponder(H11Responder):
    """An external authorizer that behaves like Istio's sample (``samples/extauthz``):
    a request carrying ``x-ext-authz: allow`` is allowed (200), any other is
    denied (403, with the sample's body); either way the answer says so in
    ``x-ext-authz-check-result``, which a provider can pass on with
    ``headersToUpstreamOnAllow`` / ``headersToDownstreamOnDeny``."""

    def _answer(self, request: h11.Request, target: str) -> Answer:
        allowed = any(k == b"x-ext-authz" and v == b"allow" for k, v in request.headers)
        if allowed:
            return Answer(200, b"text/plain; charset=utf-8", b"", ((EXT_AUTHZ_RESULT, b"allowed"),))
        return Answer(403, b"text/plain; charset=utf-8", EXT_AUTHZ_DENIED, ((EXT_AUTHZ_RESULT, b"denied"),))


EXT_AUTHZ_RESULT = b"x-ext-authz-check-result"
EXT_AUTHZ_DENIED = b"denied by ext_authz for not found header `x-ext-authz: allow` in the request"


class UdpEcho(asyncio.DatagramProtocol):
    """Sends each datagram back to where it came from."""

    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


def stream_factory(responder: str, pod: Pod, connections: Connections) -> Callable[[], Connection]:
    """The protocol factory for a TCP port served by ``responder``."""
    if responder == "http":
        return lambda: HttpResponder(pod, connections)
    if responder == "tcp-echo":
        return lambda: TcpEcho(connections)
    if responder == "server-first":
        return lambda: ServerFirst(connections)
    if responder == "ext-authz":
        return lambda: ExtAuthzResponder(connections)
    raise ValueError(f"no TCP responder called {responder!r}")


def datagram_factory(responder: str) -> Callable[[], asyncio.DatagramProtocol]:
    """The protocol factory for a UDP port served by ``responder``."""
    if responder == "udp-echo":
        return UdpEcho
    raise ValueError(f"no UDP responder called {responder!r}")
