"""The end of an EKS zonal shift that nobody cancelled.

An EKS zonal shift (``dpctl zonal-shift start --resource <cluster>``) is a
live change of the cluster's overrides -- cordoned nodes, pods out of the
EndpointSlices -- so, unlike a load balancer's shift, which the DNS agent
simply stops honouring at its expiry, it must be undone by a change rolled
out like any other.  The first node's agent keeps a timer for the cluster's
shift and, when it fires, runs ``dpctl zonal-shift cancel --expired``, as
ARC ends the shift; that command takes the emulation's change lock and does
nothing if the shift was cancelled or replaced meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from dataplane.edge import zonalshift
from dataplane.state.layout import zonal_shifts_path
from dataplane.state.store import STATE_ROOT_ENV
from dataplane.topology.plan import Plan

log = logging.getLogger(__name__)


class ShiftExpiry:
    """Ends the cluster's zonal shift at its expiry; on the first node's agent only."""

    def __init__(self, state_dir: Path, node: str) -> None:
        self._state_dir = state_dir
        self._node = node
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def reconcile(self, plan: Plan) -> list[str]:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not plan.nodes or plan.nodes[0].name != self._node or not plan.shifted_zones:
            return []
        shift = zonalshift.active(zonalshift.load(zonal_shifts_path(self._state_dir)), time.time()).get(plan.name)
        delay = max(0.0, shift.expires_at - time.time()) if shift else 0.0
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._end, plan.name)
        return []

    def _end(self, cluster: str) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._cancel(cluster))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _cancel(self, cluster: str) -> None:
        """Run the cancel as its own process: it reloads this agent, so it must not be awaited inline."""
        env = {**os.environ, STATE_ROOT_ENV: str(self._state_dir.parent)}
        command = [sys.executable, "-m", "dataplane.cli", "zonal-shift", "cancel", "-t", cluster, "--expired"]
        child = await asyncio.create_subprocess_exec(
            *command, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await child.communicate()
        if child.returncode != 0:
            log.warning("ending the expired zonal shift of %s failed: %s", cluster, errors.decode(errors="replace"))
        else:
            log.info("the zonal shift of cluster %s expired and was ended", cluster)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._running):
            task.cancel()
