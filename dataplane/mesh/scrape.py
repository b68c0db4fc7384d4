"""Reading a node's ztunnel metrics from outside the node agent.

The agent serves them on 127.0.0.1:15020 of the *node's* namespace only, so a
scrape makes its socket inside that namespace (``netns.socket_in``) and asks
``GET /stats/prometheus`` over HTTP/1.1 (h11).  ``dpctl mesh metrics`` and
``dpctl mesh graph`` both come through here.
"""

from __future__ import annotations

import socket

import h11

from dataplane.errors import DpctlError
from dataplane.kernel import netns
from dataplane.mesh.constants import METRICS_PORT

SCRAPE_TIMEOUT = 5.0
PATH = "/stats/prometheus"


class ScrapeError(DpctlError):
    """The node's metrics endpoint could not be read."""


def scrape(node_netns: str, timeout: float = SCRAPE_TIMEOUT) -> str:
    """The exposition text of the ztunnel in the node namespace ``node_netns``."""
    where = f"127.0.0.1:{METRICS_PORT} in {node_netns}"
    conn = h11.Connection(h11.CLIENT)
    status = 0
    body = bytearray()
    try:
        with netns.socket_in(node_netns, socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", METRICS_PORT))
            request = h11.Request(
                method="GET", target=PATH, headers=[("host", f"127.0.0.1:{METRICS_PORT}"), ("connection", "close")]
            )
            sock.sendall(conn.send(request) + conn.send(h11.EndOfMessage()))
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(sock.recv(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
    except (OSError, h11.ProtocolError) as exc:
        raise ScrapeError(f"cannot scrape ztunnel metrics at {where}: {exc}") from exc
    if status != 200:
        raise ScrapeError(f"ztunnel metrics at {where} answered HTTP {status}")
    return body.decode()
