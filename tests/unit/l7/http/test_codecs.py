"""HTTP/1.1 and HTTP/2 on real loopback sockets: keep-alive, bodies, framing,
overlapping HTTP/2 streams, trailers, flow control, and the upstream pool's limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from dataplane.l7.http import h1, h2
from dataplane.l7.http.messages import Request, Response, end_to_end
from dataplane.l7.http.pool import ConnectionPool, Limits, Overflow

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _server(serve: Serve) -> tuple[asyncio.Server, tuple[str, int]]:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[:2]


async def _echo_h1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    downstream = h1.Downstream(reader, writer)
    while (request := await downstream.next_request()) is not None:
        if request.target.startswith("/sleep"):
            await asyncio.sleep(0.2)
        headers = (("x-method", request.method), ("x-target", request.target), ("x-host", request.authority))
        await downstream.respond(Response(200, headers, request.body or b"empty"), head_only=request.method == "HEAD")
    writer.close()


def test_http1_keeps_one_connection_alive_across_requests_and_bodies() -> None:
    async def run() -> list[tuple[int, str | None, bytes]]:
        server, address = await _server(_echo_h1)
        reader, writer = await asyncio.open_connection(*address)
        upstream = h1.Upstream(reader, writer)
        answers = []
        for request in (Request("GET", "/a?x=1", "web"), Request("POST", "/b", "web", body=b"x" * 300_000),
                        Request("HEAD", "/c", "web")):
            response = await upstream.exchange(request)
            answers.append((response.status, dict(response.headers).get("x-target"), response.body[:5]))
            assert upstream.reusable
        upstream.close()
        server.close()
        return answers

    assert asyncio.run(run()) == [(200, "/a?x=1", b"empty"), (200, "/b", b"xxxxx"), (200, "/c", b"")]


def test_http1_a_server_asking_to_close_ends_reuse_and_headers_pass_as_given() -> None:
    async def run() -> Response:
        seen: list[Request] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            downstream = h1.Downstream(reader, writer)
            request = await downstream.next_request()
            assert request is not None
            seen.append(request)
            await downstream.respond(Response(200, (("connection", "close"), ("x-kept", "1")), b"ok"))
            writer.close()

        server, address = await _server(serve)
        upstream = h1.Upstream(*await asyncio.open_connection(*address))
        response = await upstream.exchange(Request("GET", "/", "web", (("connection", "keep-alive"), ("x-a", "1"))))
        server.close()
        assert seen[0].headers == (("connection", "keep-alive"), ("x-a", "1"))  # the proxy, not the codec, strips
        assert not upstream.reusable  # the server closed it
        return response

    response = asyncio.run(run())
    assert response.headers == (("connection", "close"), ("x-kept", "1")) and response.body == b"ok"


def test_a_proxy_forwards_only_end_to_end_headers() -> None:
    headers = (("connection", "close, x-secret"), ("x-secret", "1"), ("keep-alive", "5"), ("te", "gzip"), ("x-a", "1"))
    assert end_to_end(headers) == (("x-a", "1"),)
    assert end_to_end((("te", "trailers"),)) == (("te", "trailers"),)  # gRPC's


async def _echo_h2(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async def handler(request: Request) -> Response:
        if request.target == "/slow":
            await asyncio.sleep(0.3)
        trailers = (("grpc-status", "0"),) if request.headers and dict(request.headers).get("te") == "trailers" else ()
        return Response(200, (("x-target", request.target),), request.body or b"empty", trailers)

    await h2.Downstream(reader, writer).serve(handler)
    writer.close()


def test_http2_streams_overlap_and_large_bodies_respect_flow_control() -> None:
    async def run() -> list[Response]:
        server, address = await _server(_echo_h2)
        upstream = h2.Upstream(*await asyncio.open_connection(*address))
        started = asyncio.get_running_loop().time()
        answers = await asyncio.gather(
            upstream.exchange(Request("GET", "/slow", "svc")),
            upstream.exchange(Request("POST", "/big", "svc", body=b"y" * 1_000_000)),
            upstream.exchange(Request("POST", "/grpc", "svc", (("te", "trailers"),), b"msg")),
        )
        fast = asyncio.get_running_loop().time() - started
        upstream.close()
        server.close()
        assert fast < 1.0  # the slow stream did not hold the others up
        return list(answers)

    slow, big, grpc = asyncio.run(run())
    assert (slow.status, slow.body) == (200, b"empty")
    assert big.body == b"y" * 1_000_000
    assert grpc.trailers == (("grpc-status", "0"),) and grpc.body == b"msg"


def test_http2_prior_knowledge_bytes_already_read_are_not_lost() -> None:
    async def run() -> Response:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sniffed = await reader.read(24)  # what a proxy reads to tell HTTP/2 from anything else
            await h2.Downstream(reader, writer, initial=sniffed).serve(lambda r: _ok(r))
            writer.close()

        async def _ok(request: Request) -> Response:
            return Response(204)

        server, address = await _server(serve)
        upstream = h2.Upstream(*await asyncio.open_connection(*address))
        response = await upstream.exchange(Request("GET", "/", "svc"))
        upstream.close()
        server.close()
        return response

    assert asyncio.run(run()).status == 204


def test_the_pool_reuses_idle_connections_and_overflows_past_its_limits() -> None:
    async def run() -> tuple[int, list[object]]:
        opened = 0

        async def connect(address: tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            nonlocal opened
            opened += 1
            return await asyncio.open_connection(*address)

        server, address = await _server(_echo_h1)
        pool = ConnectionPool(connect)
        for _ in range(3):
            assert (await pool.exchange(address, Request("GET", "/", "web"))).status == 200
        reused = opened
        limited = ConnectionPool(connect, Limits(max_connections=1, max_pending=1))
        outcomes = await asyncio.gather(
            *(limited.exchange(address, Request("GET", "/sleep", "web")) for _ in range(3)), return_exceptions=True
        )
        pool.close()
        limited.close()
        server.close()
        return reused, [type(o).__name__ if isinstance(o, Exception) else o.status for o in outcomes]

    reused, outcomes = asyncio.run(run())
    assert reused == 1  # three requests, one connection
    assert sorted(map(str, outcomes)) == ["200", "200", "Overflow"]  # one in flight, one pending, one refused
    assert Overflow.__name__ == "Overflow"


def test_an_http2_pool_speaks_h2c_and_keeps_its_connection() -> None:
    async def run() -> tuple[int, list[int]]:
        opened = 0

        async def connect(address: tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            nonlocal opened
            opened += 1
            return await asyncio.open_connection(*address)

        server, address = await _server(_echo_h2)  # answers HTTP/2 only
        pool = ConnectionPool(connect, http2=True)
        statuses = [(await pool.exchange(address, Request("GET", "/", "svc"))).status for _ in range(3)]
        pool.close()
        server.close()
        return opened, statuses

    assert asyncio.run(run()) == (1, [200, 200, 200])


def test_a_stale_idle_connection_is_replaced_transparently() -> None:
    async def run() -> list[int]:
        async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            downstream = h1.Downstream(reader, writer)
            request = await downstream.next_request()
            if request is not None:
                await downstream.respond(Response(200, (), b"ok"))
            writer.close()  # a server that closes kept-alive connections between requests

        server, address = await _server(once)
        pool = ConnectionPool(lambda a: asyncio.open_connection(*a))
        statuses = []
        for _ in range(3):
            statuses.append((await pool.exchange(address, Request("GET", "/", "web"))).status)
            await asyncio.sleep(0.05)
        server.close()
        return statuses

    assert asyncio.run(run()) == [200, 200, 200]


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses_carry_no_body(status: int) -> None:
    async def run() -> Response:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            downstream = h1.Downstream(reader, writer)
            await downstream.next_request()
            await downstream.respond(Response(status, (), b"ignored"))
            writer.close()

        server, address = await _server(serve)
        upstream = h1.Upstream(*await asyncio.open_connection(*address))
        response = await upstream.exchange(Request("GET", "/", "web"))
        server.close()
        return response

    response = asyncio.run(run())
    assert (response.status, response.body) == (status, b"")
