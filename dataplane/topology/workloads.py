"""Bare Pods and Deployments → the pods that exist, as the ReplicaSet controller keeps them.

A bare Pod is one pod; a Deployment is ``replicas`` pods named
``<name>-<ordinal>``.  Live changes (``Overrides``) act here, the one place
that knows which pod belongs to which Deployment:

* a scale replaces the file's replica count;
* a deleted bare Pod is gone; a deleted Deployment pod is replaced, as a
  ReplicaSet replaces it, by a pod with a name never used: a Deployment's pods
  are its lowest ordinals that were not deleted, so a replacement takes the
  next fresh ordinal and scaling down removes the highest ordinals first;
* readiness and termination set live replace the pod's status from the file.

Pods keep file order, each Deployment's replicas where the Deployment is, so a
file without live changes gives the same pods, in the same order, as always.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable

from ..errors import Problem
from .limits import DEFAULT_LIMITS, Limits
from .model import DeploymentSpec, PodSpec
from .overrides import Overrides


def expand(
    workloads: list[PodSpec | DeploymentSpec],
    overrides: Overrides,
    file: str,
    problems: list[Problem],
    limits: Limits = DEFAULT_LIMITS,
    nodes: int = 0,
) -> list[PodSpec]:
    """The pods of ``workloads`` under ``overrides``; an override naming nothing is a problem.

    The pods are counted before any is made: more than ``limits`` allow is
    one problem, and no pod at all, so a billion replicas cost nothing."""
    deployments = {w.key: w for w in workloads if isinstance(w, DeploymentSpec)}
    bare = {w.key for w in workloads if isinstance(w, PodSpec)}
    problems.extend(Problem(file, message) for message in _check(overrides, deployments, bare))
    count = sum(_replica_count(w, overrides) if isinstance(w, DeploymentSpec) else 1 for w in workloads)
    too_many = limits.too_many_pods(count, nodes)
    if too_many is not None:
        problems.append(Problem(file, too_many))
        return []
    pods: list[PodSpec] = []
    for workload in workloads:
        if isinstance(workload, DeploymentSpec):
            pods.extend(_replicas(workload, overrides))
        elif workload.key not in overrides.deleted:
            pods.append(workload)
    return [_status(pod, overrides) for pod in pods]


def _replica_count(deployment: DeploymentSpec, overrides: Overrides) -> int:
    return max(overrides.replicas.get(deployment.key, deployment.replicas), 0)


def _replicas(deployment: DeploymentSpec, overrides: Overrides) -> list[PodSpec]:
    count = _replica_count(deployment, overrides)
    names = (f"{deployment.name}-{i}" for i in itertools.count())
    fresh = (n for n in names if f"{deployment.namespace}/{n}" not in overrides.deleted)
    owner = f"Deployment/{deployment.name}"
    return [deployment.template.pod(name, owner) for name in itertools.islice(fresh, count)]


def _status(pod: PodSpec, overrides: Overrides) -> PodSpec:
    ready = overrides.ready.get(pod.key, pod.ready)
    terminating = pod.terminating or pod.key in overrides.terminating  # a deletionTimestamp is never unset
    if (ready, terminating) == (pod.ready, pod.terminating):
        return pod
    return dataclasses.replace(pod, ready=ready, terminating=terminating)


def _check(overrides: Overrides, deployments: dict[str, DeploymentSpec], bare: set[str]) -> Iterable[str]:
    """Messages for overrides that name no Deployment or pod of the file, in the words of the command."""
    for key, count in sorted(overrides.replicas.items()):
        if key not in deployments:
            yield f"live change 'scale {key}': no Deployment {key} in the file"
        elif count < 0:
            yield f"live change 'scale {key}': replicas must not be negative, got {count}"
    changes = (
        ("delete pod", overrides.deleted),
        ("set ready", overrides.ready),
        ("set terminating", overrides.terminating),
    )
    for verb, keys in changes:
        for key in sorted(keys):
            if key not in bare and not _may_be_replica(key, deployments):
                yield f"live change '{verb} {key}': no pod {key} in the file or made by one of its Deployments"


def _may_be_replica(key: str, deployments: dict[str, DeploymentSpec]) -> bool:
    """Whether one of ``deployments`` gives (or gave) a pod this key; a scaled-away or
    replaced pod still counts: overrides naming it are stale, not wrong."""
    namespace, _, name = key.partition("/")
    base = name.rpartition("-")[0]
    return f"{namespace}/{base}" in deployments and is_replica_name(name, base)


def is_replica_name(pod: str, deployment: str) -> bool:
    """Whether ``pod`` is a name Deployment ``deployment`` gives its pods: ``<deployment>-<ordinal>``."""
    base, _, ordinal = pod.rpartition("-")
    return base == deployment and ordinal.isascii() and ordinal.isdigit() and str(int(ordinal)) == ordinal
