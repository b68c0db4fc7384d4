"""Live changes to a running emulation: scale, delete, readiness, apply, mesh labels.

A change is computed as a new Plan from the emulation's source text, its
overrides and the running plan (survivors keep their node and address), then
rolled out in an order that never leaves a Service with ready endpoints
without rules, and never sends new connections to a pod that is not served:

1. namespaces and files for the pods that appear;
2. agents serve old and new pods together (plan with both, SIGHUP, wait);
3. every node's ruleset and the load balancer's are replaced atomically;
4. stale UDP conntrack entries of endpoints that went away are deleted;
5. agents drop the pods that went away (final plan, SIGHUP, wait);
6. the new inputs are saved, and the pods that went away lose their namespaces.

The caller holds the emulation's change lock (``state.lock``) and passes the
running plan it read once.  If any of steps 1-5 fails, the change is rolled
back to that plan -- agents, rulesets and namespaces -- and the error says
so; the saved inputs are untouched, so the emulation is what it was.

``dpctl mesh enroll/unenroll`` change only a namespace's
``istio.io/dataplane-mode`` label, kept in the overrides like every other
live change (``Overrides.labels``), so the plan is always file + overrides.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from dataplane.agent import ready
from dataplane.errors import DpctlError
from dataplane.kernel import etcnetns, netns
from dataplane.realize import fabric, identities, netpol, outsidetrust, podfiles, route53, services, vpc, wiring
from dataplane.realize.up import AGENT_READY_PER_POD
from dataplane.state.store import StateDir
from dataplane.topology import plan_from_sources
from dataplane.topology.limits import DEFAULT_LIMITS, Limits
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan, Pod
from dataplane.topology.sources import Source

AGENT_RELOAD_TIMEOUT = 10.0  # and AGENT_READY_PER_POD more per pod of the plan, as at start
# What a running emulation cannot change without being rebuilt.
_FIXED_FIELDS = (
    "cni", "vpc_cidr", "service_cidr", "cluster_domain", "pod_cidr", "subnets", "nodes", "external",
    "load_balancers",  # which ALBs exist and where (rules and targets do change live)
)


@dataclass(frozen=True)
class ChangeReport:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    udp_flows_flushed: int
    seconds: float


class RolledBack(DpctlError):
    """A live change failed part-way and the emulation was put back as it was."""


def _fixed(plan: Plan, name: str) -> object:
    """A fixed field's value; a node's schedulability (cordon, zonal shift) and security groups and a
    subnet's network ACL are not fixed (their rules are replaced live)."""
    if name == "nodes":
        return tuple(dataclasses.replace(n, unschedulable=False, security_groups=()) for n in plan.nodes)
    if name == "subnets":
        return tuple(dataclasses.replace(s, network_acl=None) for s in plan.subnets)
    return getattr(plan, name)


def _check_fixed(old: Plan, new: Plan) -> None:
    changed = [f for f in _FIXED_FIELDS if _fixed(old, f) != _fixed(new, f)]
    if changed:
        raise DpctlError(
            f"this change alters {', '.join(changed)} of {old.name!r}, which only a rebuild can do: "
            f"run 'dpctl down {old.name}' and 'dpctl up' with the new file"
        )


def reload_agents(state: StateDir, plan: Plan) -> None:
    """Publish ``plan`` to the agents and wait until each serves exactly it."""
    state.write_plan(plan)
    digest = ready.plan_digest(Path(state.plan_path).read_bytes())
    for node in plan.nodes:
        current = ready.read(Path(state.path), node.name)
        if current is None:
            raise DpctlError(f"the agent of node {node.name} is not running; 'dpctl status' shows the emulation")
        os.kill(current.pid, signal.SIGHUP)
    ready.wait(Path(state.path), [n.name for n in plan.nodes], lambda status: status.plan == digest,
               AGENT_RELOAD_TIMEOUT + AGENT_READY_PER_POD * len(plan.pods))


def _build_pods(plan: Plan, pods: list[Pod]) -> None:
    made: list[Pod] = []
    try:
        for pod in pods:
            _clear_leftover(plan, pod)
            made.append(pod)
            fabric.build_pod(plan, pod)
            etcnetns.write(pod.netns, podfiles.files_for(plan, pod))
        fabric.apply(wiring.fabric_map(plan, pods))
    except BaseException:
        _remove_pods(plan, made)
        raise


