"""HTTP/2 (and gRPC over it) with h2, in cleartext with prior knowledge (h2c),
on asyncio streams: a server side for downstream connections, a client side
for upstream ones.

Inside a waypoint the bytes are already inside mutual TLS (HBONE), so HTTP/2
arrives as h2c: the client's first bytes are the connection preface.  Each
stream is one request; the server hands complete requests to a handler and
answers each stream when the handler returns, so slow requests do not hold
up the others on the connection.  Trailers are kept (gRPC's ``grpc-status``
travels there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import ProtocolError as H2ProtocolError

from dataplane.l7.http.messages import MAX_BODY, Headers, ProtocolError, Request, Response, without
from dataplane.l7.http.streams import Reader, Writer

READ_SIZE = 64 * 1024
Handler = Callable[[Request], Awaitable[Response]]
_PSEUDO = (":method", ":path", ":authority", ":scheme", ":status")


def _text(headers: object) -> Headers:
    return tuple(
        (k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
        for k, v in headers  # type: ignore[attr-defined]
    )


@dataclass
class _Incoming:
    headers: Headers = ()
    body: bytearray = field(default_factory=bytearray)
    trailers: Headers = ()


class _Peer:
    """What both sides share: the h2 state machine, flow-controlled sends, the read loop."""

    def __init__(self, client: bool, reader: Reader, writer: Writer):
        self.h2 = H2Connection(H2Configuration(client_side=client, header_encoding=None))
        self.reader = reader
        self.writer = writer
        self.window = asyncio.Event()
        self.closed = False

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def send_body(self, stream_id: int, body: bytes, end: bool) -> None:
        """``body`` within the peer's flow-control windows, then END_STREAM when ``end``."""
        view = memoryview(body)
        while view:
            size = min(len(view), self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if size <= 0:
                self.window.clear()
                await self.window.wait()
                if self.closed:
                    raise ConnectionError("connection closed while sending")
                continue
            self.h2.send_data(stream_id, bytes(view[:size]))
            view = view[size:]
            await self.flush()
        if end:
            self.h2.end_stream(stream_id)
            await self.flush()

    async def events(self) -> list[object]:
        data = await self.reader.read(READ_SIZE)
        if not data:
            self.closed = True
            self.window.set()
            return [ConnectionTerminated()]
        try:
            events = self.h2.receive_data(data)
        except H2ProtocolError as exc:
            raise ProtocolError(str(exc)) from exc
        for event in events:
            if isinstance(event, WindowUpdated):
                self.window.set()
        return list(events)


class Downstream(_Peer):
    """The server side of one HTTP/2 client connection."""

    def __init__(self, reader: Reader, writer: Writer, initial: bytes = b""):
        super().__init__(False, reader, writer)
        self._initial = initial
        self._streams: dict[int, _Incoming] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, handler: Handler) -> None:
        """Answer every request on the connection until the client closes it."""
        self.h2.initiate_connection()
        await self.flush()
        if self._initial:
            await self._dispatch(self.h2.receive_data(self._initial), handler)
        try:
            while not self.closed:
                await self._dispatch(await self.events(), handler)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _dispatch(self, events: list[object], handler: Handler) -> None:
        for event in events:
            if isinstance(event, RequestReceived):
                self._streams[event.stream_id] = _Incoming(_text(event.headers))
            elif isinstance(event, DataReceived):
                incoming = self._streams.get(event.stream_id)
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if incoming is not None:
                    incoming.body += event.data
                    if len(incoming.body) > MAX_BODY:
                        self.h2.reset_stream(event.stream_id)
                        del self._streams[event.stream_id]
            elif isinstance(event, TrailersReceived) and event.stream_id in self._streams:
                self._streams[event.stream_id].trailers = _text(event.headers)
            elif isinstance(event, StreamEnded) and event.stream_id in self._streams:
                task = asyncio.ensure_future(self._answer(event.stream_id, self._streams.pop(event.stream_id), handler))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif isinstance(event, StreamReset):
                self._streams.pop(event.stream_id, None)
            elif isinstance(event, ConnectionTerminated):
                self.closed = True
        await self.flush()

    async def _answer(self, stream_id: int, incoming: _Incoming, handler: Handler) -> None:
        pseudo = dict(h for h in incoming.headers if h[0].startswith(":"))
        request = Request(
            method=pseudo.get(":method", "GET"),
            target=pseudo.get(":path", "/"),
            authority=pseudo.get(":authority", ""),
            headers=without(tuple(h for h in incoming.headers if not h[0].startswith(":")), "content-length"),
            body=bytes(incoming.body),
            scheme=pseudo.get(":scheme", "http"),
            version="2",
        )
        response = await handler(request)
        if self.closed:
            return
        headers = [(":status", str(response.status)), *without(response.headers, "connection", "transfer-encoding")]
        has_body = bool(response.body) or bool(response.trailers)
        self.h2.send_headers(stream_id, headers, end_stream=not has_body)
        await self.flush()
        if response.body:
            await self.send_body(stream_id, response.body, end=not response.trailers)
        if response.trailers:
            self.h2.send_headers(stream_id, list(response.trailers), end_stream=True)
            await self.flush()


