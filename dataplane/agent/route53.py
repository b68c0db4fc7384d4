"""The outside client's resolver: Route 53's public zones, served by the first node's agent.

The agent that serves the edge (``lb.manager.serves_edge``) listens on
``127.0.0.53:53`` (UDP and TCP) inside the outside client's namespace, which
``realize.route53`` names in that namespace's resolv.conf: in one hop it is
what the internet's resolvers and Route 53's name servers are to a browser.
It answers from ``route53.json`` -- the records the last ExternalDNS
reconcile left, re-read on every reconcile of the agent -- and answers an
ALIAS with the current addresses of its ALB (public ones for an
internet-facing ALB, private ones for an internal one, as AWS publishes
them).  Private zones are the VPC's, never the internet's: left out here.

An NLB with cross-zone load balancing off answers only the zones that have
a healthy target for every listener (``kubeproxy.nlb.dns_nodes``, §1.9).

A zonal shift (``dpctl zonal-shift``, ``<state>/zonal-shifts.json``, re-read
on every reconcile) leaves its load balancer's node in that zone out of the
answers from the moment it starts until it ends; its expiry is noticed at
the next query, with no reconcile needed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from dataplane.agent import dns_responder
from dataplane.agent.responders import Connections
from dataplane.edge import zonalshift
from dataplane.kubeproxy.nlb import nodes_in_dns
from dataplane.lb.manager import serves_edge
from dataplane.route53.answer import OUTSIDE_RESOLVER, View, answer
from dataplane.route53.records import HostedZone, zones_from_json
from dataplane.state.layout import route53_path, zonal_shifts_path
from dataplane.topology.plan import Plan

log = logging.getLogger(__name__)
PORT = dns_responder.PORT


class OutsideResolver:
    def __init__(self, state_dir: Path, node: str):
        self._state_dir = state_dir
        self._node = node
        self._view = View(())
        self._zones: tuple[HostedZone, ...] = ()
        self._plan: Plan | None = None
        self._shifts: tuple[zonalshift.ZonalShift, ...] = ()
        self._changes_at: float | None = None
        self._netns: str | None = None
        self._closers: list[asyncio.BaseTransport | asyncio.AbstractServer] = []
        self._connections = Connections()

    async def reconcile(self, plan: Plan) -> list[str]:
        """Serve the public zones of ``plan`` (or stop, when there are none here); the errors."""
        public = any(not z.private for z in plan.hosted_zones)
        wanted = plan.external.client_netns if plan.external and public and serves_edge(plan, self._node) else None
        if wanted != self._netns:
            await self.close()
        if wanted is None:
            return []
        try:
            zones = zones_from_json(route53_path(self._state_dir).read_text())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return [f"route 53: cannot read {route53_path(self._state_dir)}: {exc}"]
        self._zones, self._plan = tuple(z for z in zones if not z.private), plan
        self._shifts = zonalshift.load(zonal_shifts_path(self._state_dir))
        self._view_at(time.time())
        if self._netns is None:
            try:
                await self._open(wanted)
            except OSError as exc:
                await self.close()
                return [f"route 53 resolver {OUTSIDE_RESOLVER}:{PORT} in {wanted}: {exc}"]
            log.info("route 53: answering the outside client on %s:%d", OUTSIDE_RESOLVER, PORT)
        return []

    async def _open(self, name: str) -> None:
        self._netns, self._connections = name, Connections()
        self._closers += await dns_responder.serve(name, OUTSIDE_RESOLVER, self, self._connections)

    def _view_at(self, now: float) -> None:
        """The answers as of ``now``: a load balancer's nodes in a zone shifted away are left out."""
        shifted = {s.resource: s.zone for s in zonalshift.active(self._shifts, now).values()}
        healthy = nodes_in_dns(self._plan) if self._plan else {}
        aliases = {
            lb.dns_name: tuple(
                n.public_ip or n.ip for n in healthy.get(lb.name, lb.nodes) if shifted.get(lb.name) != n.zone
            )
            for lb in self._plan.load_balancers
        } if self._plan else {}
        self._view = View(self._zones, aliases)
        self._changes_at = zonalshift.next_change(self._shifts, now)

    def forwarding(self, message: bytes) -> dns_responder.Forwarding | None:
        return None  # the internet's resolvers answer from Route 53's public zones alone

    def answer(self, message: bytes, over_udp: bool) -> bytes | None:
        now = time.time()
        if self._changes_at is not None and now >= self._changes_at:  # a shift expired: its zone is back
            self._view_at(now)
        return answer(self._view, message, over_udp=over_udp)

    async def close(self) -> None:
        for closer in self._closers:
            closer.close()
        self._closers.clear()
        self._connections.close()
        self._netns = None

