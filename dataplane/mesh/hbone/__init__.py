"""HBONE: TCP tunnelled in HTTP/2 CONNECT streams over mutual TLS (port 15008).

``client.HbonePool`` opens CONNECT streams over pooled connections,
``server.HboneServer`` accepts them and dials the application (or hands
them to a handler), ``relay.relay`` copies bytes between a stream and a TCP
connection on either end, and ``streamio.stream_io`` lets code written for
asyncio streams (the waypoint's HTTP codecs) use a stream directly.  Both
sides take ready-made ``ssl.SSLContext`` objects (TLS 1.3, ALPN h2, peer
certificates required).  Importing the package installs the h2 repr
patch (``h2patch``), which the whole data path needs for throughput.
"""

from dataplane.mesh.hbone import h2patch
from dataplane.mesh.hbone.client import HbonePool, IdentityError
from dataplane.mesh.hbone.protocol import HboneError, Keepalive, Rejection
from dataplane.mesh.hbone.relay import RelayResult, relay
from dataplane.mesh.hbone.server import HboneServer, Tunnel
from dataplane.mesh.hbone.session import Stream, StreamResetError
from dataplane.mesh.hbone.streamio import stream_io

h2patch.apply()

__all__ = [
    "HboneError",
    "HbonePool",
    "HboneServer",
    "IdentityError",
    "Keepalive",
    "Rejection",
    "RelayResult",
    "Stream",
    "StreamResetError",
    "Tunnel",
    "relay",
    "stream_io",
]
