"""One HTTP request or response, whatever the version it travelled in.

Bodies are whole byte strings, bounded by ``MAX_BODY``: the emulated
workloads exchange small JSON documents, and a buffered body is what retries,
mirrors and fault injection need anyway (a retried request must be sent
again byte for byte).  Header names are lower case, as HTTP/2 writes them and
as routing compares them; order and repeats are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

MAX_BODY = 16 * 1024 * 1024

Headers = tuple[tuple[str, str], ...]


def header(headers: Headers, name: str) -> str | None:
    """The first value of ``name`` (lower case), or None."""
    return next((v for k, v in headers if k == name), None)


def without(headers: Headers, *names: str) -> Headers:
    return tuple((k, v) for k, v in headers if k not in names)


HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer")


def end_to_end(headers: Headers) -> Headers:
    """What a proxy forwards: ``headers`` without the hop-by-hop ones (RFC 9110 §7.6.1),
    including any that ``Connection`` names -- but ``te: trailers``, which gRPC
    needs end to end (RFC 9113 §8.2.2 allows it)."""
    named = {n.strip().lower() for k, v in headers if k == "connection" for n in v.split(",")}
    return tuple(
        (k, v) for k, v in headers
        if (k not in HOP_BY_HOP and k not in named) or (k == "te" and v.strip().lower() == "trailers")
    )


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as on the request line (":path" in HTTP/2)
    authority: str  # Host (":authority")
    headers: Headers = ()  # everything but Host and the framing headers
    body: bytes = b""
    scheme: str = "http"
    version: str = "1.1"  # "1.0" | "1.1" | "2"

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def with_headers(self, headers: Headers) -> Request:
        return replace(self, headers=headers)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Headers = ()
    body: bytes = b""
    trailers: Headers = field(default=())  # gRPC's grpc-status travels here

    def with_headers(self, headers: Headers) -> Response:
        return replace(self, headers=headers)


class ProtocolError(Exception):
    """The peer broke HTTP: the connection cannot carry another message."""
