"""What a reconcile changes, and what the agent reports after it (no root).

The agent keeps the pods it serves in step with the plan: a reconcile closes
every served pod that is gone or changed shape, then opens every wanted pod
not (or no longer) served.  The ready file sums up what is served then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dataplane.agent.ready import Ready
from dataplane.topology.plan import Container, Pod


def served_shape(pod: Pod | None) -> tuple[str, str, tuple[Container, ...]] | None:
    """What the agent serves of a pod; a pod whose shape changed is reopened.

    Labels, annotations and readiness are not part of it: they change while
    the pod keeps its sockets (``mesh enroll`` relabels live pods).
    """
    return None if pod is None else (pod.netns, pod.ip, pod.containers)


@dataclass(frozen=True)
class Changes:
    """What one reconcile does to the pods served."""

    closing: tuple[str, ...]  # keys of served pods, in the order they were opened
    opening: tuple[Pod, ...]  # in the plan's order


def changes(served: Mapping[str, Pod], wanted: Iterable[Pod]) -> Changes:
    """From the pods served now (key -> pod as opened) to the node's pods in the
    plan.  A pod that failed to open before is not served, so it is tried again."""
    by_key = {pod.key: pod for pod in wanted}
    closing = tuple(key for key, pod in served.items() if served_shape(by_key.get(key)) != served_shape(pod))
    opening = tuple(pod for key, pod in by_key.items() if key not in served or key in closing)
    return Changes(closing, opening)


@dataclass(frozen=True)
class Served:
    """What the ready file reports of one served pod."""

    sockets: int  # listening sockets open
    workloads: Mapping[str, int]  # workload key -> pid of its command
    exited: Mapping[str, int]  # workload key of a Job's command that ended -> exit code


def ready_state(
    *, pid: int, node: str, generation: int, plan_digest: str, served: Mapping[str, Served], errors: Iterable[str]
) -> Ready:
    """The ready file's content: the pods served (sorted), their sockets and commands."""
    return Ready(
        pid=pid,
        node=node,
        generation=generation,
        plan=plan_digest,
        pods=sorted(served),
        sockets=sum(pod.sockets for pod in served.values()),
        workloads={key: command for pod in served.values() for key, command in pod.workloads.items()},
        errors=list(errors),
        exited={key: code for pod in served.values() for key, code in pod.exited.items()},
    )
