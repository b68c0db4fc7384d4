"""Health checks as an ALB node sends them, against a local HTTP server (no root needed)."""

from __future__ import annotations

import asyncio

from dataplane.edge.albmodel import HealthCheck
from dataplane.lb import checker
from dataplane.lb.health import HEALTHY, UNHEALTHY, TargetHealth

Address = tuple[str, int]


async def _server(seen: list[tuple[str, str]]) -> tuple[asyncio.AbstractServer, Address]:
    """Answers ``/ok`` 200, ``/broken`` 500, and never answers ``/hang``; records (request line, host)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode().strip()
        headers = []
        while (header := await reader.readline()) not in (b"\r\n", b""):
            headers.append(header.decode().strip())
        seen.append((line, next(h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("host:"))))
        if "/hang" in line:
            await asyncio.sleep(10)
        status = "200 OK" if "/ok" in line else "500 Internal Server Error"
        writer.write(f"HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[:2]


async def _connect(address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*address)


def test_a_check_is_a_get_judged_by_the_success_codes_within_the_timeout() -> None:
    async def scenario() -> None:
        seen: list[tuple[str, str]] = []
        server, address = await _server(seen)
        async with server:
            results = [
                await checker.probe(_connect, address, HealthCheck(path=path, timeout=0.3, success_codes=codes))
                for path, codes in (("/ok", ((200, 200),)), ("/broken", ((200, 200),)),
                                    ("/broken", ((200, 499), (500, 500))), ("/hang", ((200, 200),)))
            ]
        assert results == [True, False, True, False]
        assert seen[0] == ("GET /ok HTTP/1.1", f"{address[0]}:{address[1]}")

    asyncio.run(scenario())


def test_a_refused_connection_or_no_port_to_check_fails() -> None:
    async def scenario() -> None:
        server, address = await _server([])
        server.close()
        await server.wait_closed()
        assert not await checker.probe(_connect, address, HealthCheck(timeout=0.3))
        assert not await checker.probe(_connect, None, HealthCheck(timeout=0.3))

    asyncio.run(scenario())


def test_rounds_every_interval_feed_the_state_machine() -> None:
    async def scenario() -> None:
        server, address = await _server([])
        up, down = ("10.0.0.1", 80), ("10.0.0.2", 80)
        health = TargetHealth(HealthCheck(path="/ok", interval=0.05, timeout=0.3), 0.0)
        health.register((up, down))
        async with server:
            running = asyncio.create_task(checker.run(health, lambda: {up: address, down: None}, _connect))
            await asyncio.sleep(0.2)  # rounds at 0, 0.05, 0.1, 0.15
            running.cancel()
        assert health.states() == {up: HEALTHY, down: UNHEALTHY}

    asyncio.run(scenario())
