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

A name in the on-premises site's domain is forwarded, as Route 53
Resolver's forwarding rule sends it through its outbound endpoint: the
query leaves from the endpoint's address in its namespace, crosses the VPN
to the site's server, and its answer is relayed (SERVFAIL when none comes
within ``FORWARD_TIMEOUT``).  Over TCP, answers keep the order of their
queries while a forwarded one is under way.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import dnslib

from dataplane.agent.responders import Connection, Connections
from dataplane.clusterdns import Zone, answer, build_zone
from dataplane.kernel import netns
from dataplane.route53.answer import View, zone_of
from dataplane.route53.answer import answer as route53_answer
from dataplane.route53.records import zones_from_json
from dataplane.state.layout import route53_path
from dataplane.topology.plan import Plan
from dataplane.vpc.network import read as read_network

_RUNNING: set[asyncio.Future[None]] = set()  # forwarded UDP queries under way (asyncio keeps weak references)

RESPONDER = "dns"
PORT = 53
FORWARD_TIMEOUT = 2.0
_LENGTH = 2  # bytes of the TCP length prefix


@dataclass(frozen=True)
class Forwarding:
    """Where a query goes instead of being answered here: ``server`` port 53, sent from ``source`` in ``netns``."""

    netns: str
    source: str
    server: str


