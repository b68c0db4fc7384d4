"""The built-in responders on real loopback sockets: HTTP/1.1, h2c, gRPC health, server-first.

No namespaces: each test serves one responder on 127.0.0.1 from its own
event loop and talks to it as a client would.  Each test names its own pod,
since a pod's request counters live as long as the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, ResponseReceived, StreamEnded, TrailersReceived
from h2.settings import SettingCodes

from dataplane.agent.h2responder import GRPC_HEALTH_CHECK, SERVING, grpc_frame
from dataplane.agent.httpbin import FAIL_AFTER_HEADER
from dataplane.agent.responders import GREETING, Connections, stream_factory
from dataplane.l7.http import h2 as l7h2
from dataplane.l7.http.messages import Request
from tests.unit.agent.samples import pod


def _run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, 10))


@contextlib.asynccontextmanager
async def _serving(responder: str, pod_name: str) -> AsyncIterator[int]:
    """Serve ``responder`` for a pod on a loopback port; yields the port."""
    connections = Connections()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(stream_factory(responder, pod(pod_name), connections), "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        connections.close()
        await server.wait_closed()


async def _http11(port: int, requests: list[bytes]) -> list[tuple[int, dict[str, Any]]]:
    """Send each request on one keep-alive connection; the status and JSON of each answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    for request in requests:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:"))
        answers.append((int(lines[0].split()[1]), json.loads(await reader.readexactly(length))))
    writer.close()
    return answers


