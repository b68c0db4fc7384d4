"""The ALB nodes and the NLBs' proxied listeners (``lb.nlb``) of an emulation, reconciled by the agent of its first node.

One agent serves them all, beside its own node's pods: an ALB node is no
Kubernetes node, and one process is enough for the emulation's edge.  Each
reconcile translates the plan's Ingresses again (``topology.albs``), so rule
and target changes apply to the next requests without touching open
connections; a node whose listeners changed is reopened.  A zonal shift
(``dpctl zonal-shift``) read on each reconcile keeps new requests off the
shifted zone's targets until it ends.
"""

from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path

from dataplane.edge import zonalshift
from dataplane.edge.albmodel import Alb
from dataplane.edge.zonalshift import ZonalShift
from dataplane.lb.alb import AlbNode
from dataplane.lb.nlb import NlbProxies
from dataplane.state.layout import zonal_shifts_path
from dataplane.topology.albs import all_albs
from dataplane.topology.plan import Plan

log = logging.getLogger(__name__)


def serves_edge(plan: Plan, node: str) -> bool:
    return bool(plan.nodes) and plan.nodes[0].name == node


class LoadBalancers:
    def __init__(self, state_dir: Path, node: str):
        self._state_dir = state_dir
        self._node = node
        self._served: dict[tuple[str, str], AlbNode] = {}  # (ALB name, zone)
        self._nlbs = NlbProxies(state_dir)

    async def reconcile(self, plan: Plan) -> list[str]:
        """Open, refresh or close the ALB nodes and NLB proxies to match ``plan``; the errors."""
        wanted = self._wanted(plan) if serves_edge(plan, self._node) else {}
        shifts = _shifts(self._state_dir)
        errors: list[str] = []
        if serves_edge(plan, self._node):
            errors += await self._nlbs.reconcile(plan)
        else:
            await self._nlbs.close()
        for key, served in list(self._served.items()):
            alb = wanted.get(key)
            if alb is not None and served.ports == _ports(alb):
                served.refresh(plan, alb)
                served.shift(shifts.get(served.lb.name))
                continue
            del self._served[key]
            await served.close()
        for key, alb in wanted.items():
            if key in self._served:
                continue
            lb = next(lb for lb in plan.load_balancers if lb.name == key[0])
            node = next(n for n in lb.nodes if n.zone == key[1])
            served = AlbNode(self._state_dir, lb, node)
            try:
                await served.open(plan, alb)
            except (OSError, ssl.SSLError, ValueError, KeyError) as exc:
                await served.close()
                log.error("alb %s zone %s: %s", lb.name, node.zone, exc)
                errors.append(f"alb {lb.name} zone {node.zone}: {exc}")
                continue
            served.shift(shifts.get(lb.name))
            self._served[key] = served
            log.info("alb %s: zone %s listening on %s", lb.name, node.zone, ", ".join(f"{p}:{n}" for p, n in served.ports))
        return errors

    def _wanted(self, plan: Plan) -> dict[tuple[str, str], Alb]:
        def ignore(path: str, message: str) -> None:
            """Reported when the file was read."""

        albs = {alb.name: alb for alb in all_albs(plan.traffic, ignore, ignore, {n.name: n.labels for n in plan.namespaces})}
        return {
            (lb.name, node.zone): albs[lb.group]
            for lb in plan.load_balancers if lb.group in albs
            for node in lb.nodes
        }

    async def close(self) -> None:
        await self._nlbs.close()
        for served in self._served.values():
            await served.close()
        self._served.clear()


def _shifts(state_dir: Path) -> dict[str, ZonalShift]:
    """The zonal shifts not yet ended, by load balancer (each ALB node checks the time itself)."""
    try:
        shifts = zonalshift.from_json(zonal_shifts_path(state_dir).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {s.resource: s for s in shifts if s.expires_at > time.time()}


def _ports(alb: Alb) -> tuple[tuple[str, int], ...]:
    return tuple((li.protocol, li.port) for li in alb.listeners)
