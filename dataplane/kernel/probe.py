"""One real probe from inside a namespace, from a fixed source port.

The tracing table has to know the probe's source port before the first
packet leaves, so the socket is made inside the source namespace and bound
first, and only sent later.  TCP: one connect with a short timeout (refused
and timed out are answers too, and the ones a trace is most often for); the
connection is then reset rather than closed, so nothing lingers on the port.
UDP: one datagram on a connected socket, so an ICMP port-unreachable comes
back as "refused".
"""

from __future__ import annotations

import errno
import random
import socket
import struct
import time
from collections.abc import Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from dataplane.kernel import netns

# Below the ephemeral range (32768-60999) and the NodePort range (30000-32767),
# so no other connection in the emulation takes the port while we trace it.
PORT_RANGE = range(20000, 30000)
PAYLOAD = b"dpctl trace\n"


@dataclass(frozen=True)
class ProbeResult:
    outcome: str  # connected | refused | timeout | unreachable | replied | no-reply
    detail: str
    seconds: float


class Probe:
    """A ``proto`` (tcp|udp) socket inside ``netns_name`` bound to a random free port."""

    def __init__(self, netns_name: str, proto: str, avoid: Collection[int] = ()):
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        self.proto = proto
        self.sock = netns.socket_in(netns_name, socket.AF_INET, kind)
        candidates = [p for p in PORT_RANGE if p not in avoid]
        random.shuffle(candidates)
        for port in candidates[:50]:
            try:
                self.sock.bind(("0.0.0.0", port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    self.sock.close()
                    raise
                continue
            self.port = port
            return
        self.sock.close()
        raise OSError(errno.EADDRINUSE, f"no free source port for the probe in {netns_name}")

    def send(self, ip: str, port: int, timeout: float) -> ProbeResult:
        started = time.monotonic()
        self.sock.settimeout(timeout)
        outcome, detail = self._tcp(ip, port) if self.proto == "tcp" else self._udp(ip, port)
        return ProbeResult(outcome, detail, round(time.monotonic() - started, 4))

    def _tcp(self, ip: str, port: int) -> tuple[str, str]:
        try:
            self.sock.connect((ip, port))
        except ConnectionRefusedError:
            return "refused", "connection refused (RST or ICMP port unreachable)"
        except TimeoutError:
            return "timeout", "no answer to the SYN"
        except OSError as error:
            if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return "unreachable", error.strerror or str(error)
            raise
        # Reset on close (SO_LINGER 0): no FIN handshake or TIME_WAIT to wait for.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return "connected", "handshake completed"

    def _udp(self, ip: str, port: int) -> tuple[str, str]:
        try:
            self.sock.connect((ip, port))
            self.sock.send(PAYLOAD)
            answer = self.sock.recv(65535)
        except ConnectionRefusedError:
            return "refused", "ICMP port unreachable"
        except TimeoutError:
            return "no-reply", "no datagram came back"
        except OSError as error:
            if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return "unreachable", error.strerror or str(error)
            raise
        return "replied", f"{len(answer)} bytes back"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
