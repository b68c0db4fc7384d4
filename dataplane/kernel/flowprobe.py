"""One real TCP exchange from inside a namespace: connect, send, read the answer, close.

``dpctl trace --live`` follows such a connection through the mesh's proxies,
whose access logs and node links show what they did with it.  Unlike the
trace's probe (a bare handshake, reset at once) this is what an application
does: it sends its bytes, reads the answer and closes with a FIN, so every
proxy on the way completes the connection and writes its access-log line.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from dataplane.kernel import netns

_CHUNK = 65536


@dataclass(frozen=True)
class Exchange:
    client: tuple[str, int]  # the socket's own address (what the capture and the proxies see as source)
    outcome: str  # answered | closed | refused | reset | timeout | the error's text
    answer: bytes
    seconds: float


def exchange(netns_name: str, ip: str, port: int, payload: bytes, timeout: float, until_eof: bool) -> Exchange:
    """Send ``payload`` to ``ip:port`` from ``netns_name``; read until the peer closes
    (``until_eof``) or until the first bytes come back, at most ``timeout`` seconds."""
    started = time.monotonic()
    sock = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
    client: tuple[str, int] = ("", 0)
    answer = b""
    try:
        sock.settimeout(timeout)
        sock.connect((ip, port))
        client = sock.getsockname()
        sock.sendall(payload)
        while chunk := sock.recv(_CHUNK):
            answer += chunk
            if not until_eof:
                break
        outcome = "answered" if answer else "closed"
    except ConnectionRefusedError:
        outcome = "refused"
    except ConnectionResetError:
        outcome = "reset"
    except TimeoutError:
        outcome = "timeout" if not answer else "answered"
    except OSError as error:
        outcome = error.strerror or str(error)
    finally:
        sock.close()
    return Exchange(client, outcome, answer, round(time.monotonic() - started, 4))
