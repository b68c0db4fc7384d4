"""Bringing an emulation up from a Plan, all or nothing.

Steps run in order: workload identities, router, nodes, overlay, pods, the
outside client and load balancer, pod files, agents, Service rules.  If any
step fails -- or the user interrupts -- everything made so far is torn down
before the error is reported, so a failed ``up`` leaves the host as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from dataplane.agent import ready
from dataplane.errors import BuildError, StateError
from dataplane.kernel import etcnetns, netns, process
from dataplane.realize import fabric, identities, netpol, outsidetrust, podfiles, route53, services, vpc
from dataplane.realize.teardown import teardown
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan
from dataplane.topology.sources import Source

AGENT_READY_TIMEOUT = 20.0
# Agents start in parallel on few cores, each opening every socket of its pods: at 10,000 pods on 50 nodes
# they took longer than 20 s together, so the wait grows with the pods (10,000 pods: 120 s).
AGENT_READY_PER_POD = 0.01


def agent_ready_timeout(plan: Plan) -> float:
    return AGENT_READY_TIMEOUT + AGENT_READY_PER_POD * len(plan.pods)
Progress = Callable[[str, int, int], None]


def agent_argv(state: StateDir, node: str) -> list[str]:
    return [sys.executable, "-m", "dataplane.agent", "--state-dir", state.path, "--node", node]


def _start_agents(plan: Plan, state: StateDir) -> None:
    """One agent per node; returns once every agent serves all its pods."""
    agents = {
        node.name: process.spawn_in_netns(node.netns, agent_argv(state, node.name), Path(state.agent_log_path(node.name)))
        for node in plan.nodes
    }

    def exited(node: str) -> str | None:
        return f"exited; see {state.agent_log_path(node)}" if agents[node].poll() is not None else None

    ready.wait(Path(state.path), sorted(agents), lambda status: True, agent_ready_timeout(plan), gone=exited)


def _write_pod_files(plan: Plan) -> None:
    for pod in plan.pods:
        etcnetns.write(pod.netns, podfiles.files_for(plan, pod))


def _steps(plan: Plan, state: StateDir) -> Iterator[tuple[str, Callable[[], None]]]:
    yield ("workload identities", lambda: identities.issue(plan))
    yield from fabric.steps(plan)
    yield ("pod files", lambda: _write_pod_files(plan))
    yield ("route 53", lambda: route53.sync(plan, state.path))
    yield ("public root", lambda: outsidetrust.trust(plan, state.path))
    yield ("agents", lambda: _start_agents(plan, state))
    yield ("service rules", lambda: services.apply_all(plan))
    yield ("network policies", lambda: netpol.apply_all(plan))
    yield ("security groups and network ACLs", lambda: vpc.apply_all(plan))


def step_count(plan: Plan) -> int:
    return sum(1 for _ in _steps(plan, StateDir(plan.name)))


def up(plan: Plan, sources: str | Sequence[Source], progress: Progress | None = None) -> None:
    """Build ``plan`` (made from ``sources``, or one text named as the plan's
    source); on any failure remove everything and raise BuildError."""
    if isinstance(sources, str):
        sources = [Source(plan.source, sources)]
    state = StateDir(plan.name)
    if state.exists() or netns.list_names(plan.prefix):
        raise StateError(
            f"emulation {plan.name!r} is already up (or left over); run 'dpctl down {plan.name}' first"
        )
    total = step_count(plan)
    state.create(plan, sources)  # refuses, touching nothing, if the directory appeared meanwhile
    label = "state directory"
    try:
        for done, (label, step) in enumerate(_steps(plan, state)):
            if progress:
                progress(label, done, total)
            step()
        state.set_phase("up")
        if progress:
            progress("done", total, total)
    except BaseException as exc:
        teardown(plan.name)
        if isinstance(exc, KeyboardInterrupt):
            raise BuildError(f"interrupted while building {label}; everything built was removed") from exc
        raise BuildError(f"building {label} failed: {exc}; everything built was removed") from exc
