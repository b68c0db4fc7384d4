"""``dpctl doctor [FILE]``: does this machine have what dpctl needs, and how
to fix what it lacks.

The machine checks are ``dataplane.kernel.preflight``'s (the same ones
``dpctl up`` refuses on).  Memory is judged here, because its figures belong
to the topology layer (``topology/limits.py``), which the kernel layer may not
import: without FILE the line says how many nodes or pods the free memory
holds; with FILE it says whether that topology fits.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import click

from dataplane.cli.context import print_json, print_table
from dataplane.errors import DpctlError
from dataplane.kernel.machine import available_memory
from dataplane.kernel.machinecheck import MISSING, OK, WARNING, Check
from dataplane.kernel.preflight import required_failures, run_checks
from dataplane.topology import plan_from_text, read_topology
from dataplane.topology.limits import MIB, NODE_MEMORY_BYTES, POD_MEMORY_BYTES, Limits

COLUMNS = ["STATUS", "CHECK", "FOUND", "REMEDY"]


@dataclass(frozen=True)
class TopologySize:
    """What a topology file asks of the machine."""

    label: str  # "<name> (<file>)"
    nodes: int
    pods: int

    def memory_bytes(self) -> int:
        return self.nodes * NODE_MEMORY_BYTES + self.pods * POD_MEMORY_BYTES


def topology_size(file: str) -> TopologySize:
    """The nodes and pods FILE plans.  It is planned under the fixed caps only
    (``DPCTL_LIMIT_*``), not the free memory, so a file too large for this
    machine is measured and reported here rather than refused by the planner."""
    limits = Limits.from_environment()
    plan = plan_from_text(read_topology(file, limits), file, limits=limits)
    return TopologySize(f"{plan.name} ({file})", len(plan.nodes), len(plan.pods))


def memory_check(limits: Limits, size: TopologySize | None) -> Check:
    """Free memory (``limits.memory_bytes``) against ``size``, or on its own.

    Only a topology that does not fit is a failure: without one there is
    nothing to refuse.
    """
    available = limits.memory_bytes
    if available is None:
        return Check("memory", WARNING, "MemAvailable cannot be read from /proc/meminfo", "mount /proc", required=False)
    have = f"{available // MIB:,} MiB available"
    if size is None:
        found = (
            f"{have}: room for about {limits.node_budget():,} nodes or {limits.pod_budget():,} pods "
            f"({NODE_MEMORY_BYTES // MIB} MiB a node, {POD_MEMORY_BYTES // MIB} MiB a pod)"
        )
        return Check("memory", OK, found, required=False)
    need = size.memory_bytes()
    found = f"{size.label}: {size.nodes:,} nodes and {size.pods:,} pods need about {_mib(need):,} MiB; {have}"
    if size.nodes <= limits.node_budget() and size.pods <= limits.pod_budget(size.nodes):
        return Check("memory", OK, found)
    if size.nodes > limits.node_budget():
        room = f"room for about {limits.node_budget():,} nodes"
    else:
        room = f"room beside its {size.nodes:,} nodes for about {limits.pod_budget(size.nodes):,} pods"
    remedy = f"free {_mib(need - available):,} MiB more, or make the topology smaller (this machine has {room})"
    return Check("memory", MISSING, found, remedy)


def _mib(size: int) -> int:
    return math.ceil(size / MIB)


def show(checks: list[Check], output: str) -> None:
    if output == "json":
        print_json([dataclasses.asdict(check) for check in checks])
    else:
        print_table(COLUMNS, [[c.status, c.name, c.found, c.remedy] for c in checks])


def verdict(checks: list[Check]) -> None:
    """Raise (exit 1) when a required item is missing; the table above says how to fix it."""
    failures = required_failures(checks)
    if failures:
        names = ", ".join(check.name for check in failures)
        raise DpctlError(f"this machine lacks {len(failures)} required item{'s' if len(failures) > 1 else ''}: {names}")


@click.command("doctor")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def command(file: str | None, output: str) -> None:
    """Check that this machine has what dpctl needs, and say how to fix what it
    lacks; with FILE, also whether that topology fits in the free memory.
    Exits 1 when a required item is missing.  Without root the kernel probes
    are skipped."""
    size = topology_size(file) if file else None  # a bad file is reported before anything is probed
    limits = Limits.from_environment(memory_bytes=available_memory())
    checks = [*run_checks(), memory_check(limits, size)]
    show(checks, output)
    verdict(checks)
