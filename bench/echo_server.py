"""A TCP echo server in a process of its own: the benchmark's application.

The node agent can serve a ``tcp-echo`` port itself, but the agent also runs
its node's ztunnel, in the same event loop: a round trip through the mesh
would then queue the application's echo behind the ztunnel's own work on one
core, which no real pod does (ztunnel and the application are separate
processes).  Every row of ``bench mesh`` talks to this process instead, so
the rows differ only by the path between the pods.

Usage: ``python echo_server.py PORT`` (inside the pod's namespace).  Echoes
every byte; the client's FIN closes the connection once all is written.
"""

from __future__ import annotations

import asyncio
import socket
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # close once the echo is flushed


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "0.0.0.0", port, backlog=socket.SOMAXCONN, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