class Upstream(_Peer):
    """The client side of one h2c connection to a backend; requests may overlap."""

    def __init__(self, reader: Reader, writer: Writer):
        super().__init__(True, reader, writer)
        self._waiting: dict[int, tuple[_Incoming, asyncio.Future[Response]]] = {}
        self._reading: asyncio.Task[None] | None = None

    @property
    def reusable(self) -> bool:
        return not self.closed and self.h2.open_outbound_streams < self.h2.remote_settings.max_concurrent_streams

    async def exchange(self, request: Request) -> Response:
        if self._reading is None:
            self.h2.initiate_connection()
            await self.flush()
            self._reading = asyncio.ensure_future(self._read())
        stream_id = self.h2.get_next_available_stream_id()
        headers = [
            (":method", request.method), (":path", request.target), (":authority", request.authority),
            (":scheme", request.scheme), *without(request.headers, "connection", "transfer-encoding", "host"),
        ]
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[stream_id] = (_Incoming(), answer)
        self.h2.send_headers(stream_id, headers, end_stream=not request.body)
        await self.flush()
        if request.body:
            await self.send_body(stream_id, request.body, end=True)
        return await answer

    async def _read(self) -> None:
        try:
            while not self.closed:
                for event in await self.events():
                    self._on(event)
                await self.flush()
        except (ProtocolError, ConnectionError) as exc:
            self._fail(ConnectionError(str(exc)))
        else:
            self._fail(ConnectionError("connection closed by the backend"))

    def _on(self, event: object) -> None:
        if isinstance(event, ResponseReceived) and event.stream_id in self._waiting:
            self._waiting[event.stream_id][0].headers = _text(event.headers)
        elif isinstance(event, DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if event.stream_id in self._waiting:
                self._waiting[event.stream_id][0].body += event.data
        elif isinstance(event, TrailersReceived) and event.stream_id in self._waiting:
            self._waiting[event.stream_id][0].trailers = _text(event.headers)
        elif isinstance(event, StreamEnded) and event.stream_id in self._waiting:
            incoming, answer = self._waiting.pop(event.stream_id)
            status = int(dict(incoming.headers).get(":status", "0"))
            headers = tuple(h for h in incoming.headers if h[0] not in _PSEUDO)
            if not answer.done():
                answer.set_result(Response(status, headers, bytes(incoming.body), incoming.trailers))
        elif isinstance(event, StreamReset) and event.stream_id in self._waiting:
            _, answer = self._waiting.pop(event.stream_id)
            if not answer.done():
                answer.set_exception(ConnectionResetError(f"stream reset by the backend (error {event.error_code})"))
        elif isinstance(event, ConnectionTerminated):
            self.closed = True

    def _fail(self, error: ConnectionError) -> None:
        self.closed = True
        for _, answer in self._waiting.values():
            if not answer.done():
                answer.set_exception(error)
        self._waiting.clear()

    def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
        self.writer.close()
