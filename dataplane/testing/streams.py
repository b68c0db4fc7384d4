"""Many echo streams at once, every byte checked: a load test for any path.

Each stream connects, sends its own random payload, half-closes and reads
the echo to EOF; its outcome is ``"ok"`` when the SHA-256 of what came back
matches, else ``"corrupt (...)"`` or the error that ended it.  Sockets are
made by asyncio on the calling thread, so call ``echo_streams`` on a thread
inside the source namespace (``netns.NetnsThread``).  The mesh benchmark and
the mesh load test both use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os


async def echo_stream(host: str, port: int, payload: bytes, timeout: float) -> str:
    """One stream to an echo server at ``host``:``port``; its outcome."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as exc:
        return f"connect: {exc!r}"
    try:

        async def send() -> None:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        _, echoed = await asyncio.wait_for(asyncio.gather(send(), reader.read(-1)), timeout)
        if hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest():
            return "ok"
        return f"corrupt ({len(echoed)} of {len(payload)} bytes back)"
    except (TimeoutError, OSError) as exc:
        return repr(exc)
    finally:
        writer.close()


def echo_streams(host: str, port: int, streams: int, size: int, timeout: float = 60.0) -> list[str]:
    """``streams`` streams of ``size`` random bytes, all at once; one outcome each."""
    payloads = [os.urandom(size) for _ in range(streams)]

    async def run() -> list[str]:
        return list(await asyncio.gather(*(echo_stream(host, port, p, timeout) for p in payloads)))

    return asyncio.run(run())
