"""One HTTP/2 connection over mutual TLS, and the CONNECT streams it carries.

Both ends of HBONE use the same machinery: ``H2Session`` is an asyncio
``Protocol`` on top of asyncio's own TLS transport (``create_connection`` /
``create_server`` with ``ssl=``), which runs each handshake in its own protocol
(so a peer that stalls its handshake holds only its own connection, cut by
``ssl_handshake_timeout``) and needs no hand-managed MemoryBIO.

Two rules from ``shared/reference/hbone-python-perf.md`` shape it:

* The TLS socket is always read.  ``data_received`` never waits and the
  transport is never paused, so two peers whose writes are both blocked
  cannot deadlock; what a peer may make us buffer is bounded by HTTP/2 flow
  control instead, because received DATA is acknowledged (``WINDOW_UPDATE``)
  only once its consumer took it (see ``Stream.read``).
* Senders wait for both the HTTP/2 window and the transport's write buffer
  (``pause_writing``), so a slow peer pushes back on whoever feeds the stream.

``Stream`` and ``H2Session`` stay in one module although it runs past 400
lines: they are two halves of one state machine (a stream's reads acknowledge
the session's windows, the session's events resolve the streams' waiters),
and apart each would reach into the other's private state.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Callable
from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    PingAckReceived,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import H2Error, ProtocolError, StreamClosedError
from h2.settings import Settings

from dataplane.mesh.hbone.protocol import (
    CONNECTION_WINDOW,
    FLUSH_BYTES,
    KEEPALIVE,
    SEND_FRAME_SIZE,
    Keepalive,
    local_settings,
)

_DEFAULT_WINDOW = 65535
_PING_DATA = b"dpctl-ka"  # any 8 bytes: only one PING is ever outstanding
Headers = list[tuple[str, str]]


class StreamResetError(ConnectionResetError):
    """The stream was reset (RST_STREAM, either side) or its connection died."""

    def __init__(self, code: int, detail: str = ""):
        self.code = code
        try:
            name = ErrorCodes(code).name
        except ValueError:
            name = str(code)
        super().__init__(f"stream reset: {name}" + (f" ({detail})" if detail else ""))


def _text_headers(headers: object) -> Headers:
    """h2's headers as ``(str, str)`` pairs (they are already text: ``header_encoding`` is set)."""
    return [(str(name), str(value)) for name, value in headers]  # type: ignore[attr-defined]


def spiffe_id(cert: dict[str, Any] | None) -> str | None:
    """The SPIFFE URI SAN of a peer certificate as ``getpeercert()`` returns it."""
    for kind, value in (cert or {}).get("subjectAltName", ()):
        if kind == "URI" and value.startswith("spiffe://"):
            return str(value)
    return None


