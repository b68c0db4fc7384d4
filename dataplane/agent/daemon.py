"""The per-node agent: every pod of one node, served from one event loop.

The agent keeps the node's pods in step with ``<state-dir>/plan.json``: at
start-up and on every SIGHUP it opens the pods that are new, closes the ones
that are gone and leaves the rest untouched, then rewrites its ready file.
SIGTERM or SIGINT closes everything, stops the commands and exits 0.

The agent also serves its ztunnel's metrics on 127.0.0.1:15020 (``/metrics``,
``/stats/prometheus``); it runs in the node's namespace, so that loopback is
the node's and nothing outside the node can reach it.

Signals only set flags; the main coroutine acts on them one at a time, so a
reload never overlaps another reload or the shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from dataplane.agent import dns_responder, ready, reconcile, resolver, responders, route53, serving, workloads
from dataplane.agent.pods import PodService
from dataplane.agent.shiftexpiry import ShiftExpiry
from dataplane.errors import DpctlError
from dataplane.gateway.manager import Gateways
from dataplane.kernel import process
from dataplane.lb.manager import LoadBalancers
from dataplane.mesh.constants import METRICS_PORT
from dataplane.mesh.waypoint.manager import Waypoints
from dataplane.mesh.ztunnel.ztunnel import Ztunnel
from dataplane.state import layout
from dataplane.topology.plan import Plan

log = logging.getLogger(__name__)

# What a missing, unreadable, truncated or mis-shaped plan.json raises.
_PLAN_ERRORS = (OSError, ValueError, KeyError, TypeError)
# What a pod that cannot be served raises: no namespace, port taken, command
# not startable (OSError), or a responder that does not exist (ValueError).
_POD_ERRORS = (OSError, ValueError)


class AgentError(DpctlError):
    """The agent cannot start: no readable plan, or the node is not in it."""


class Agent:
    def __init__(self, state_dir: Path, node: str):
        self._state_dir = state_dir
        self._node = node
        self._log_dir = layout.logs_dir(state_dir)
        self._pods: dict[str, PodService] = {}
        self._zone = dns_responder.ZoneSource(state_dir)  # one for all pods, kept or new, so a reload reaches them all
        self._generation = -1
        self._plan_digest = ""
        self._wake = asyncio.Event()
        self._reload_pending = False
        self._stopping = False
        # The node's ztunnel (ambient mesh): serves this node's enrolled pods.
        self._ztunnel = Ztunnel(state_dir, node)
        # The waypoint pods on this node (ambient L7): served beside the ztunnel, with its context.
        self._waypoints = Waypoints(node)
        self._gateways = Gateways(state_dir, node)  # the ingress gateway pods on this node (Gateway API)
        # The emulation's load balancer nodes (ALBs), if this is the node that serves them.
        self._load_balancers = LoadBalancers(state_dir, node)
        self._resolver = route53.OutsideResolver(state_dir, node)  # Route 53 for the outside client, beside them
        self._endpoints = resolver.ResolverEndpoints(state_dir, node)  # the site's DNS and the inbound endpoint
        self._shift_expiry = ShiftExpiry(state_dir, node)  # ends an EKS zonal shift at its expiry (first node)
        self._metrics_server: asyncio.Server | None = None
        self._metrics_connections = responders.Connections()
        self._errors: list[str] = []  # of the last reconcile, published again when a Job's pod completes
        self._completions: set[asyncio.Task[None]] = set()

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit code of the agent."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_term)
        try:
            digest, plan = self._read_plan()
        except _PLAN_ERRORS as exc:
            raise AgentError(f"cannot read {layout.plan_path(self._state_dir)}: {exc}") from exc
        if self._node not in {n.name for n in plan.nodes}:
            raise AgentError(f"node {self._node!r} is not in plan {plan.name!r}")
        files = process.raise_open_files_limit()
        log.info("agent for node %s started (pid %d, up to %d open files)", self._node, os.getpid(), files)
        self._log_dir.mkdir(parents=True, exist_ok=True)
        await self._serve_metrics()
        await self._reconcile(digest, plan)
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            if self._reload_pending:
                self._reload_pending = False
                await self._reload()
        await self._shutdown()
        return 0

    async def _serve_metrics(self) -> None:
        """ztunnel's and the node's waypoints' metrics on the node's loopback; not serving
        them is no reason to stop the pods."""

        def exposition() -> str:
            return self._ztunnel.metrics.exposition() + self._waypoints.exposition()

        try:
            self._metrics_server = await asyncio.get_running_loop().create_server(
                lambda: responders.MetricsResponder(exposition, self._metrics_connections), "127.0.0.1", METRICS_PORT
            )
        except OSError as exc:  # e.g. an agent run outside a node namespace, beside another one
            log.warning("cannot serve metrics on 127.0.0.1:%d: %s", METRICS_PORT, exc)

    def _on_hup(self) -> None:
        self._reload_pending = True
        self._wake.set()

    def _on_term(self) -> None:
        self._stopping = True
        self._wake.set()

    def _read_plan(self) -> tuple[str, Plan]:
        text = (layout.plan_path(self._state_dir)).read_bytes()
        return ready.plan_digest(text), Plan.from_json(text.decode())

    async def _reload(self) -> None:
        log.info("reload requested")
        try:
            digest, plan = self._read_plan()
        except _PLAN_ERRORS as exc:  # a bad plan must not take the node's pods down
            log.error("reload: cannot read %s, keeping the current pods: %s", layout.PLAN, exc)
            self._publish([f"{layout.PLAN}: {exc}"])
            return
        await self._reconcile(digest, plan)

    async def _reconcile(self, digest: str, plan: Plan) -> None:
        change = reconcile.changes({key: svc.pod for key, svc in self._pods.items()}, plan.pods_on(self._node))
        await self._close(change.closing)
        self._zone.replace(plan)
        errors = []
        for pod in change.opening:
            service = PodService(pod, self._log_dir, self._zone)
            try:
                await service.open()
            except _POD_ERRORS as exc:  # one broken pod must not stop the others being served
                log.error("cannot serve %s: %s", pod.key, exc)
                errors.append(f"{pod.key}: {exc}")
                continue
            self._pods[pod.key] = service
            log.info("serving %s: %d sockets, %d commands", pod.key, service.sockets, len(service.workloads))
            if serving.runs_to_completion(pod):
                self._watch_completion(service)
        # ztunnel: enroll/unenroll this node's pods, after their own sockets exist.
        errors.extend(await self._ztunnel.reconcile(plan))
        if self._ztunnel.context is not None:
            errors.extend(await self._waypoints.reconcile(plan, self._ztunnel.context))
        errors.extend(await self._gateways.reconcile(plan))
        errors.extend(await self._load_balancers.reconcile(plan))
        errors.extend(await self._resolver.reconcile(plan))
        errors.extend(await self._endpoints.reconcile(plan))
        errors.extend(await self._shift_expiry.reconcile(plan))
        self._plan_digest = digest
        self._publish(errors)

    async def _close(self, keys: Sequence[str]) -> None:
        """Close these pods' sockets, then stop their commands, all together."""
        services = [self._pods.pop(key) for key in keys]
        stopping = [w for svc in services for w in svc.close()]
        await asyncio.sleep(0)  # aborted transports close their sockets in callbacks: let those run
        await workloads.stop(stopping)
        for svc in services:
            log.info("closed %s", svc.pod.key)

    def _watch_completion(self, service: PodService) -> None:
        """Publish again once a Job's pod has run to the end, so ``get pods`` shows it Completed."""

        async def watch() -> None:
            await service.wait_completion()
            if self._pods.get(service.pod.key) is service:
                log.info("%s completed: %s", service.pod.key, service.exited)
                self._publish(self._errors)

        task = asyncio.get_running_loop().create_task(watch())
        self._completions.add(task)
        task.add_done_callback(self._completions.discard)

    def _publish(self, errors: list[str]) -> None:
        """Write the ready file as a new generation."""
        self._errors = errors
        self._generation += 1
        state = reconcile.ready_state(
            pid=os.getpid(),
            node=self._node,
            generation=self._generation,
            plan_digest=self._plan_digest,
            served={key: svc.report() for key, svc in self._pods.items()},
            errors=errors,
        )
        ready.write(self._state_dir, state)
        log.info(
            "ready (generation %d): %d pods, %d sockets, %d errors",
            state.generation,
            len(state.pods),
            state.sockets,
            len(errors),
        )

    async def _shutdown(self) -> None:
        log.info("stopping")
        if self._metrics_server is not None:
            self._metrics_server.close()
        self._metrics_connections.close()
        await self._load_balancers.close()
        await self._resolver.close()
        await self._endpoints.close()
        await self._shift_expiry.close()
        await self._waypoints.close()
        await self._gateways.close()
        await self._ztunnel.close()
        for task in self._completions:
            task.cancel()
        await self._close(list(self._pods))
        ready.remove(self._state_dir, self._node)
        log.info("stopped")