async def forward(target: Forwarding, message: bytes) -> bytes | None:
    """The server's answer to ``message``, or SERVFAIL when it cannot be asked or does not answer."""
    loop = asyncio.get_running_loop()
    try:
        sock = await loop.run_in_executor(None, netns.socket_in, target.netns, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return _servfail(message)
    with sock:
        sock.setblocking(False)
        try:
            sock.bind((target.source, 0))
            await loop.sock_connect(sock, (target.server, PORT))
            await loop.sock_sendall(sock, message)
            return await asyncio.wait_for(loop.sock_recv(sock, 65535), FORWARD_TIMEOUT)
        except (OSError, TimeoutError):
            return _servfail(message)


def _servfail(message: bytes) -> bytes | None:
    try:
        query = dnslib.DNSRecord.parse(message)
    except dnslib.DNSError:
        return None
    reply = query.reply()
    reply.header.rcode = dnslib.RCODE.SERVFAIL
    return bytes(reply.pack())


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
        self._site: tuple[str, Forwarding] | None = None  # the on-premises domain and where it is forwarded

    def replace(self, plan: Plan) -> None:
        self._plan, self._zone = plan, None
        self._private = private_view(self._state_dir, plan) if self._state_dir else None
        self._site = site_forwarding(plan)

    def forwarding(self, message: bytes) -> Forwarding | None:
        """The outbound endpoint's forwarding for a name in the on-premises domain; None: answered here."""
        if self._site is None:
            return None
        domain, target = self._site
        name = question(message)
        inside = name is not None and (name == domain or name.endswith("." + domain))
        return target if inside and not self.current().is_authoritative(name or "") else None

    def answer(self, message: bytes, over_udp: bool) -> bytes | None:
        """From the cluster zone, or from a private hosted zone for a name one holds outside it."""
        zone = self.current()
        name = question(message) if self._private is not None else None
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
    """What answers DNS messages: the cluster DNS (``ZoneSource``), Route 53 for the outside client, the
    on-premises server and the Resolver's inbound endpoint (``agent/resolver.py``)."""

    def answer(self, message: bytes, over_udp: bool) -> bytes | None: ...

    def forwarding(self, message: bytes) -> Forwarding | None: ...


def site_forwarding(plan: Plan) -> tuple[str, Forwarding] | None:
    """(the site's domain, the outbound endpoint's forwarding to the site's server), if the plan has them."""
    if not plan.vpc_network:
        return None
    network = read_network(plan.vpc_network)
    site, resolver = network.on_premises, network.resolver
    if site is None or resolver is None or site.domain is None or site.dns_server is None:
        return None
    return site.domain, Forwarding(resolver.netns, resolver.outbound_ip, site.dns_server)


class DnsDatagram(asyncio.DatagramProtocol):
    """DNS over UDP: each datagram a query, answered to its sender (truncated past 512 bytes or the EDNS size)."""

    transport: asyncio.DatagramTransport

    def __init__(self, zone: Answerer):
        self._zone = zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        target = self._zone.forwarding(data)
        if target is not None:
            task = asyncio.ensure_future(self._relay(target, data, addr))
            _RUNNING.add(task)
            task.add_done_callback(_RUNNING.discard)
            return
        reply = self._zone.answer(data, over_udp=True)
        if reply is not None:
            self.transport.sendto(reply, addr)

    async def _relay(self, target: Forwarding, data: bytes, addr: tuple[str, int]) -> None:
        reply = await forward(target, data)
        if reply is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


class DnsStream(Connection):
    """DNS over TCP: length-prefixed messages, possibly pipelined; a message
    that deserves no answer closes the connection, as it cannot be skipped."""

    def __init__(self, zone: Answerer, connections: Connections):
        super().__init__(connections)
        self._zone = zone
        self._buffer = bytearray()
        self._last: asyncio.Future[None] | None = None  # the latest answer still being produced

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _LENGTH:
            end = _LENGTH + int.from_bytes(self._buffer[:_LENGTH], "big")
            if len(self._buffer) < end:
                return
            message = bytes(self._buffer[_LENGTH:end])
            del self._buffer[:end]
            target = self._zone.forwarding(message)
            if target is not None or (self._last is not None and not self._last.done()):
                self._last = asyncio.ensure_future(self._in_order(self._last, target, message))
                continue
            if not self._write(self._zone.answer(message, over_udp=False)):
                return

    async def _in_order(self, before: asyncio.Future[None] | None, target: Forwarding | None, message: bytes) -> None:
        """Answer ``message`` (forwarded, or from here) after the answers before it were written."""
        reply = await forward(target, message) if target is not None else self._zone.answer(message, over_udp=False)
        if before is not None:
            await before
        if not self.transport.is_closing():
            self._write(reply)

    def _write(self, reply: bytes | None) -> bool:
        """Send one answer; a message that deserves none closes the connection (whether it stays open)."""
        if reply is None:
            self.transport.close()
            return False
        self.transport.write(len(reply).to_bytes(_LENGTH, "big") + reply)
        return True

    def eof_received(self) -> bool:
        """The client is done: close our side once every answer has been sent."""
        return False


def private_view(state_dir: Path, plan: Plan) -> View | None:
    try:
        zones = tuple(z for z in zones_from_json(route53_path(state_dir).read_text()) if z.private)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not zones:
        return None
    aliases = {lb.dns_name: tuple(n.public_ip or n.ip for n in lb.nodes) for lb in plan.load_balancers}
    return View(zones, aliases)


def question(message: bytes) -> str | None:
    """The one name ``message`` asks about (lower case, no final dot), if it is a readable query."""
    try:
        query = dnslib.DNSRecord.parse(message)
    except dnslib.DNSError:
        return None
    return str(query.q.qname).rstrip(".").lower() if len(query.questions) == 1 else None


async def serve(netns_name: str, address: str, answerer: Answerer,
                connections: Connections) -> list[asyncio.BaseTransport | asyncio.AbstractServer]:
    """UDP and TCP port 53 on ``address`` inside ``netns_name``, answered by ``answerer``; what closes them."""
    loop = asyncio.get_running_loop()
    udp = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_DGRAM)
    tcp = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
    try:
        for sock in (udp, tcp):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, PORT))
            sock.setblocking(False)
        tcp.listen(64)
        transport, _ = await loop.create_datagram_endpoint(datagram_factory(answerer), sock=udp)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return [transport, await loop.create_server(stream_factory(answerer, connections), sock=tcp)]


def datagram_factory(zone: Answerer) -> Callable[[], DnsDatagram]:
    return lambda: DnsDatagram(zone)


def stream_factory(zone: Answerer, connections: Connections) -> Callable[[], DnsStream]:
    return lambda: DnsStream(zone, connections)
