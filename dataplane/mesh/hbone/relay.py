"""Copy bytes between a CONNECT stream and a plain TCP connection, both ways.

The same relay runs on both ends of a tunnel (client: the application's
captured socket; server: the dialled application).  FIN becomes END_STREAM
and back; a reset on either side becomes a reset on the other: RST_STREAM
CONNECT_ERROR for a TCP reset (RFC 9113 §8.5), a TCP RST (SO_LINGER 0) for a
RST_STREAM.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass

from h2.errors import ErrorCodes

from dataplane.mesh.hbone.protocol import SEND_FRAME_SIZE
from dataplane.mesh.hbone.session import Stream, StreamResetError

# One read from the TCP side becomes at most one DATA frame.
READ_SIZE = SEND_FRAME_SIZE


@dataclass
class RelayResult:
    """Bytes moved (for metrics) and whether the tunnel ended in a reset."""

    to_stream: int = 0
    from_stream: int = 0
    reset: bool = False


def abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close a TCP connection with RST, the TCP form of RST_STREAM."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def relay(stream: Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> RelayResult:
    """Run both directions until both ended (FIN/END_STREAM) or either side reset.

    TCP → stream reads only when the previous chunk was given flow-control
    credit (``Stream.write`` waits), so an exhausted window stops reading the
    TCP socket.  Stream → TCP drains the writer before the next ``read``, which
    is what acknowledges the chunk to the peer.
    """
    result = RelayResult()

    async def to_stream() -> None:
        while data := await reader.read(READ_SIZE):
            await stream.write(data)
            result.to_stream += len(data)
        stream.write_eof()

    async def from_stream() -> None:
        while data := await stream.read():
            writer.write(data)
            await writer.drain()
            result.from_stream += len(data)
        if writer.can_write_eof() and not writer.transport.is_closing():
            writer.write_eof()

    tasks = [asyncio.create_task(to_stream()), asyncio.create_task(from_stream())]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        stream.reset(ErrorCodes.CANCEL)
        abort_with_rst(writer)
        raise
    for task in pending:
        task.cancel()
    errors = [error for task in done if not task.cancelled() and (error := task.exception()) is not None]
    if not errors:
        writer.close()
        return result
    result.reset = True
    if isinstance(errors[0], StreamResetError):
        abort_with_rst(writer)
    else:  # the TCP side failed: reset, refused write, broken pipe
        stream.reset(ErrorCodes.CONNECT_ERROR)
        abort_with_rst(writer)
    await asyncio.gather(*pending, return_exceptions=True)
    if not isinstance(errors[0], OSError):
        raise errors[0]  # a bug, not a network event: after cleaning up, let it show
    return result
