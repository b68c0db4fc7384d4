"""``dpctl apply FILE``: reconcile a running emulation with a changed file.

Pods, Services and endpoints follow the file; nodes, subnets and the CNI
mode cannot change without a rebuild.  The file becomes the new desired
state, so earlier scale/delete/set and mesh enroll/unenroll changes are
dropped, as a ``kubectl apply`` of the same manifests would reset them.
"""

from __future__ import annotations

import click

from dataplane.cli.changes import report
from dataplane.cli.context import changing, input_limits, inputs_option, read_inputs, report_plan, require_root
from dataplane.errors import StateError
from dataplane.realize.live import roll_out
from dataplane.topology import plan_from_sources
from dataplane.topology.overrides import Overrides


@click.command("apply")
@inputs_option("apply")
def command(file: str | None, inputs: tuple[str, ...]) -> None:
    """Reconcile the emulation named in FILE (and every -f input) with them, live."""
    limits = input_limits()
    sources = read_inputs(file, inputs, limits)
    draft = plan_from_sources(sources, limits=limits)  # validation first, no root needed
    require_root("dpctl apply")
    with changing(draft.name) as state:
        if not state.exists():
            raise StateError(f"emulation {draft.name!r} is not up; use 'dpctl up' with the same input")
        old = state.load_plan()
        new = plan_from_sources(sources, previous=old, limits=limits)
        report_plan(new)
        done = roll_out(state, old, new, Overrides(), sources)
    report(done)
