"""Bare Pods and controllers → the pods that exist, as Kubernetes' controllers keep them.

A bare Pod is one pod.  A Deployment or ReplicaSet is ``replicas`` pods named
``<name>-<ordinal>`` (dpctl's stable stand-in for the random suffixes);
a StatefulSet is exactly ``<name>-0`` .. ``<name>-<replicas-1>``, each with
its own name as hostname and the StatefulSet's ``serviceName`` as subdomain,
so it has a DNS name of its own under that headless Service; a DaemonSet is
one pod ``<name>-<node>`` on every node its nodeSelector matches
(``daemon_set_pods``, once the nodes are known).  Live changes
(``Overrides``) act here, the one place that knows which pod belongs to
which controller:

* a scale replaces the file's replica count (a DaemonSet cannot be scaled);
* a deleted bare Pod is gone; a deleted Deployment or ReplicaSet pod is
  replaced by a pod with a name never used: those pods are the lowest
  ordinals that were not deleted, so a replacement takes the next fresh
  ordinal and scaling down removes the highest ordinals first.  A StatefulSet
  scales down from its highest ordinal and never skips one;
* readiness and termination set live replace the pod's status from the file.

Pods keep file order, each controller's pods where the controller is, so a
file without live changes gives the same pods, in the same order, as always;
DaemonSet pods come last, node by node.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable

from ..errors import Problem
from .limits import DEFAULT_LIMITS, Limits
from .model import ControllerSpec, CronJobSpec, NodeSite, PodSpec
from .overrides import Overrides

DAEMON_SET = "DaemonSet"
STATEFUL_SET = "StatefulSet"
JOB = "Job"


def expand(
    workloads: list[PodSpec | ControllerSpec],
    overrides: Overrides,
    file: str,
    problems: list[Problem],
    limits: Limits = DEFAULT_LIMITS,
    nodes: int = 0,
    cron_jobs: list[CronJobSpec] | None = None,
) -> list[PodSpec]:
    """The pods of ``workloads`` under ``overrides``; an override naming nothing is a problem.

    The pods are counted before any is made: more than ``limits`` allow is
    one problem, and no pod at all, so a billion replicas cost nothing."""
    workloads = [*workloads, *_triggered_jobs(cron_jobs or [], overrides, file, problems)]
    deployments = {w.key: w for w in workloads if isinstance(w, ControllerSpec)}
    bare = {w.key for w in workloads if isinstance(w, PodSpec)}
    problems.extend(Problem(file, message) for message in _check(overrides, deployments, bare))
    count = sum(_replica_count(w, overrides, nodes) if isinstance(w, ControllerSpec) else 1 for w in workloads)
    too_many = limits.too_many_pods(count, nodes)
    if too_many is not None:
        problems.append(Problem(file, too_many))
        return []
    pods: list[PodSpec] = []
    for workload in workloads:
        if isinstance(workload, ControllerSpec):
            if workload.kind != DAEMON_SET:
                pods.extend(_replicas(workload, overrides))
        elif workload.key not in overrides.deleted:
            pods.append(workload)
    return [_status(pod, overrides) for pod in pods]


def _triggered_jobs(
    cron_jobs: list[CronJobSpec], overrides: Overrides, file: str, problems: list[Problem]
) -> list[ControllerSpec]:
    """The Jobs ``dpctl create job --from=cronjob/...`` made, each from its CronJob's template."""
    by_key = {c.key: c for c in cron_jobs}
    jobs = []
    for key, cron_key in sorted(overrides.jobs.items()):
        cron = by_key.get(cron_key)
        if cron is None:
            problems.append(Problem(file, f"live change 'create job {key}': no CronJob {cron_key} in the file"))
            continue
        name = key.partition("/")[2]
        jobs.append(ControllerSpec(cron.origin, cron.namespace, name, cron.pods, cron.template, JOB))
    return jobs


def daemon_set_pods(workloads: list[PodSpec | ControllerSpec], nodes: list[NodeSite], overrides: Overrides) -> list[PodSpec]:
    """One pod per DaemonSet on every node its template's nodeSelector (and nodeName) allows."""
    pods = []
    for workload in workloads:
        if not isinstance(workload, ControllerSpec) or workload.kind != DAEMON_SET:
            continue
        template = workload.template
        for node in nodes:
            wanted = template.node_name in (None, node.name)
            if wanted and all(node.labels.get(k) == v for k, v in template.node_selector.items()):
                pod = template.pod(f"{workload.name}-{node.name}", f"{DAEMON_SET}/{workload.name}")
                pods.append(_status(dataclasses.replace(pod, node_name=node.name), overrides))
    return pods


def _replica_count(controller: ControllerSpec, overrides: Overrides, nodes: int = 0) -> int:
    if controller.kind == DAEMON_SET:
        return nodes  # at most one a node
    return max(overrides.replicas.get(controller.key, controller.replicas), 0)


def _replicas(controller: ControllerSpec, overrides: Overrides) -> list[PodSpec]:
    count = _replica_count(controller, overrides)
    owner = f"{controller.kind}/{controller.name}"
    names = (f"{controller.name}-{i}" for i in itertools.count())
    if controller.kind != STATEFUL_SET:  # a StatefulSet's pod comes back under its own name
        names = (n for n in names if f"{controller.namespace}/{n}" not in overrides.deleted)
    return [controller.template.pod(name, owner) for name in itertools.islice(names, count)]


def _status(pod: PodSpec, overrides: Overrides) -> PodSpec:
    ready = overrides.ready.get(pod.key, pod.ready)
    terminating = pod.terminating or pod.key in overrides.terminating  # a deletionTimestamp is never unset
    if (ready, terminating) == (pod.ready, pod.terminating):
        return pod
    return dataclasses.replace(pod, ready=ready, terminating=terminating)


def _check(overrides: Overrides, deployments: dict[str, ControllerSpec], bare: set[str]) -> Iterable[str]:
    """Messages for overrides that name no Deployment or pod of the file, in the words of the command."""
    for key, count in sorted(overrides.replicas.items()):
        if key not in deployments:
            yield f"live change 'scale {key}': no Deployment, ReplicaSet or StatefulSet {key} in the file"
        elif deployments[key].kind == DAEMON_SET:
            yield f"live change 'scale {key}': a DaemonSet runs one pod on each node it selects; it cannot be scaled"
        elif deployments[key].kind == JOB:
            yield f"live change 'scale {key}': a Job's pods run to completion; it cannot be scaled"
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
                yield f"live change '{verb} {key}': no pod {key} in the file or made by one of its controllers"


def _may_be_replica(key: str, deployments: dict[str, ControllerSpec]) -> bool:
    """Whether one of ``deployments`` gives (or gave) a pod this key; a scaled-away or
    replaced pod still counts: overrides naming it are stale, not wrong."""
    namespace, _, name = key.partition("/")
    base = name.rpartition("-")[0]
    if f"{namespace}/{base}" in deployments and is_replica_name(name, base):
        return True
    return any(  # <daemonset>-<node>, where the node's name may hold dashes too
        c.kind == DAEMON_SET and c.namespace == namespace and name.startswith(f"{c.name}-") for c in deployments.values()
    )


def is_replica_name(pod: str, deployment: str) -> bool:
    """Whether ``pod`` is a name Deployment ``deployment`` gives its pods: ``<deployment>-<ordinal>``."""
    base, _, ordinal = pod.rpartition("-")
    return base == deployment and ordinal.isascii() and ordinal.isdigit() and str(int(ordinal)) == ordinal
