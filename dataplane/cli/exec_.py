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
from dataplane.errors import StateError
from dataplane.topology.plan import Plan


def resolve_netns(plan: Plan, target: str) -> str:
    """``NAMESPACE/POD``, ``node/NODE``, ``external`` (the client outside the
    cluster) or ``lb`` (the cloud load balancer) to a namespace name."""
    if target in ("external", "lb"):
        if plan.external is None:
            raise StateError(f"{plan.name} has no outside world")
        return plan.external.client_netns if target == "external" else plan.external.lb_netns
    kind, sep, name = target.partition("/")
    if not sep or not kind or not name:
        raise StateError(f"{target!r}: expected NAMESPACE/POD, node/NODE, external or lb")
    nodes = [n.name for n in plan.nodes]
    if kind == "node" and name in nodes:
        return plan.node(name).netns
    if kind == "node" and not any(p.namespace == "node" for p in plan.pods):
        raise StateError(f"no node {name} in {plan.name} (nodes: {', '.join(nodes)})")
    try:
        return plan.pod(kind, name).netns
    except KeyError:
        pods = ", ".join(p.key for p in plan.pods[:8])
        raise StateError(f"no pod {target} in {plan.name} (pods: {pods}{', ...' if len(plan.pods) > 8 else ''})") from None


@click.command("exec", context_settings={"ignore_unknown_options": True})
@topology_option
@click.argument("target", metavar="NAMESPACE/POD|node/NODE|external|lb")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def command(topology: str | None, target: str, cmd: tuple[str, ...]) -> None:
    """Run CMD inside a pod, a node, the outside client or the load balancer;
    its exit code is passed through."""
    require_root("dpctl exec")
    netns_name = resolve_netns(running_plan(topology), target)
    os.execvp("ip", ["ip", "netns", "exec", netns_name, *cmd])
