"""A pod's container commands: started inside the pod, stopped with the pod.

Commands are not restarted when they exit; one that ended early is simply
reported with its exit code when its pod stops.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dataplane.agent import serving
from dataplane.kernel import process
from dataplane.topology.plan import Container, Pod

log = logging.getLogger(__name__)

STOP_GRACE_S = 2.0


@dataclass(frozen=True)
class Workload:
    """One running container command."""

    key: str  # "<namespace>/<pod>/<container>"
    proc: subprocess.Popen[bytes]


def start(pod: Pod, container: Container, log_dir: Path) -> Workload:
    """Start ``container``'s command inside ``pod``'s namespace."""
    proc = process.spawn_in_netns(pod.netns, container.command, serving.log_path(log_dir, pod, container.name))
    workload = Workload(serving.workload_key(pod, container.name), proc)
    log.info("started %s (pid %d): %s", workload.key, proc.pid, " ".join(container.command))
    return workload


async def stop(workloads: list[Workload]) -> None:
    """Stop all of them at once, off the event loop (that can take the grace period)."""
    if not workloads:
        return
    await asyncio.to_thread(process.stop_groups, [w.proc for w in workloads], STOP_GRACE_S)
    for workload in workloads:
        log.info("stopped %s (exit code %s)", workload.key, workload.proc.returncode)
