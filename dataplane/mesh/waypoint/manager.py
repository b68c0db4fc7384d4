"""The waypoint pods of one node, kept in step with the plan on every reconcile.

A waypoint pod that appears gets a ``WaypointProxy`` listening on its 15008;
one that stays is handed the new plan (bindings, routes and endpoints take
effect for new requests at once, established connections carry on); one
that goes is closed.  The agent runs this right after the ztunnel's
reconcile, with the ztunnel's ``ProxyContext`` (same resolver, metrics and
certificates).
"""

from __future__ import annotations

import logging
import ssl

from dataplane.mesh.requestmetrics import RequestMetrics
from dataplane.mesh.waypoint.proxy import WaypointProxy
from dataplane.mesh.waypoints import GATEWAY_NAME, is_waypoint_pod
from dataplane.mesh.ztunnel.context import ProxyContext
from dataplane.topology.plan import Plan, Pod, Waypoint

log = logging.getLogger(__name__)


def waypoints_on(plan: Plan, node: str) -> dict[str, tuple[Pod, Waypoint]]:
    """The waypoint pods on ``node`` with their Gateway, by pod key."""
    by_key = {w.key: w for w in plan.waypoints}
    found = {}
    for pod in plan.pods_on(node):
        waypoint = by_key.get(f"{pod.namespace}/{pod.labels.get(GATEWAY_NAME, '')}")
        if is_waypoint_pod(pod) and waypoint is not None:
            found[pod.key] = (pod, waypoint)
    return found


class Waypoints:
    def __init__(self, node: str):
        self.node = node
        self.proxies: dict[str, WaypointProxy] = {}
        self.metrics = RequestMetrics()  # one registry for the node's waypoints, as one scrape target

    async def reconcile(self, plan: Plan, context: ProxyContext) -> list[str]:
        """Open, refresh and close this node's waypoint proxies; the errors, one per pod."""
        wanted = waypoints_on(plan, self.node)
        errors: list[str] = []
        for key, proxy in list(self.proxies.items()):
            entry = wanted.get(key)
            if entry is not None and (entry[0].ip, entry[0].netns) == (proxy.pod.ip, proxy.pod.netns):
                proxy.refresh(plan, entry[1])
                continue
            del self.proxies[key]
            await proxy.close()
            log.info("waypoint: closed %s", key)
        for key, (pod, waypoint) in wanted.items():
            if key in self.proxies:
                continue
            proxy = WaypointProxy(context, pod, waypoint, self.metrics)
            try:
                await proxy.open()
            except (OSError, ValueError, ssl.SSLError) as exc:
                log.error("waypoint: cannot serve %s: %s", key, exc)
                errors.append(f"waypoint {key}: {exc}")
                continue
            self.proxies[key] = proxy
            log.info("waypoint: serving %s (%s) for %s as %s", key, pod.ip, waypoint.key, proxy.identity)
        return errors

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.close()
        self.proxies.clear()

    def exposition(self) -> str:
        """The waypoints' request metrics, for the node's metrics endpoint (empty before any request)."""
        return self.metrics.exposition() if self.proxies else ""
