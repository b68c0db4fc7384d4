"""Live changes to a running emulation: scale, delete, readiness, apply.

A change is computed as a new Plan from the emulation's source text, its
overrides and the running plan (survivors keep their node and address), then
rolled out in an order that never leaves a Service with ready endpoints
without rules, and never sends new connections to a pod that is not served:

1. namespaces and files for the pods that appear;
2. agents serve old and new pods together (plan with both, SIGHUP, wait);
3. every node's ruleset and the load balancer's are replaced atomically;
4. stale UDP conntrack entries of endpoints that went away are deleted;
5. agents drop the pods that went away (final plan, SIGHUP, wait);
6. those pods' namespaces are deleted.

``dpctl mesh enroll/unenroll`` change only a namespace's
``istio.io/dataplane-mode`` label.  Overrides hold no namespace labels, so the
label changes are kept in ``<state>/mesh.json`` (namespace → "ambient", or
null for "label removed") and laid over every plan this module computes
(``with_mesh_labels``); the roll-out is a plain agent reload, since neither
pods nor kube-proxy rules change.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from dataplane.agent import ready
from dataplane.build import fabric, identities, podfiles, services
from dataplane.build.state import StateDir
from dataplane.errors import DpctlError
from dataplane.kernel import etcnetns, netns
from dataplane.mesh.enrollment import AMBIENT, DATAPLANE_MODE
from dataplane.topology import plan_from_text
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan, Pod

MESH_FILE = "mesh.json"

AGENT_RELOAD_TIMEOUT = 10.0
# What a running emulation cannot change without being rebuilt.
_FIXED_FIELDS = ("cni", "vpc_cidr", "service_cidr", "cluster_domain", "pod_cidr", "subnets", "nodes", "external")


@dataclass(frozen=True)
class ChangeReport:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    udp_flows_flushed: int
    seconds: float


def _check_fixed(old: Plan, new: Plan) -> None:
    changed = [f for f in _FIXED_FIELDS if getattr(old, f) != getattr(new, f)]
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
    deadline = time.monotonic() + AGENT_RELOAD_TIMEOUT
    for node in plan.nodes:
        while True:
            current = ready.read(Path(state.path), node.name)
            if current is not None and current.plan == digest:
                if current.errors:
                    raise DpctlError(f"agent of node {node.name}: {'; '.join(current.errors)}")
                break
            if time.monotonic() > deadline:
                raise DpctlError(f"the agent of node {node.name} did not take the change in {AGENT_RELOAD_TIMEOUT:.0f} s")
            time.sleep(0.01)


def _build_pods(plan: Plan, pods: list[Pod]) -> None:
    made: list[Pod] = []
    try:
        for pod in pods:
            made.append(pod)
            fabric.build_pod(plan, pod)
            etcnetns.write(pod.netns, podfiles.files_for(plan, pod))
    except BaseException:
        _remove_pods(plan, made)
        raise


def _remove_pods(plan: Plan, pods: list[Pod]) -> None:
    for pod in pods:
        fabric.remove_pod_link(plan, pod)
        netns.delete(pod.netns)
        etcnetns.remove(pod.netns)


def roll_out(state: StateDir, new: Plan, overrides: Overrides, source_text: str) -> ChangeReport:
    """Move the running emulation from its current plan to ``new``."""
    started = time.monotonic()
    old = state.load_plan()
    _check_fixed(old, new)
    old_pods = {(p.key, p.netns): p for p in old.pods}
    new_pods = {(p.key, p.netns): p for p in new.pods}
    added = [p for k, p in new_pods.items() if k not in old_pods]
    removed = [p for k, p in old_pods.items() if k not in new_pods]
    identities.issue(new)
    _build_pods(new, added)
    reload_agents(state, dataclasses.replace(new, pods=new.pods + tuple(removed)))
    services.apply_all(new)
    flushed = services.flush_stale_udp(old, new)
    reload_agents(state, new)
    _remove_pods(old, removed)
    state.save_inputs(source_text, overrides)
    return ChangeReport(
        added=tuple(p.key for p in added),
        removed=tuple(p.key for p in removed),
        udp_flows_flushed=flushed,
        seconds=time.monotonic() - started,
    )


def change(name: str, overrides: Overrides, source_text: str | None = None) -> ChangeReport:
    """Recompute the plan of ``name`` with ``overrides`` (and new source text
    for ``apply``) and roll it out."""
    state = StateDir(name)
    old = state.load_plan()
    text = source_text if source_text is not None else state.load_source()
    new = with_mesh_labels(state, plan_from_text(text, old.source, previous=old, overrides=overrides))
    # Readiness of pods that no longer exist must not stick to a future pod of the same name.
    return roll_out(state, new, overrides.pruned(new), text)


def _mesh_modes(state: StateDir) -> dict[str, str | None]:
    try:
        with open(os.path.join(state.path, MESH_FILE)) as handle:
            return dict(json.load(handle))
    except FileNotFoundError:
        return {}


def forget_mesh_modes(state: StateDir) -> None:
    """Drop ``mesh enroll/unenroll`` changes: the file applied is the new desired state."""
    try:
        os.unlink(os.path.join(state.path, MESH_FILE))
    except FileNotFoundError:
        pass


def with_mesh_labels(state: StateDir, plan: Plan) -> Plan:
    """``plan`` with the dataplane-mode labels set by ``mesh enroll/unenroll``."""
    modes = _mesh_modes(state)
    if not modes:
        return plan
    namespaces = []
    for ns in plan.namespaces:
        if ns.name not in modes:
            namespaces.append(ns)
            continue
        labels = {k: v for k, v in ns.labels.items() if k != DATAPLANE_MODE}
        if modes[ns.name] is not None:
            labels[DATAPLANE_MODE] = str(modes[ns.name])
        namespaces.append(dataclasses.replace(ns, labels=labels))
    return dataclasses.replace(plan, namespaces=tuple(namespaces))


def set_dataplane_mode(name: str, namespace: str, enrolled: bool) -> float:
    """Label (or unlabel) ``namespace`` ambient in the running emulation and
    roll it out to the agents; the seconds it took."""
    started = time.monotonic()
    state = StateDir(name)
    old = state.load_plan()
    if namespace not in {ns.name for ns in old.namespaces}:
        raise DpctlError(f"no namespace {namespace!r} in {name}")
    modes = _mesh_modes(state)
    modes[namespace] = AMBIENT if enrolled else None
    path = os.path.join(state.path, MESH_FILE)
    with open(f"{path}.tmp", "w") as handle:
        json.dump(modes, handle, indent=1, sort_keys=True)
    os.replace(f"{path}.tmp", path)
    new = with_mesh_labels(state, old)
    identities.issue(new)
    reload_agents(state, new)
    return time.monotonic() - started
