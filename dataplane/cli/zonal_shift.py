"""``dpctl zonal-shift start|cancel|list``: move a zone away from the load balancers or the cluster.

As ARC's zonal shift does (``edge.zonalshift``): the shifted zone's load
balancer nodes leave the DNS answers at once, established connections carry
on, and the zone comes back when the shift is cancelled or expires.  Shifts
are kept in the state directory; the agent that answers DNS re-reads them on
a reload, which this command asks for and waits on.

The cluster itself is a resource too (its name is the emulation's), as EKS
zonal shift makes it: the zone's nodes are cordoned and its pods leave every
EndpointSlice (a live change of the overrides, so kube-proxy, the cluster
DNS and the mesh stop sending to them), nothing is evicted, and all of it is
undone on cancel -- or at expiry, when the first node's agent runs
``cancel --expired`` as ARC's end of the shift would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import time
from pathlib import Path

import click

from dataplane.agent import ready
from dataplane.atomicfile import write_atomic
from dataplane.cli.context import (
    changing,
    chosen_name,
    input_limits,
    output_option,
    print_json,
    print_table,
    require_root,
    running_plan,
    topology_option,
)
from dataplane.edge import zonalshift
from dataplane.errors import DpctlError, InputError
from dataplane.lb.manager import serves_edge
from dataplane.realize.live import change
from dataplane.state.layout import zonal_shifts_path
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan

RELOAD_TIMEOUT = 30.0


@click.group("zonal-shift")
def command() -> None:
    """Move a zone away from the emulation's load balancers (ARC zonal shift)."""


def _shifts(state: StateDir) -> tuple[zonalshift.ZonalShift, ...]:
    path = zonal_shifts_path(state.path)
    return zonalshift.from_json(path.read_text()) if path.exists() else ()


def _publish(state: StateDir, plan: Plan, shifts: tuple[zonalshift.ZonalShift, ...]) -> None:
    """Write ``shifts`` and wait until the agent answering DNS has read them."""
    write_atomic(zonal_shifts_path(state.path), zonalshift.to_json(shifts))
    node = next((n.name for n in plan.nodes if serves_edge(plan, n.name)), None)
    if node is None:
        return
    before = ready.read(Path(state.path), node)
    if before is None:
        raise DpctlError(f"the agent of node {node} is not running; 'dpctl status' shows the emulation")
    os.kill(before.pid, signal.SIGHUP)
    ready.wait(Path(state.path), [node], lambda status: status.generation > before.generation, RELOAD_TIMEOUT)


def _resources(plan: Plan, resource: str | None) -> list[str]:
    """The shifted resources: every load balancer by default, or the one named (a load balancer or the cluster)."""
    names = [lb.name for lb in plan.load_balancers]
    if resource is None:
        if not names:
            raise InputError(f"this emulation has no load balancer to shift; --resource {plan.name} shifts the cluster")
        return names
    if resource not in (*names, plan.name):
        raise InputError(f"--resource: no load balancer or cluster {resource!r}; there are: "
                         f"{', '.join([*names, plan.name])} (the last is the cluster)")
    return [resource]


def _shift_cluster(state: StateDir, plan: Plan, zones: frozenset[str]) -> None:
    """Move the cluster away from ``zones`` (none: back everywhere) as a live change of its overrides."""
    overrides = state.load_overrides()
    if overrides.shifted_zones != zones:
        change(state, plan, dataclasses.replace(overrides, shifted_zones=zones), limits=input_limits())


@command.command("start")
@topology_option
@click.option("--zone", required=True, help="The zone to move away from.")
@click.option("--expires", default="1h", show_default=True, help="How long it lasts: <n>m or <n>h, at most 72h.")
@click.option("--resource", help="One load balancer or the cluster (its name); every load balancer by default.")
def start(topology: str | None, zone: str, expires: str, resource: str | None) -> None:
    """Start a zonal shift: the zone's load balancer nodes leave DNS at once."""
    require_root("dpctl zonal-shift")
    try:
        seconds = zonalshift.expiry_seconds(expires)
    except ValueError as exc:
        raise InputError(f"--expires: {exc}") from exc
    with changing(chosen_name(topology)) as state:
        plan = running_plan(topology)
        zones = {s.zone for s in plan.subnets}
        if zone not in zones:
            raise InputError(f"--zone: no zone {zone!r}; the emulation's zones are {', '.join(sorted(zones))}")
        now = time.time()
        chosen = _resources(plan, resource)
        kept = [s for s in zonalshift.active(_shifts(state), now).values() if s.resource not in chosen]
        started = [zonalshift.ZonalShift(name, zone, now, now + seconds) for name in chosen]
        _publish(state, plan, (*kept, *started))
        if plan.name in chosen:
            _shift_cluster(state, plan, frozenset({zone}))
    for shift in started:
        click.echo(f"{shift.resource}: zone {zone} shifted away until {_when(shift.expires_at)}")


@command.command("cancel")
@topology_option
@click.option("--resource", help="One load balancer or the cluster (its name); every load balancer by default.")
@click.option("--expired", is_flag=True, hidden=True, help="Only end the cluster's shift if it has expired (the agent's timer).")
def cancel(topology: str | None, resource: str | None, expired: bool) -> None:
    """Cancel zonal shifts: the zone comes back (into DNS, or into the cluster's EndpointSlices)."""
    require_root("dpctl zonal-shift")
    with changing(chosen_name(topology)) as state:
        plan = running_plan(topology)
        now = time.time()
        if expired:  # the cluster's shift ended by itself: undo its effect if it is still applied
            if not zonalshift.active(_shifts(state), now).get(plan.name):
                _shift_cluster(state, plan, frozenset())
            return
        chosen = set(_resources(plan, resource))
        current = zonalshift.active(_shifts(state), now).values()
        ended = [s for s in current if s.resource in chosen]
        _publish(state, plan, tuple(s for s in current if s.resource not in chosen))
        if plan.name in chosen:
            _shift_cluster(state, plan, frozenset())
    for shift in ended:
        click.echo(f"{shift.resource}: zonal shift away from zone {shift.zone} cancelled")
    if not ended:
        click.echo("no zonal shift was in force")


@command.command("list")
@topology_option
@output_option
def list_(topology: str | None, output: str) -> None:
    """The zonal shifts in force."""
    state = StateDir(chosen_name(topology))
    shifts = sorted(zonalshift.active(_shifts(state), time.time()).values(), key=lambda s: s.resource)
    if output == "json":
        print_json([{"resource": s.resource, "zone": s.zone, "startedAt": _when(s.started_at),
                     "expiresAt": _when(s.expires_at)} for s in shifts])
        return
    print_table(["RESOURCE", "AWAY FROM", "STARTED", "EXPIRES"],
                [[s.resource, s.zone, _when(s.started_at), _when(s.expires_at)] for s in shifts])


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
