"""HTTP/1.1 requests on keep-alive connections made inside a namespace.

A waypoint balances per request, not per connection, so the l7 check (and
the tests, through ``dataplane.testing.emulation``) send many requests on
one connection to see its weights.  ``keepalive_requests`` insists on a
single connection; ``answers`` is the check's form: a connection the proxy
closes is reopened, and a request that fails becomes its error text, so a
broken route shows up in the counts instead of ending the run.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Sequence
from typing import Any, NamedTuple

from dataplane.kernel import netns


class HttpAnswer(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Call = tuple[str, str, dict[str, str]]  # method, path and query, headers


def _connect(netns_name: str, ip: str, port: int, host: str, timeout: float) -> http.client.HTTPConnection:
    sock = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((ip, port))
    except BaseException:
        sock.close()
        raise
    connection = http.client.HTTPConnection(host, timeout=timeout)
    connection.sock = sock
    return connection


def _exchange(connection: http.client.HTTPConnection, call: Call) -> tuple[HttpAnswer, bool]:
    """One request and its whole answer; True when the server said it closes the connection."""
    method, path, headers = call
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    return HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, body), response.will_close


def keepalive_requests(
    netns_name: str, ip: str, port: int, calls: Sequence[Call], host: str | None = None, timeout: float = 10
) -> list[HttpAnswer]:
    """``calls`` one after another on one keep-alive HTTP/1.1 connection made inside
    ``netns_name`` (so a waypoint's per-request balancing shows); ``host`` is the
    Host header (default ``ip:port``)."""
    connection = _connect(netns_name, ip, port, host or f"{ip}:{port}", timeout)
    try:
        return [_exchange(connection, call)[0] for call in calls]
    finally:
        connection.close()


def answers(
    netns_name: str, ip: str, port: int, calls: Sequence[Call], host: str, timeout: float = 10
) -> list[HttpAnswer | str]:
    """Each call's answer, or the error it met (as text), on keep-alive
    connections inside ``netns_name``: a new one only when the last was closed."""
    out: list[HttpAnswer | str] = []
    connection: http.client.HTTPConnection | None = None
    try:
        for call in calls:
            try:
                if connection is None:
                    connection = _connect(netns_name, ip, port, host, timeout)
                answer, closes = _exchange(connection, call)
                out.append(answer)
            except (OSError, http.client.HTTPException) as error:
                out.append(f"{type(error).__name__}: {error}")
                closes = True
            if closes and connection is not None:
                connection.close()
                connection = None
    finally:
        if connection is not None:
            connection.close()
    return out
