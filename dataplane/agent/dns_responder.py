"""The ``dns`` responder: the cluster DNS, served on a CoreDNS pod's port 53.

Both transports answer from the node's ``ZoneSource``, which the agent points
at each plan it reconciles.  A CoreDNS pod whose shape did not change keeps
its sockets, and these protocol objects, across a reload, so they never hold
a zone of their own: every message is answered from the current one.

The answering itself is ``dataplane.clusterdns``; this module only moves
messages: one per UDP datagram, and over TCP (RFC 7766) each prefixed with
its 2-byte length, several per connection, answered in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from dataplane.agent.responders import Connection, Connections
from dataplane.clusterdns import Zone, answer, build_zone
from dataplane.topology.plan import Plan

RESPONDER = "dns"
_LENGTH = 2  # bytes of the TCP length prefix


class ZoneSource:
    """The cluster zone of the plan the agent serves now, shared by all DNS sockets of the node.

    The zone is built on the first query after each ``replace``, so an agent
    without a CoreDNS pod never builds one, and one with several builds it
    once per plan.
    """

    def __init__(self) -> None:
        self._plan: Plan | None = None
        self._zone: Zone | None = None

    def replace(self, plan: Plan) -> None:
        self._plan, self._zone = plan, None

    def current(self) -> Zone:
        if self._zone is None:
            if self._plan is None:
                raise RuntimeError("no plan yet: the agent replaces it before opening any pod")
            self._zone = build_zone(self._plan)
        return self._zone


class DnsDatagram(asyncio.DatagramProtocol):
    """DNS over UDP: each datagram a query, answered to its sender (truncated past 512 bytes or the EDNS size)."""

    transport: asyncio.DatagramTransport

    def __init__(self, zone: ZoneSource):
        self._zone = zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = answer(self._zone.current(), data, over_udp=True)
        if reply is not None:
            self.transport.sendto(reply, addr)


class DnsStream(Connection):
    """DNS over TCP: length-prefixed messages, possibly pipelined; a message
    that deserves no answer closes the connection, as it cannot be skipped."""

    def __init__(self, zone: ZoneSource, connections: Connections):
        super().__init__(connections)
        self._zone = zone
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _LENGTH:
            end = _LENGTH + int.from_bytes(self._buffer[:_LENGTH], "big")
            if len(self._buffer) < end:
                return
            message = bytes(self._buffer[_LENGTH:end])
            del self._buffer[:end]
            reply = answer(self._zone.current(), message, over_udp=False)
            if reply is None:
                self.transport.close()
                return
            self.transport.write(len(reply).to_bytes(_LENGTH, "big") + reply)

    def eof_received(self) -> bool:
        """The client is done: close our side once every answer has been sent."""
        return False


def datagram_factory(zone: ZoneSource) -> Callable[[], DnsDatagram]:
    return lambda: DnsDatagram(zone)


def stream_factory(zone: ZoneSource, connections: Connections) -> Callable[[], DnsStream]:
    return lambda: DnsStream(zone, connections)