def _get(path: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: web.test", *headers, "", ""]).encode()


@dataclass
class H2Answer:
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    trailers: dict[str, str] = field(default_factory=dict)


class H2Client:
    """A prior-knowledge h2c client: requests go out at once, answers are collected as streams end."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, window: int | None = None):
        self.reader, self.writer = reader, writer
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        if window is not None:
            self.h2.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.answers: dict[int, H2Answer] = {}
        self.ended: list[int] = []  # stream ids in the order their answers ended

    def request(self, method: str, path: str, *headers: tuple[str, str], body: bytes = b"") -> int:
        stream_id = self.h2.get_next_available_stream_id()
        pseudo = [(":method", method), (":path", path), (":authority", "web.test"), (":scheme", "http")]
        self.h2.send_headers(stream_id, [*pseudo, *headers], end_stream=not body)
        if body:
            self.h2.send_data(stream_id, body, end_stream=True)
        self.answers[stream_id] = H2Answer()
        return stream_id

    async def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())
        await self.writer.drain()

    async def collect(self) -> dict[int, H2Answer]:
        await self.flush()
        while len(self.ended) < len(self.answers):
            data = await self.reader.read(65536)
            assert data, "the server closed the connection"
            for event in self.h2.receive_data(data):
                if isinstance(event, ResponseReceived):
                    self.answers[event.stream_id].headers = dict(event.headers)
                elif isinstance(event, DataReceived):
                    self.answers[event.stream_id].body += event.data
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, TrailersReceived):
                    self.answers[event.stream_id].trailers = dict(event.headers)
                elif isinstance(event, StreamEnded):
                    self.ended.append(event.stream_id)
            await self.flush()
        return self.answers


@contextlib.asynccontextmanager
async def _h2(port: int, window: int | None = None) -> AsyncIterator[H2Client]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield H2Client(reader, writer, window)
    finally:
        writer.close()


def test_http11_reports_the_request_and_ip_adds_the_origin() -> None:
    async def test() -> None:
        async with _serving("http", "h1") as port:
            [(status, report), (_, ip), (teapot, _)] = await _http11(
                port, [_get("/headers", "X-Env: prod"), _get("/ip"), _get("/status/418")]
            )
        assert (status, report["pod"], report["path"], report["host"]) == (200, "h1", "/headers", "web.test")
        assert report["headers"] == {"x-env": "prod"} and "origin" not in report
        assert ip["origin"] == "127.0.0.1" and ip["client"].startswith("127.0.0.1:")
        assert teapot == 418

    _run(test())


def test_fail_after_counts_per_pod_and_per_n() -> None:
    async def test() -> None:
        async with _serving("http", "fails") as port:
            twice = [_get(f"/a{i}", f"{FAIL_AFTER_HEADER}: 2") for i in range(4)]
            answers = await _http11(port, [*twice, _get("/", f"{FAIL_AFTER_HEADER}: 3"), _get("/")])
            [(bad, _)] = await _http11(port, [_get("/", f"{FAIL_AFTER_HEADER}: soon")])
        assert [status for status, _ in answers] == [200, 200, 503, 503, 200, 200]
        assert answers[2][1]["pod"] == "fails"  # the failure still carries the report
        assert bad == 400

    _run(test())


def test_http11_client_that_sends_part_of_the_preface_then_eof_gets_400() -> None:
    async def test() -> None:
        async with _serving("http", "partial") as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"PRI * HT")
            writer.write_eof()
            answer = await reader.read()
            writer.close()
        assert answer.startswith(b"HTTP/1.1 400 ")

    _run(test())


def test_h2c_streams_get_the_report_and_a_delayed_one_holds_up_no_other() -> None:
    async def test() -> None:
        async with _serving("http", "h2") as port, _h2(port) as client:
            slow = client.request("GET", "/delay/0.3")
            teapot = client.request("GET", "/status/418", ("x-env", "prod"))
            head = client.request("HEAD", "/ip")
            started = time.monotonic()
            answers = await client.collect()
            elapsed = time.monotonic() - started
        assert client.ended[-1] == slow and elapsed >= 0.3
        assert answers[teapot].headers[":status"] == "418"
        report = json.loads(answers[teapot].body)
        assert (report["pod"], report["path"], report["host"], report["method"]) == (
            "h2",
            "/status/418",
            "web.test",
            "GET",
        )
        assert report["headers"] == {"x-env": "prod"}
        assert answers[head].body == b"" and int(answers[head].headers["content-length"]) > 0
        assert json.loads(answers[slow].body)["path"] == "/delay/0.3"

    _run(test())


def test_h2c_preface_split_across_reads_and_bodies_within_a_tiny_window() -> None:
    async def test() -> None:
        async with _serving("http", "h2-window") as port, _h2(port, window=16) as client:
            opening = client.h2.data_to_send()
            client.writer.write(opening[:5])  # "PRI *": still maybe HTTP/2
            await client.writer.drain()
            await asyncio.sleep(0.05)
            client.writer.write(opening[5:])
            stream = client.request("POST", "/upload", body=b"x" * 1000)
            answers = await client.collect()
        report = json.loads(answers[stream].body)
        assert (report["bodyBytes"], report["method"]) == (1000, "POST")
        assert len(answers[stream].body) == int(answers[stream].headers["content-length"]) > 16

    _run(test())


def test_grpc_health_check_is_serving_and_other_methods_are_unimplemented() -> None:
    async def test() -> None:
        grpc = ("content-type", "application/grpc")
        async with _serving("http", "grpc") as port, _h2(port) as client:
            check = client.request("POST", GRPC_HEALTH_CHECK, grpc, ("te", "trailers"), body=grpc_frame(b""))
            other = client.request("POST", "/shop.Cart/Add", grpc, body=grpc_frame(b""))
            failing = client.request("POST", GRPC_HEALTH_CHECK, grpc, (FAIL_AFTER_HEADER, "0"), body=grpc_frame(b""))
            answers = await client.collect()
        assert answers[check].headers[":status"] == "200"
        assert answers[check].headers["content-type"] == "application/grpc"
        assert answers[check].body == b"\x00\x00\x00\x00\x02\x08\x01" == grpc_frame(SERVING)
        assert answers[check].trailers == {"grpc-status": "0"}
        assert (answers[other].headers["grpc-status"], answers[other].body) == ("12", b"")
        assert answers[failing].headers["grpc-status"] == "14"

    _run(test())


def test_the_waypoints_h2_upstream_gets_http_and_grpc_answers() -> None:
    """What a waypoint forwarding an ``http2`` / ``grpc`` port sends the pod (``dataplane.l7.http.h2``)."""

    async def test() -> None:
        async with _serving("http", "behind-waypoint") as port:
            upstream = l7h2.Upstream(*await asyncio.open_connection("127.0.0.1", port))
            plain = await upstream.exchange(Request("GET", "/status/503", "web.shop"))
            grpc_headers = (("content-type", "application/grpc"), ("te", "trailers"))
            health = await upstream.exchange(
                Request("POST", GRPC_HEALTH_CHECK, "web.shop", grpc_headers, grpc_frame(b""))
            )
            upstream.close()
        assert (plain.status, json.loads(plain.body)["host"]) == (503, "web.shop")
        assert (health.status, health.body, health.trailers) == (200, grpc_frame(SERVING), (("grpc-status", "0"),))

    _run(test())


def test_server_first_greets_before_the_client_speaks_then_echoes() -> None:
    async def test() -> None:
        async with _serving("server-first", "db") as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            greeting = await reader.readexactly(len(GREETING))
            writer.write(b"ping")
            writer.write_eof()
            echoed = await reader.read()
            writer.close()
        assert greeting == GREETING
        assert int.from_bytes(greeting[:3], "little") == len(greeting) - 4 and greeting[3] == 0  # length, sequence
        assert greeting[4] == 10 and greeting[5:18] == b"8.0.36-dpctl\0"  # protocol v10, server version
        assert echoed == b"ping"

    _run(test())