class Stream:
    """One CONNECT tunnel: a byte stream in each direction, FIN and RST carried.

    ``read`` returns received DATA chunk by chunk and ``b""`` after
    END_STREAM; ``write`` waits for flow-control credit; ``write_eof`` sends
    END_STREAM; ``reset`` sends RST_STREAM.  A chunk returned by ``read`` is
    acknowledged to the peer at the next ``read`` call: a relay that writes
    the chunk and drains its writer before reading again therefore opens the
    window only as fast as the far side really takes bytes.
    """

    def __init__(self, session: H2Session, stream_id: int):
        self.session = session
        self.id = stream_id
        self.response: asyncio.Future[Headers] = asyncio.get_running_loop().create_future()
        self._chunks: collections.deque[tuple[bytes, int]] = collections.deque()
        self._unacked = 0
        self._readable = asyncio.Event()
        self._window = asyncio.Event()
        self._remote_ended = False
        self._local_ended = False
        self._error: StreamResetError | None = None

    @property
    def remote_ended(self) -> bool:
        """The peer sent END_STREAM (what it sent before may still be unread)."""
        return self._remote_ended

    @property
    def done(self) -> bool:
        return self._error is not None or (self._remote_ended and self._local_ended)

    async def read(self) -> bytes:
        """The next chunk of DATA, ``b""`` at END_STREAM; raises ``StreamResetError``."""
        self._acknowledge()
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._remote_ended:
                return b""
            self._readable.clear()
            await self._readable.wait()
        if self._error is not None:
            raise self._error
        data, self._unacked = self._chunks.popleft()
        return data

    async def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            size = await self.session.send_allowance(self)
            self.session.send_data(self, view[:size])
            view = view[size:]

    def write_nowait(self, data: bytes | memoryview) -> int:
        """Send as much of ``data`` as flow control and the transport allow now;
        returns how many bytes went (0 on a reset stream: ``write`` raises)."""
        return self.session.send_now(self, data)

    def write_eof(self) -> None:
        """Half-close: END_STREAM, the HTTP/2 form of a FIN."""
        if not self._local_ended and self._error is None:
            self._local_ended = True
            self.session.end_stream(self)

    def reset(self, code: int = ErrorCodes.CANCEL) -> None:
        """Abort both directions with RST_STREAM ``code``."""
        if not self.done:
            self.session.reset_stream(self, code)
            self.on_reset(code, "reset locally")

    # Called by the session, from data_received.
    def on_data(self, data: bytes, flow_controlled_length: int) -> None:
        self._chunks.append((data, flow_controlled_length))
        self._readable.set()

    def on_end(self) -> None:
        self._remote_ended = True
        self._readable.set()

    def on_reset(self, code: int, detail: str = "") -> None:
        if self._error is None:
            self._error = StreamResetError(code, detail)
        # Bytes nobody will read still count against the connection window.
        self._unacked += sum(length for _, length in self._chunks)
        self._chunks.clear()
        self._acknowledge()
        if not self.response.done():
            self.response.set_exception(self._error)
            self.response.exception()  # mark it retrieved: on the server side nobody awaits it
        self._readable.set()
        self._window.set()

    def on_window(self) -> None:
        self._window.set()

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def _acknowledge(self) -> None:
        if self._unacked:
            unacked, self._unacked = self._unacked, 0
            self.session.acknowledge(self, unacked)


