"""One client connection served: requests in, the handler's responses out, until the client is done.

The same loop for every L7 proxy of the emulation (waypoints, ALB nodes,
ingress gateways): the caller knows which HTTP version the connection
speaks (from ALPN, its first bytes or the port), and any bytes it already
read to tell are handed over, so none are lost -- or it passes
``http2=None`` and the first bytes decide, as Envoy's ``AUTO`` codec does
on a cleartext listener: the HTTP/2 preface means h2c with prior knowledge.
"""

from __future__ import annotations

from dataplane.l7.http import h1, h2
from dataplane.l7.http.h2 import Handler
from dataplane.l7.http.streams import Reader, Writer

H2_PREFACE_START = b"PRI"  # of "PRI * HTTP/2.0": no HTTP/1.1 method starts so


async def serve(
    reader: Reader, writer: Writer, handler: Handler, *, http2: bool | None, scheme: str = "http",
    initial: bytes = b"",
) -> None:
    if http2 is None:  # HTTP is client-first: waiting for three bytes cannot hang
        while len(initial) < len(H2_PREFACE_START) and (chunk := await reader.read(len(H2_PREFACE_START))):
            initial += chunk
        http2 = initial.startswith(H2_PREFACE_START)
    if http2:
        await h2.Downstream(reader, writer, initial).serve(handler)
        return
    downstream = h1.Downstream(reader, writer, scheme=scheme, initial=initial)
    while (request := await downstream.next_request()) is not None:
        await downstream.respond(await handler(request), head_only=request.method == "HEAD")
