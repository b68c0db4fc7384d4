"""The on-premises site's DNS server and Route 53 Resolver's inbound endpoint, served by the first node's agent.

With ``spec.onPremises.dns``, the agent that serves the edge
(``lb.manager.serves_edge``) listens on port 53 (UDP and TCP) at two
places, each inside its own namespace:

* the site's server (``dns.server`` in the site's namespace) answers its
  domain (``<host>.<domain>``, ``route53.site``) and forwards the names of the
  VPC's private hosted zones to the inbound endpoint, as a conditional
  forwarder on premises does; the query crosses the VPN from the server's
  address;
* the inbound endpoint (its address in the Resolver's namespace, on the
  cluster VPC's subnet) answers the private hosted zones from
  ``route53.json``, as Route 53 Resolver answers what reaches its inbound
  endpoint; anything else is REFUSED (there is no internet to recurse into).

The cluster DNS forwards the site's domain through the outbound endpoint
(``dns_responder``), so a name resolves both ways over the same tunnel as
the traffic.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from dataplane.agent import dns_responder
from dataplane.agent.responders import Connections
from dataplane.lb.manager import serves_edge
from dataplane.route53.answer import View, answer, zone_of
from dataplane.route53.site import site_zone
from dataplane.topology.plan import Plan
from dataplane.vpc.network import read as read_network

log = logging.getLogger(__name__)


class SiteServer:
    """The site's zone, and the VPC's private zones forwarded to the inbound endpoint."""

    def __init__(self) -> None:
        self.view = View(())
        self.private: View | None = None
        self.inbound: dns_responder.Forwarding | None = None

    def answer(self, message: bytes, over_udp: bool) -> bytes | None:
        return answer(self.view, message, over_udp=over_udp)

    def forwarding(self, message: bytes) -> dns_responder.Forwarding | None:
        name = dns_responder.question(message)
        if self.inbound is None or self.private is None or name is None or zone_of(self.view.zones, name):
            return None
        return self.inbound if zone_of(self.private.zones, name) else None


class InboundEndpoint:
    """The VPC's private hosted zones, for what the site forwards."""

    def __init__(self) -> None:
        self.view = View(())

    def answer(self, message: bytes, over_udp: bool) -> bytes | None:
        return answer(self.view, message, over_udp=over_udp)

    def forwarding(self, message: bytes) -> dns_responder.Forwarding | None:
        return None


class ResolverEndpoints:
    def __init__(self, state_dir: Path, node: str):
        self._state_dir = state_dir
        self._node = node
        self._site = SiteServer()
        self._inbound = InboundEndpoint()
        self._places: tuple[tuple[str, str], tuple[str, str]] | None = None  # (netns, address) of each server
        self._closers: list[asyncio.BaseTransport | asyncio.AbstractServer] = []
        self._connections = Connections()

    async def reconcile(self, plan: Plan) -> list[str]:
        """Serve the site's server and the inbound endpoint of ``plan`` (or stop); the errors."""
        network = read_network(plan.vpc_network) if plan.vpc_network else None
        site = network.on_premises if network else None
        resolver = network.resolver if network else None
        places = None
        if site and resolver and site.domain and site.dns_server and serves_edge(plan, self._node):
            places = ((site.netns, site.dns_server), (resolver.netns, resolver.inbound_ip))
        if places != self._places:
            await self.close()
        if places is None or site is None or resolver is None or site.domain is None:
            return []
        private = dns_responder.private_view(self._state_dir, plan)
        self._site.view = View((site_zone(site.domain, site.hosts),))
        self._site.private = private
        self._site.inbound = dns_responder.Forwarding(site.netns, places[0][1], resolver.inbound_ip)
        self._inbound.view = private or View(())
        if self._places is None:
            try:
                self._connections = Connections()
                for (netns_name, address), answerer in zip(places, (self._site, self._inbound)):
                    self._closers += await dns_responder.serve(netns_name, address, answerer, self._connections)
            except OSError as exc:
                await self.close()
                return [f"route 53 resolver endpoints: {exc}"]
            self._places = places
            log.info("resolver: the site's server on %s, the inbound endpoint on %s", places[0][1], places[1][1])
        return []

    async def close(self) -> None:
        for closer in self._closers:
            closer.close()
        self._closers.clear()
        self._connections.close()
        self._places = None
