"""The waypoint asking an external authorizer (``action: CUSTOM``), before its RBAC filter.

The provider's Service is resolved to its ready endpoints like any backend and
reached from the waypoint pod: over HBONE with the waypoint's identity when
the authorizer is in the mesh, plain TCP otherwise (``upstream.Upstream``),
on keep-alive connections pooled per endpoint.  What the answer means is the
pure ``l7.routing.extauthz``; this module only carries the check and turns
every way the authorizer can fail to answer (no endpoint, refused, reset,
timed out) into the provider's ``statusOnError`` or ``failOpen``.  A policy
naming a provider the mesh config lacks denies what it selects, as istiod's
deny-all for a broken CUSTOM policy does.
"""

from __future__ import annotations

import asyncio
import logging
import random

from dataplane.l7.http.messages import ProtocolError, Request
from dataplane.l7.http.pool import ConnectionPool, Limits, Overflow
from dataplane.l7.routing import extauthz, replies
from dataplane.l7.routing import model as routing
from dataplane.mesh.waypoint.routes import WaypointRoutes
from dataplane.mesh.waypoint.upstream import Upstream
from dataplane.mesh.ztunnel.streams import NET_ERRORS
from dataplane.topology.plan import AuthorizationPolicy

log = logging.getLogger(__name__)


class ExternalAuthorizer:
    def __init__(self, upstream: Upstream, rng: random.Random):
        self._pool = ConnectionPool(upstream.open, Limits())
        self._rng = rng

    def close(self) -> None:
        self._pool.close()

    async def check(self, routes: WaypointRoutes, policy: AuthorizationPolicy, request: Request) -> extauthz.Decision:
        provider = routes.providers.get(policy.provider or "")
        if provider is None:
            return extauthz.Decision(False, replies.rbac_denied(f"ns[{policy.namespace}]-policy[{policy.name}]-rule[0]"))
        view = routing.Request(request.method, request.target, request.authority, request.scheme, request.headers)
        built = extauthz.check_request(provider, view, request.body)
        if isinstance(built, replies.LocalReply):
            return extauthz.Decision(False, built)
        check, body = built
        endpoints = routes.endpoints(provider.service, provider.port, None)
        if not endpoints:
            log.info("waypoint: ext-authz provider %s: %s:%d has no ready endpoint", provider.name, provider.service,
                     provider.port)
            return extauthz.failed(provider)
        chosen = self._rng.choice(endpoints).address
        sent = Request(check.method, check.path, check.authority, check.headers, body, "http")
        try:
            response = await asyncio.wait_for(self._pool.exchange(chosen, sent), provider.timeout)
        except (TimeoutError, Overflow, ProtocolError, *NET_ERRORS) as exc:
            log.info("waypoint: ext-authz provider %s at %s:%d: %r", provider.name, *chosen, exc)
            return extauthz.failed(provider)
        return extauthz.decide(provider, response.status, response.headers, response.body)
