"""Real traffic from inside emulation namespaces, for assertions.

Sockets are created inside the source namespace (``netns.socket_in``) and
used from the test thread, so each request is a real new connection through
the kernel, without a process per request.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from dataplane.kernel import netns


def http_get(src_netns: str, ip: str, port: int, path: str = "/", timeout: float = 5.0) -> dict[str, Any]:
    """One HTTP/1.0 request on a new TCP connection; the responder's JSON."""
    sock = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        sock.connect((ip, port))
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), head[:80]
    return dict(json.loads(body))


def pods_answering(src_netns: str, ip: str, port: int, count: int) -> list[str]:
    """Which pod answered each of ``count`` new connections."""
    return [str(http_get(src_netns, ip, port)["pod"]) for _ in range(count)]


def connect_error(src_netns: str, ip: str, port: int, timeout: float = 2.0) -> tuple[str, float]:
    """How a TCP connect ends: 'connected', 'refused' or 'timeout', and how long it took."""
    sock = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_STREAM)
    started = time.monotonic()
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect((ip, port))
            outcome = "connected"
        except ConnectionRefusedError:
            outcome = "refused"
        except TimeoutError:
            outcome = "timeout"
    return outcome, time.monotonic() - started


def udp_exchange(src_netns: str, ip: str, port: int, payload: bytes, sport: int = 0, timeout: float = 2.0) -> bytes | None:
    sock = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(timeout)
        if sport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", sport))
        sock.sendto(payload, (ip, port))
        try:
            data, _ = sock.recvfrom(65536)
        except TimeoutError:
            return None
    return data

