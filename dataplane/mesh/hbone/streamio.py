"""A CONNECT ``Stream`` seen through the asyncio reader/writer interface.

The waypoint's HTTP codecs and its TCP splice are written against asyncio
streams (``read(n)``; ``write``, ``drain``, ``write_eof``, ``close``).  They
used to reach an HBONE stream through a socket pair and a relay task per
direction: four kernel crossings and as many task wake-ups for every
request and response through a waypoint, the largest cost in its profile.
These adapters give them the stream itself, with the same semantics:

* ``read`` returns what the peer sent, ``b""`` after END_STREAM, and raises
  ``StreamResetError`` (a ``ConnectionResetError``) after RST_STREAM.  A
  chunk is acknowledged to the peer (``Stream.read``) once it is consumed.
* ``write`` never waits: it sends what the HTTP/2 window and the transport
  allow at once and keeps the rest, which ``drain`` sends as credit comes
  (so a slow peer pushes back on the writer, as a full socket buffer does).
* ``write_eof`` is END_STREAM after the kept bytes; ``abort`` (or
  ``transport.abort()``, what ``relay.abort_with_rst`` calls) is
  RST_STREAM(CONNECT_ERROR), the reset a TCP RST becomes (RFC 9113 §8.5).
* ``close`` ends our side, and, as a closed socket answers late data with
  RST, resets the stream if the peer still sends after it: until then the
  stream lives on (a task waits for the peer's END_STREAM).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Coroutine
from typing import Any

from h2.errors import ErrorCodes

from dataplane.mesh.hbone.session import Stream

_closing: set[asyncio.Task[None]] = set()  # streams closed locally, waiting for the peer's END_STREAM


class StreamReader:
    def __init__(self, stream: Stream):
        self._stream = stream
        self._chunk = b""
        self._offset = 0  # of the unread part of ``_chunk`` (a read asked for less than a DATA frame)

    async def read(self, n: int = -1) -> bytes:
        if self._offset >= len(self._chunk):
            self._chunk, self._offset = await self._stream.read(), 0
        start = self._offset
        self._offset = len(self._chunk) if n < 0 else min(len(self._chunk), start + n)
        return self._chunk if start == 0 and self._offset == len(self._chunk) else self._chunk[start:self._offset]


class StreamWriter:
    def __init__(self, stream: Stream):
        self._stream = stream
        self._pending: collections.deque[memoryview] = collections.deque()  # bytes the window did not allow yet
        self._lock = asyncio.Lock()  # one drain sends at a time, so bytes leave in order
        self._eof = False
        self._closed = False
        self.transport = self  # ``abort_with_rst`` and ``is_closing`` checks look there

    def write(self, data: bytes) -> None:
        if self._eof:
            raise RuntimeError("write() after write_eof()")
        if not data:
            return
        sent = 0 if self._pending else self._stream.write_nowait(data)
        if sent < len(data):
            self._pending.append(memoryview(data)[sent:])

    async def drain(self) -> None:
        """Wait until every written byte went to HTTP/2; raises if the stream was reset."""
        if self._pending:
            async with self._lock:
                while self._pending:
                    await self._stream.write(self._pending[0])
                    self._pending.popleft()
        self._stream.check()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        if self._pending:
            self._spawn(self._finish(wait_for_peer=False))
        else:
            self._stream.write_eof()

    def is_closing(self) -> bool:
        return self._closed or self._stream.done

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default  # no socket of its own: ``abort_with_rst`` then just calls ``abort``

    def abort(self) -> None:
        self._closed = True
        self._pending.clear()
        self._stream.reset(ErrorCodes.CONNECT_ERROR)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._stream.done:
            return
        if not self._pending and self._stream.remote_ended:  # the usual end: the peer finished first
            self._eof = True
            self._stream.write_eof()
            return
        self._spawn(self._finish(wait_for_peer=True))

    async def _finish(self, wait_for_peer: bool) -> None:
        try:
            await self.drain()
            self._stream.write_eof()
            if wait_for_peer and await self._stream.read():
                self._stream.reset(ErrorCodes.CONNECT_ERROR)
        except ConnectionError:
            pass  # reset meanwhile: nothing left to end

    @staticmethod
    def _spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        _closing.add(task)
        task.add_done_callback(_closing.discard)


def stream_io(stream: Stream) -> tuple[StreamReader, StreamWriter]:
    """The reader and writer of one CONNECT stream (both ends: accepted or opened)."""
    return StreamReader(stream), StreamWriter(stream)
