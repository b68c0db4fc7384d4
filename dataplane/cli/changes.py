"""What the live-change commands share: pick the emulation, change its
overrides, roll the change out and say what happened."""

from __future__ import annotations

from collections.abc import Callable

import click

from dataplane.cli.context import changing, chosen_name, input_limits, require_root
from dataplane.errors import StateError
from dataplane.realize.live import ChangeReport, change
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan


def split_key(target: str, what: str) -> tuple[str, str]:
    namespace, sep, name = target.partition("/")
    if not sep or not namespace or not name:
        raise StateError(f"{target!r}: expected NAMESPACE/{what.upper()}")
    return namespace, name


def require_pod(plan: Plan, target: str) -> str:
    namespace, name = split_key(target, "pod")
    try:
        return plan.pod(namespace, name).key
    except KeyError:
        raise StateError(f"no pod {target} in {plan.name}") from None


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
