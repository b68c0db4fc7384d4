"""What the codecs need of a connection: the part of asyncio's stream interface they use.

asyncio's own streams have it (the ALB's connections), and so do the HBONE
stream adapters a waypoint passes (``mesh.hbone.streamio``), which is how
HTTP runs directly on a CONNECT stream with no socket pair in between.
"""

from __future__ import annotations

from typing import Protocol


class Reader(Protocol):
    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes, ``b""`` at the peer's end of stream."""
        ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...
