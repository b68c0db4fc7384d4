"""What the live-change commands share: pick the emulation, change its
overrides, roll the change out and say what happened."""

from __future__ import annotations

from collections.abc import Callable

import click

from dataplane.cli.context import changing, chosen_name, input_limits, require_root
from dataplane.realize.live import ChangeReport, change
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan


def run_change(topology: str | None, action: str, edit: Callable[[Plan, Overrides], Overrides]) -> None:
    """Apply ``edit`` to the overrides of the chosen emulation and roll it out."""
    require_root(action)
    with changing(chosen_name(topology)) as state:
        plan = state.load_plan()
        report(change(state, plan, edit(plan, state.load_overrides()), limits=input_limits()))


def report(result: ChangeReport) -> None:
    parts = []
    if result.added:
        parts.append(f"added {', '.join(result.added)}")
    if result.removed:
        parts.append(f"removed {', '.join(result.removed)}")
    if result.udp_flows_flushed:
        parts.append(f"flushed {result.udp_flows_flushed} stale UDP flows")
    click.echo(f"{'; '.join(parts) or 'endpoints updated'} ({result.seconds * 1000:.0f} ms)")
