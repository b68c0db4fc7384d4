"""``dpctl exec NAMESPACE/POD -- CMD...``: run a command inside a pod.

``ip netns exec`` is used on purpose: it bind-mounts the pod's
``/etc/netns/<netns>/resolv.conf`` and ``hosts`` over ``/etc``, so the command
resolves names the way the pod does.  dpctl replaces itself with it, so the
command's exit code is dpctl's exit code.
"""

from __future__ import annotations

import os

import click

from dataplane.cli.context import require_root, running_plan, topology_option
from dataplane.topology.targets import resolve_place


@click.command("exec", context_settings={"ignore_unknown_options": True})
@topology_option
@click.argument("target", metavar="NAMESPACE/POD|node/NODE|external|lb")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def command(topology: str | None, target: str, cmd: tuple[str, ...]) -> None:
    """Run CMD inside a pod, a node, the outside client or the load balancer;
    its exit code is passed through."""
    require_root("dpctl exec")
    netns_name = resolve_place(running_plan(topology), target)
    os.execvp("ip", ["ip", "netns", "exec", netns_name, *cmd])
