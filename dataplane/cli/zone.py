"""``dpctl zone fail|restore|list``: a whole zone goes dark, and comes back.

Compare with ``dpctl zonal-shift``: a shift moves traffic away at once; a
failed zone is found by the ALBs' health checks, after interval x threshold.
"""

from __future__ import annotations

import click

from dataplane.cli.context import changing, chosen_name, print_table, require_root, running_plan, topology_option
from dataplane.errors import InputError
from dataplane.realize import zones
from dataplane.state.store import StateDir


@click.group("zone")
def command() -> None:
    """Take a zone's nodes and load balancer nodes dark, or bring them back."""


def _checked(topology: str | None, zone: str) -> None:
    plan = running_plan(topology)
    known = sorted({s.zone for s in plan.subnets})
    if zone not in known:
        raise InputError(f"ZONE: no zone {zone!r}; the emulation's zones are {', '.join(known)}")


def _set(topology: str | None, zone: str, dark: bool) -> None:
    require_root(f"dpctl zone {'fail' if dark else 'restore'}")
    _checked(topology, zone)
    with changing(chosen_name(topology)) as state:
        links = zones.set_dark(state, running_plan(topology), zone, dark)
    click.echo(f"zone {zone} is dark: {len(links)} links down" if dark else f"zone {zone} is back: {len(links)} links up")


@command.command("fail")
@topology_option
@click.argument("zone")
def fail(topology: str | None, zone: str) -> None:
    """Cut ZONE's nodes and load balancer nodes off the VPC (their state is kept)."""
    _set(topology, zone, True)


@command.command("restore")
@topology_option
@click.argument("zone")
def restore(topology: str | None, zone: str) -> None:
    """Bring ZONE back as it was."""
    _set(topology, zone, False)


@command.command("list")
@topology_option
def list_(topology: str | None) -> None:
    """Every zone, and whether it is dark."""
    plan = running_plan(topology)
    dark = set(zones.failed(StateDir(chosen_name(topology))))
    print_table(["ZONE", "STATE", "NODES", "LOAD BALANCER NODES"], [
        [zone, "dark" if zone in dark else "up", str(sum(n.zone == zone for n in plan.nodes)),
         str(sum(n.zone == zone for lb in plan.load_balancers for n in lb.nodes))]
        for zone in sorted({s.zone for s in plan.subnets})
    ])
