"""HTTP/2 in cleartext (h2c, prior knowledge) and gRPC health on a pod's HTTP port.

A proxy in front (a waypoint told the port speaks ``http2`` or ``grpc``, or a
client with prior knowledge) opens the connection with the HTTP/2 preface
instead of an HTTP/1.1 request; ``HttpResponder`` sees it and hands the
connection to an ``H2Session``.  Each stream is one request and gets the same
answer an HTTP/1.1 request would (``httpbin.PodAnswers``); a delayed stream
does not hold up the others.

gRPC (``content-type: application/grpc...``) gets gRPC answers, so a gRPC
client or health probe sees a healthy server: ``grpc.health.v1.Health/Check``
answers ``HealthCheckResponse{status: SERVING}``, hand-encoded (two bytes do
not justify a protobuf dependency); any other method is UNIMPLEMENTED.  Every
gRPC answer names the pod in its ``x-dpctl-pod`` metadata, so a test can tell
which backend a route sent a call to.  A
request that ``x-dpctl-fail-after`` makes fail gets UNAVAILABLE, the status a
gRPC client maps an HTTP 503 to, so retry policies see the same failure.

This is the asyncio ``Protocol`` counterpart of the L7 core's stream-based
codec (``dataplane.l7.http.h2``): the responders run as protocols, one
callback per read, and their answers are never awaited.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import quote

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded, StreamReset
from h2.exceptions import ProtocolError

from dataplane.agent import httpbin
from dataplane.agent.httpbin import NO_BODY_STATUSES, SERVER_NAME, Answer, PodAnswers

Headers = list[tuple[bytes, bytes]]

GRPC_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
POD_METADATA = b"x-dpctl-pod"  # response metadata naming the pod that answered a gRPC call, as the JSON body does for HTTP
SERVING = b"\x08\x01"  # HealthCheckResponse: field 1 (status), varint, 1 = SERVING
GRPC_OK, GRPC_INVALID_ARGUMENT, GRPC_UNIMPLEMENTED, GRPC_UNAVAILABLE = 0, 3, 12, 14
_GRPC_FAILURE = {503: GRPC_UNAVAILABLE, 400: GRPC_INVALID_ARGUMENT}


def grpc_frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message: not compressed (0), 4-byte big-endian length, the message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


@dataclass
class _Incoming:
    headers: Headers
    body_bytes: int = 0


@dataclass
class _Reply:
    """What one stream gets: HEADERS, then DATA, then trailers (END_STREAM on the last one sent)."""

    headers: Headers
    body: bytes = b""
    trailers: Headers = field(default_factory=list)


class H2Session:
    """The server side of one h2c connection, fed the bytes its ``HttpResponder`` reads.

    Bodies are sent within the client's flow-control windows; what does not
    fit waits for a WINDOW_UPDATE (or a SETTINGS change) to arrive.
    """

    def __init__(self, transport: asyncio.Transport, answers: PodAnswers, client: tuple[str, int], port: int):
        self._transport = transport
        self._answers = answers
        self._client, self._port = client, port
        self._h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self._incoming: dict[int, _Incoming] = {}
        self._outgoing: dict[int, _Reply] = {}  # replies whose body or trailers are not all sent yet
        self._delayed: dict[int, asyncio.TimerHandle] = {}
        self._h2.initiate_connection()
        self._flush()

    def receive(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except ProtocolError:  # h2 has queued its GOAWAY
            self._flush()
            self._transport.close()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                self._incoming[event.stream_id] = _Incoming(list(event.headers))
            elif isinstance(event, DataReceived):
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if event.stream_id in self._incoming:
                    self._incoming[event.stream_id].body_bytes += len(event.data)
            elif isinstance(event, StreamEnded) and event.stream_id in self._incoming:
                self._request_complete(event.stream_id, self._incoming.pop(event.stream_id))
            elif isinstance(event, StreamReset):
                self._forget(event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self._flush()
                self._transport.close()
                return
        self._send_bodies()  # windows may have grown (WINDOW_UPDATE, SETTINGS)
        self._flush()

    def close(self) -> None:
        """The connection is gone: drop the answers still waiting for their delay."""
        for timer in self._delayed.values():
            timer.cancel()
        self._delayed.clear()

    def _forget(self, stream_id: int) -> None:
        self._incoming.pop(stream_id, None)
        self._outgoing.pop(stream_id, None)
        timer = self._delayed.pop(stream_id, None)
        if timer is not None:
            timer.cancel()

    def _request_complete(self, stream_id: int, incoming: _Incoming) -> None:
        request = self._request(incoming)
        wait = httpbin.delay(request.target)
        if wait > 0:
            self._delayed[stream_id] = asyncio.get_running_loop().call_later(
                wait, self._delayed_reply, stream_id, request
            )
        else:
            self._reply(stream_id, request)

    def _delayed_reply(self, stream_id: int, request: httpbin.Request) -> None:
        del self._delayed[stream_id]
        if not self._transport.is_closing():
            self._reply(stream_id, request)
            self._flush()

    def _request(self, incoming: _Incoming) -> httpbin.Request:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in incoming.headers]
        pseudo = {k: v for k, v in headers if k.startswith(":")}
        return httpbin.Request(
            method=pseudo.get(":method", "GET"),
            target=pseudo.get(":path", "/"),
            host=pseudo.get(":authority", ""),
            headers=tuple((k, v) for k, v in headers if not k.startswith(":") and k != "host"),
            body_bytes=incoming.body_bytes,
            client=self._client,
            port=self._port,
            protocol="HTTP/2",
        )

    def _reply(self, stream_id: int, request: httpbin.Request) -> None:
        content_type = request.header("content-type") or ""
        if content_type.startswith("application/grpc"):
            reply = self._grpc(request)
        else:
            reply = _http_reply(self._answers.answer(request), request.method == "HEAD")
        end = not reply.body and not reply.trailers
        self._h2.send_headers(stream_id, reply.headers, end_stream=end)
        if not end:
            self._outgoing[stream_id] = reply
            self._send_bodies()

    def _grpc(self, request: httpbin.Request) -> _Reply:
        forced = self._answers.forced_status(request)
        if forced is not None:
            return _grpc_status_only(_GRPC_FAILURE[forced], f"{httpbin.FAIL_AFTER_HEADER}: answered {forced}")
        if request.method != "POST" or request.path != GRPC_HEALTH_CHECK:
            reply = _grpc_status_only(GRPC_UNIMPLEMENTED, f"unknown method {request.path}")
            reply.headers.append((POD_METADATA, self._answers.pod_key.encode()))
            return reply
        headers = [(b":status", b"200"), (b"content-type", b"application/grpc"), (b"server", SERVER_NAME),
                   (POD_METADATA, self._answers.pod_key.encode())]
        return _Reply(headers, grpc_frame(SERVING), [(b"grpc-status", str(GRPC_OK).encode())])

    def _send_bodies(self) -> None:
        for stream_id, reply in list(self._outgoing.items()):
            while reply.body:
                size = min(
                    len(reply.body), self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size
                )
                if size <= 0:
                    break
                self._h2.send_data(stream_id, reply.body[:size])
                reply.body = reply.body[size:]
            if reply.body:
                continue
            if reply.trailers:
                self._h2.send_headers(stream_id, reply.trailers, end_stream=True)
            else:
                self._h2.end_stream(stream_id)
            del self._outgoing[stream_id]

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and not self._transport.is_closing():
            self._transport.write(data)


def _http_reply(answer: Answer, head: bool) -> _Reply:
    if answer.status in NO_BODY_STATUSES:
        return _Reply([(b":status", str(answer.status).encode()), (b"server", SERVER_NAME)])
    headers = [
        (b":status", str(answer.status).encode()),
        (b"content-type", answer.content_type),
        (b"content-length", str(len(answer.body)).encode()),
        (b"server", SERVER_NAME),
        *answer.headers,
    ]
    return _Reply(headers, b"" if head else answer.body)


def _grpc_status_only(status: int, message: str) -> _Reply:
    """A gRPC "trailers-only" answer: one HEADERS frame carrying the status, no message."""
    headers = [
        (b":status", b"200"),
        (b"content-type", b"application/grpc"),
        (b"server", SERVER_NAME),
        (b"grpc-status", str(status).encode()),
        (b"grpc-message", quote(message, safe=" /:").encode()),  # gRPC percent-encodes it
    ]
    return _Reply(headers)
