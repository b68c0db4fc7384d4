"""HTTP/1.1 with h11, on asyncio streams: a server side for downstream
connections and a client side for upstream ones, both keeping the
connection alive between messages when the peer allows it.

h11 does the parsing and the framing (Content-Length or chunked, keep-alive
and ``Connection: close``); this module only moves bytes between it and the
stream and turns its events into ``messages``.
"""

from __future__ import annotations

from http import HTTPStatus

import h11

from dataplane.l7.http.messages import MAX_BODY, Headers, ProtocolError, Request, Response, header, without
from dataplane.l7.http.streams import Reader, Writer

READ_SIZE = 64 * 1024


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _text(headers: list[tuple[bytes, bytes]]) -> Headers:
    return tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers)


def _wire(headers: Headers) -> list[tuple[str, str]]:
    """Headers as given, but framing and Host, which h11 and this module write themselves."""
    return [(k, v) for k, v in without(headers, "content-length", "transfer-encoding", "host")]


class _Connection:
    def __init__(self, role: type[h11.CLIENT | h11.SERVER], reader: Reader, writer: Writer):
        self.conn = h11.Connection(role, max_incomplete_event_size=MAX_BODY)
        self.reader = reader
        self.writer = writer

    async def _event(self) -> object:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise ProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(READ_SIZE)
            self.conn.receive_data(data)  # b"" marks the peer's EOF

    async def _body(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await self._event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY:
                    raise ProtocolError(f"body larger than {MAX_BODY} bytes")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:
                raise ProtocolError(f"connection ended inside a message ({type(event).__name__})")

    async def _send(self, *events: object) -> None:
        """One write for the whole message: separate segments for head and body
        would wait on Nagle's algorithm and the peer's delayed ACK (40 ms)."""
        self.writer.write(b"".join(self.conn.send(event) or b"" for event in events))
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class Downstream(_Connection):
    """The server side of one client connection: requests in, responses out."""

    def __init__(
        self, reader: Reader, writer: Writer, scheme: str = "http", initial: bytes = b""
    ):
        super().__init__(h11.SERVER, reader, writer)
        self.scheme = scheme
        if initial:  # bytes a proxy already read to tell the protocol
            self.conn.receive_data(initial)

    async def next_request(self) -> Request | None:
        """The next request, or None once the client is done with the connection."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        elif self.conn.our_state is not h11.IDLE:
            return None  # the previous exchange closed the connection
        event = await self._event()
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):
            raise ProtocolError(f"expected a request, got {type(event).__name__}")
        headers = _text(event.headers)
        host = next((v for k, v in headers if k == "host"), "")
        body = await self._body()
        return Request(
            method=event.method.decode("ascii"),
            target=event.target.decode("latin-1"),
            authority=host,
            headers=without(headers, "host", "content-length", "transfer-encoding"),
            body=body,
            scheme=self.scheme,
            version=event.http_version.decode("ascii"),
        )

    async def respond(self, response: Response, head_only: bool = False) -> None:
        """Send ``response``; ``head_only`` for a HEAD request (headers, no body)."""
        headers = _wire(response.headers)
        bodiless = head_only or response.status in (204, 304)
        if not bodiless:
            headers.append(("content-length", str(len(response.body))))
        await self._send(
            h11.Response(status_code=response.status, headers=headers, reason=_reason(response.status)),
            *((h11.Data(data=response.body),) if response.body and not bodiless else ()),
            h11.EndOfMessage(),
        )

    @property
    def keeps_alive(self) -> bool:
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE


class Upstream(_Connection):
    """The client side of one connection to a backend, reused while it stays alive."""

    def __init__(self, reader: Reader, writer: Writer):
        super().__init__(h11.CLIENT, reader, writer)

    @property
    def reusable(self) -> bool:
        return self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE

    async def exchange(self, request: Request) -> Response:
        """Send ``request`` and read its response; the connection is ready for
        the next one afterwards unless either side asked to close it."""
        headers = [("host", request.authority), *_wire(request.headers)]
        if request.body or request.method in ("POST", "PUT", "PATCH") or header(request.headers, "content-length"):
            headers.append(("content-length", str(len(request.body))))  # asked for (ext-authz sends 0): framed here
        await self._send(
            h11.Request(method=request.method, target=request.target, headers=headers),
            *((h11.Data(data=request.body),) if request.body else ()),
            h11.EndOfMessage(),
        )
        event = await self._event()
        while isinstance(event, h11.InformationalResponse):
            event = await self._event()
        if not isinstance(event, h11.Response):
            raise ProtocolError(f"expected a response, got {type(event).__name__}")
        body = await self._body()
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return Response(event.status_code, without(_text(event.headers), "content-length", "transfer-encoding"), body)
