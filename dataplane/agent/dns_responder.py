"""The ``dns`` responder: the cluster DNS, served on a CoreDNS pod's port 53.

Both transports answer from the node's ``ZoneSource``, which the agent points
at each plan it reconciles.  A CoreDNS pod whose shape did not change keeps
its sockets, and these protocol objects, across a reload, so they never hold
a zone of their own: every message is answered from the current one.

The answering itself is ``dataplane.clusterdns``; this module only moves
messages: one per UDP datagram, and over TCP (RFC 7766) each prefixed with
its 2-byte length, several per connection, answered in order.

A name outside the cluster's zones that a **private Route 53 hosted zone**
holds is answered from that zone, as CoreDNS's ``forward`` to the VPC
resolver (the VPC+2 address) would get it: the records ExternalDNS left in
``route53.json``, an ALIAS answered with its load balancer's addresses as
seen from the VPC (private ones for an internal load balancer, public ones
for an internet-facing one, which pods reach through the edge).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

import dnslib

from dataplane.agent.responders import Connection, Connections
from dataplane.clusterdns import Zone, answer, build_zone
from dataplane.route53.answer import View, zone_of
from dataplane.route53.answer import answer as route53_answer
from dataplane.route53.records import zones_from_json
from dataplane.state.layout import route53_path
from dataplane.topology.plan import Plan

RESPONDER = "dns"
_LENGTH = 2  # bytes of the TCP length prefix


class ZoneSource:
    """The cluster zone of the plan the agent serves now, shared by all DNS sockets of the node.

    The zone is built on the first query after each ``replace``, so an agent
    without a CoreDNS pod never builds one, and one with several builds it
    once per plan.
    """

    def __init__(self, state_dir: Path | None = None) -> None:
        self._state_dir = state_dir
        self._plan: Plan | None = None
        self._zone: Zone | None = None
        self._private: View | None = None  # the VPC's Route 53 private zones, if any

    def replace(self, plan: Plan) -> None:
        self._plan, self._zone = plan, None
        self._private = _private_view(self._state_dir, plan) if self._state_dir else None

    def answer(self, message: bytes, over_udp: bool) -> bytes | None:
        """From the cluster zone, or from a private hosted zone for a name one holds outside it."""
        zone = self.current()
        name = _question(message) if self._private is not None else None
        if self._private is not None and name is not None and not zone.is_authoritative(name) and zone_of(
            self._private.zones, name
        ):
            return route53_answer(self._private, message, over_udp=over_udp)
        return answer(zone, message, over_udp=over_udp)

    def current(self) -> Zone:
        if self._zone is None:
            if self._plan is None:
                raise RuntimeError("no plan yet: the agent replaces it before opening any pod")
            self._zone = build_zone(self._plan)
        return self._zone


class Answerer(Protocol):
    """What answers DNS messages: the cluster DNS (``ZoneSource``), or Route 53 for the outside client."""

    def answer(self, message: bytes, over_udp: bool) -> bytes | None: ...


class DnsDatagram(asyncio.DatagramProtocol):
    """DNS over UDP: each datagram a query, answered to its sender (truncated past 512 bytes or the EDNS size)."""

    transport: asyncio.DatagramTransport

    def __init__(self, zone: Answerer):
        self._zone = zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self._zone.answer(data, over_udp=True)
        if reply is not None:
            self.transport.sendto(reply, addr)


class DnsStream(Connection):
    """DNS over TCP: length-prefixed messages, possibly pipelined; a message
    that deserves no answer closes the connection, as it cannot be skipped."""

    def __init__(self, zone: Answerer, connections: Connections):
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
            reply = self._zone.answer(message, over_udp=False)
            if reply is None:
                self.transport.close()
                return
            self.transport.write(len(reply).to_bytes(_LENGTH, "big") + reply)

    def eof_received(self) -> bool:
        """The client is done: close our side once every answer has been sent."""
        return False


def _private_view(state_dir: Path, plan: Plan) -> View | None:
    try:
        zones = tuple(z for z in zones_from_json(route53_path(state_dir).read_text()) if z.private)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not zones:
        return None
    aliases = {lb.dns_name: tuple(n.public_ip or n.ip for n in lb.nodes) for lb in plan.load_balancers}
    return View(zones, aliases)


def _question(message: bytes) -> str | None:
    """The one name ``message`` asks about (lower case, no final dot), if it is a readable query."""
    try:
        query = dnslib.DNSRecord.parse(message)
    except dnslib.DNSError:
        return None
    return str(query.q.qname).rstrip(".").lower() if len(query.questions) == 1 else None


def datagram_factory(zone: Answerer) -> Callable[[], DnsDatagram]:
    return lambda: DnsDatagram(zone)


def stream_factory(zone: Answerer, connections: Connections) -> Callable[[], DnsStream]:
    return lambda: DnsStream(zone, connections)