def _clear_leftover(plan: Plan, pod: Pod) -> None:
    """A namespace under a new pod's name is not in the running plan: a change
    killed half-way left it.  It carries this emulation's prefix, so it is ours
    to remove before the pod is made again."""
    if netns.exists(pod.netns):
        _remove_pods(plan, [pod])


def _remove_pods(plan: Plan, pods: list[Pod], staying: Plan | None = None) -> list[str]:
    """Remove every one of ``pods`` that can be removed; what could not, and why.  The fabric map forgets
    them, but for an address a pod of ``staying`` (the plan that runs next) has taken over."""
    failures = []
    taken = {p.ip for p in staying.pods} if staying is not None else set()
    try:
        fabric.apply(wiring.fabric_unmap(plan, [p for p in pods if p.ip not in taken]))
    except OSError as exc:
        failures.append(f"permanent ARP entries: {exc}")
    for pod in pods:
        try:
            fabric.remove_pod_link(plan, pod)
            netns.delete(pod.netns)
            etcnetns.remove(pod.netns)
        except OSError as exc:
            failures.append(f"{pod.key}: {exc}")
    return failures


def roll_out(state: StateDir, old: Plan, new: Plan, overrides: Overrides, sources: Sequence[Source]) -> ChangeReport:
    """Move the running emulation from ``old`` (its current plan) to ``new``."""
    started = time.monotonic()
    _check_fixed(old, new)
    old_pods = {(p.key, p.netns): p for p in old.pods}
    new_pods = {(p.key, p.netns): p for p in new.pods}
    added = [p for k, p in new_pods.items() if k not in old_pods]
    removed = [p for k, p in old_pods.items() if k not in new_pods]
    try:
        identities.issue(new)
        _build_pods(new, added)
        reload_agents(state, dataclasses.replace(new, pods=new.pods + tuple(removed)))
        services.apply_all(new)
        netpol.apply_all(new)
        vpc.apply_all(new)
        flushed = services.flush_stale_udp(old, new)
        route53.sync(new, state.path)  # ExternalDNS reconciles; the final reload serves its records
        outsidetrust.trust(new, state.path)
        reload_agents(state, new)
    except BaseException as exc:
        _roll_back(state, old, new, added, exc)
    state.save_inputs(sources, overrides)
    failures = _remove_pods(old, removed, staying=new)
    if failures:
        raise DpctlError(f"the change is live, but some removed pods' namespaces are left: {'; '.join(failures)}")
    return ChangeReport(
        added=tuple(p.key for p in added),
        removed=tuple(p.key for p in removed),
        udp_flows_flushed=flushed,
        seconds=time.monotonic() - started,
    )


def _roll_back(state: StateDir, old: Plan, new: Plan, added: list[Pod], cause: BaseException) -> NoReturn:
    """Put ``old`` back (agents, rulesets, namespaces of the pods ``new`` added) and raise."""
    what = "interrupted" if isinstance(cause, KeyboardInterrupt) else f"failed: {cause}"
    try:
        reload_agents(state, old)
        services.apply_all(old)
        netpol.apply_all(old)
        vpc.apply_all(old)
        leftovers = _remove_pods(new, added, staying=old)
        reused = {p.ip for p in added}  # an address an added pod took over points at the old pod's node again
        fabric.apply(wiring.fabric_map(old, [p for p in old.pods if p.ip in reused]))
    except BaseException as again:
        raise DpctlError(
            f"the change {what}; putting the emulation back failed too ({again}): "
            f"'dpctl apply' its file or 'dpctl down {old.name}'"
        ) from cause
    note = f" (namespaces left: {'; '.join(leftovers)})" if leftovers else ""
    raise RolledBack(f"the change {what}; the emulation was rolled back to how it was{note}") from cause


def change(state: StateDir, old: Plan, overrides: Overrides, limits: Limits = DEFAULT_LIMITS) -> ChangeReport:
    """Recompute the plan of the emulation (running ``old``) from its source with
    ``overrides`` and roll it out."""
    sources = state.load_sources()
    new = plan_from_sources(sources, previous=old, overrides=overrides, limits=limits)
    # Readiness of pods that no longer exist must not stick to a future pod of the same name.
    return roll_out(state, old, new, overrides.pruned(new), sources)