class H2Session(asyncio.Protocol):
    """An HTTP/2 connection over an asyncio TLS transport (client or server side)."""

    def __init__(
        self,
        client: bool,
        on_request: Callable[[Stream, Headers], None] | None = None,
        keepalive: Keepalive = KEEPALIVE,
    ):
        self.client = client
        self._on_request = on_request
        self.conn = H2Connection(H2Configuration(client_side=client, header_encoding="utf-8"))
        # Our settings apply from the first byte (the peer cannot use them
        # before it reads our SETTINGS anyway); h2 copied the frame size limit
        # from its defaults at construction, so it is set again.
        self.conn.local_settings = Settings(client=client, initial_values=local_settings(client))
        self.conn.max_inbound_frame_size = self.conn.local_settings.max_frame_size
        self.streams: dict[int, Stream] = {}
        self.transport: asyncio.Transport | None = None
        self.peer_identity: str | None = None
        self.tls_object: ssl.SSLObject | None = None  # for peer checks after the handshake
        self.peer_address: tuple[str, int] | None = None
        self.going_away = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._error: ConnectionError | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._keepalive = keepalive
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._last_received = 0.0
        self._ping_sent: float | None = None  # when the unanswered PING left
        self._flush_handle: asyncio.Handle | None = None
        self._queued = 0  # DATA bytes queued in h2 since the last flush

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer_address = transport.get_extra_info("peername")
        tls: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if tls is None or tls.selected_alpn_protocol() != "h2":
            self._fail(ConnectionError("peer did not negotiate ALPN h2 over TLS"))
            return
        self.tls_object = tls
        self.peer_identity = spiffe_id(tls.getpeercert())
        refusal = self.check_peer()
        if refusal is not None:
            self._fail(refusal)
            return
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)
        self.flush()
        self._last_received = asyncio.get_running_loop().time()
        self._schedule_keepalive(self._keepalive.interval)

    def data_received(self, data: bytes) -> None:
        self._last_received = asyncio.get_running_loop().time()
        try:
            events = self.conn.receive_data(data)
        except ProtocolError as exc:
            self.flush()
            self._fail(ConnectionError(f"HTTP/2 protocol error: {exc}"))
            return
        for event in events:
            self._dispatch(event)
        self.flush_soon()

    def eof_received(self) -> bool:
        self._fail(ConnectionError("peer closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection lost: {exc}" if exc else "connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # Used by streams and by the client/server.
    def flush(self) -> None:
        """Write what h2 has queued, now."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._queued = 0
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def flush_soon(self) -> None:
        """Write what h2 has queued once this event-loop step is over.

        Every ``transport.write`` is a TLS record and a ``send``, the largest
        cost of a proxy carrying small messages: deferred, the frames of
        every stream that ran in this step (the responses to a burst of
        requests, a DATA frame and the WINDOW_UPDATE after it) share one.
        Bulk data does not wait: past ``FLUSH_BYTES`` queued, the flush is
        immediate, so the transport's ``pause_writing`` still pushes back.
        """
        if self._queued >= FLUSH_BYTES:
            self.flush()
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    @property
    def usable(self) -> bool:
        return self._error is None and not self.going_away

    def open_stream(self, headers: Headers) -> Stream:
        """Client side: send a CONNECT request on a new stream."""
        if self._error is not None:
            raise self._error
        stream = Stream(self, self.conn.get_next_available_stream_id())
        self.streams[stream.id] = stream
        self.conn.send_headers(stream.id, headers)
        self.flush_soon()
        return stream

    def respond(self, stream: Stream, status: int) -> None:
        """Server side: answer a CONNECT.

        Anything but 200 ends the stream at once: HEADERS with END_STREAM, then
        RST_STREAM(NO_ERROR) so the client's unread request side is dropped too,
        as hyper does when a response ends before its request.
        """
        refused = status != 200
        try:
            self.conn.send_headers(stream.id, [(":status", str(status))], end_stream=refused)
        except H2Error as exc:
            stream.on_reset(ErrorCodes.STREAM_CLOSED, str(exc))
            self._forget(stream)
        else:
            if refused:
                stream.reset(ErrorCodes.NO_ERROR)
        self.flush_soon()

    async def send_allowance(self, stream: Stream) -> int:
        """Wait until ``stream`` may send; returns how many bytes (one frame at most)."""
        while True:
            stream.check()
            if self._error is not None:
                raise self._error
            if not self._writable.is_set():
                await self._writable.wait()
                continue
            try:
                window = self.conn.local_flow_control_window(stream.id)
            except StreamClosedError as exc:
                stream.on_reset(ErrorCodes.STREAM_CLOSED, str(exc))
                continue
            if window > 0:
                return min(window, self.conn.max_outbound_frame_size, SEND_FRAME_SIZE)
            stream._window.clear()
            await stream._window.wait()

    def send_now(self, stream: Stream, data: bytes | memoryview) -> int:
        """``send_allowance`` without waiting: as many frames as may go at once."""
        view = memoryview(data)
        sent = 0
        while sent < len(view) and stream._error is None and self._error is None and self._writable.is_set():
            try:
                window = self.conn.local_flow_control_window(stream.id)
            except StreamClosedError:
                break
            size = min(len(view) - sent, window, self.conn.max_outbound_frame_size, SEND_FRAME_SIZE)
            if size <= 0:
                break
            self.send_data(stream, view[sent:sent + size])
            sent += size
        return sent

    def send_data(self, stream: Stream, data: memoryview) -> None:
        try:
            self.conn.send_data(stream.id, data)
        except H2Error as exc:
            stream.on_reset(ErrorCodes.STREAM_CLOSED, str(exc))
            self._forget(stream)
        self._queued += len(data)
        self.flush_soon()

    def end_stream(self, stream: Stream) -> None:
        try:
            self.conn.end_stream(stream.id)
        except H2Error as exc:
            stream.on_reset(ErrorCodes.STREAM_CLOSED, str(exc))
        self.flush_soon()
        if stream.done:
            self._forget(stream)

    def reset_stream(self, stream: Stream, code: int) -> None:
        try:
            self.conn.reset_stream(stream.id, code)
        except H2Error:
            pass  # already closed: nothing left to reset
        self.flush_soon()
        self._forget(stream)

    def acknowledge(self, stream: Stream, size: int) -> None:
        if self._error is None:
            self.conn.acknowledge_received_data(size, stream.id)
            self.flush_soon()

    def close(self) -> None:
        """Graceful GOAWAY, then close the transport (pending writes are flushed)."""
        if self.transport is not None and not self.transport.is_closing():
            self.going_away = True
            self.conn.close_connection()
            self.flush()
            self.transport.close()

    # Internals.
    def _dispatch(self, event: object) -> None:
        if isinstance(event, RequestReceived):
            if self._on_request is None:
                self.conn.reset_stream(event.stream_id, ErrorCodes.REFUSED_STREAM)
                return
            opened = Stream(self, event.stream_id)
            self.streams[opened.id] = opened
            if event.stream_ended:
                opened.on_end()
            self._on_request(opened, _text_headers(event.headers))
            return
        if isinstance(event, WindowUpdated):
            targets = self.streams.values() if event.stream_id == 0 else [self.streams.get(event.stream_id)]
            for target in targets:
                if target is not None:
                    target.on_window()
            return
        if isinstance(event, PingAckReceived):
            self._ping_sent = None
            return
        if isinstance(event, RemoteSettingsChanged):
            for each in self.streams.values():
                each.on_window()
            return
        if isinstance(event, ConnectionTerminated):
            self.going_away = True
            for stream_id, refused in list(self.streams.items()):
                if event.last_stream_id is not None and stream_id > event.last_stream_id:
                    refused.on_reset(ErrorCodes.REFUSED_STREAM, "GOAWAY")
                    self._forget(refused)
            return
        event_stream_id: int | None = getattr(event, "stream_id", None)
        stream: Stream | None = self.streams.get(event_stream_id) if event_stream_id else None
        if isinstance(event, DataReceived):
            if stream is None:  # late DATA for a stream we dropped: give the window back
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            else:
                stream.on_data(event.data, event.flow_controlled_length)
        elif stream is None:
            return
        elif isinstance(event, ResponseReceived):
            if not stream.response.done():
                stream.response.set_result(_text_headers(event.headers))
        elif isinstance(event, StreamEnded):
            stream.on_end()
            if stream.done:
                self._forget(stream)
        elif isinstance(event, StreamReset):
            stream.on_reset(event.error_code, "by peer")
            self._forget(stream)

    def _forget(self, stream: Stream) -> None:
        if self.streams.get(stream.id) is stream:
            del self.streams[stream.id]
            self.on_stream_closed(stream)

    @property
    def error(self) -> ConnectionError | None:
        return self._error

    def check_peer(self) -> ConnectionError | None:
        """Hook: refuse the peer (its identity is known) before any HTTP/2 byte is sent."""
        return None

    def on_stream_closed(self, stream: Stream) -> None:
        """Hook for the pool (a stream slot became free)."""

    def _schedule_keepalive(self, delay: float) -> None:
        self._keepalive_timer = asyncio.get_running_loop().call_later(delay, self._keepalive_tick)

    def _keepalive_tick(self) -> None:
        """PING a connection quiet for ``interval``; drop it when a PING stays unanswered for ``timeout``.

        Not after a GOAWAY either way: h2 refuses to send on a closing
        connection, and the transport is on its way out anyway."""
        if self._error is not None or self.going_away:
            return
        now = asyncio.get_running_loop().time()
        if self._ping_sent is not None:
            waited = now - self._ping_sent
            if waited >= self._keepalive.timeout:
                self._fail(ConnectionError(f"keepalive timeout: no PING acknowledgement in {self._keepalive.timeout:g} s"))
                if self.transport is not None:
                    self.transport.abort()  # a vanished peer would never finish a TLS close
                return
            self._schedule_keepalive(self._keepalive.timeout - waited)
            return
        quiet = now - self._last_received
        if quiet < self._keepalive.interval:
            self._schedule_keepalive(self._keepalive.interval - quiet)
            return
        self.conn.ping(_PING_DATA)
        self.flush()
        self._ping_sent = now
        self._schedule_keepalive(min(self._keepalive.interval, self._keepalive.timeout))

    def _fail(self, error: ConnectionError) -> None:
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
        if self._error is None:
            self._error = error
        for stream in list(self.streams.values()):
            stream.on_reset(ErrorCodes.CONNECT_ERROR, str(error))
        self.streams.clear()
        self._writable.set()
        if self.transport is not None and not self.transport.is_closing():
            self.flush()  # frames queued for the end of this step (``flush_soon``) still go out before the close
            self.transport.close()
