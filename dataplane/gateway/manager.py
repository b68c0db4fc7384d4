"""The ingress gateway pods of one node, kept in step with the plan on every reconcile.

A gateway pod (istiod's ``<gateway>-istio`` Deployment of a served Gateway)
that appears on this node gets a ``GatewayProxy`` on its listener ports; one
that stays gets the new plan's routes, endpoints and certificates (live
connections carry on); one that goes, or whose Gateway's ports changed, is
closed (and reopened with the new ports).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from dataplane.gateway.proxy import GatewayProxy
from dataplane.gateway.view import GatewayView, gateway_of
from dataplane.topology.plan import Plan

log = logging.getLogger(__name__)


class Gateways:
    def __init__(self, state_dir: Path, node: str):
        self._state_dir = state_dir
        self._node = node
        self._proxies: dict[str, GatewayProxy] = {}

    async def reconcile(self, plan: Plan) -> list[str]:
        """Open, refresh and close this node's gateway proxies; the errors, one per pod."""
        wanted = {}
        for pod in plan.pods_on(self._node):
            served = gateway_of(plan, pod)
            if served is not None:
                wanted[pod.key] = (pod, GatewayView(plan, served))
        errors: list[str] = []
        for key, proxy in list(self._proxies.items()):
            entry = wanted.get(key)
            if entry is not None and (entry[0].ip, entry[0].netns, entry[1].ports) == (
                proxy.pod.ip, proxy.pod.netns, proxy.ports
            ):
                try:
                    proxy.refresh(entry[1])
                except (OSError, ValueError, ssl.SSLError) as exc:
                    errors.append(f"gateway {key}: {exc}")
                continue
            del self._proxies[key]
            await proxy.close()
            log.info("gateway: closed %s", key)
        for key, (pod, view) in wanted.items():
            if key in self._proxies:
                continue
            proxy = GatewayProxy(self._state_dir, plan.name, pod, view)
            try:
                await proxy.open()
            except (OSError, ValueError, ssl.SSLError) as exc:
                log.error("gateway: cannot serve %s: %s", key, exc)
                errors.append(f"gateway {key}: {exc}")
                continue
            self._proxies[key] = proxy
            log.info("gateway: serving %s (%s) for %s on %s", key, pod.ip, view.gateway.key, view.ports)
        return errors

    async def close(self) -> None:
        for proxy in self._proxies.values():
            await proxy.close()
        self._proxies.clear()
