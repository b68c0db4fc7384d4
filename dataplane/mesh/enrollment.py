"""Which pods are in the mesh, and how, decided from labels alone as Istio does.

**Ambient** (istio-cni + ztunnel): a namespace joins with
``istio.io/dataplane-mode=ambient``, or one pod with that label; a pod opts
out with ``istio.io/dataplane-mode=none``.  **Sidecar** (the injector): a
namespace labelled ``istio-injection=enabled`` or ``istio.io/rev=<rev>``, or a
pod labelled (or, the older way, annotated) ``sidecar.istio.io/inject:
"true"``; ``"false"`` on the pod opts out.  The injector ignores ambient
labels and istio-cni skips pods that have a sidecar, so with both a pod gets
a sidecar: **the sidecar wins** (``waypoint-l7.md`` §6.2).

The labels are read live from the plan, so ``dpctl mesh enroll`` (a
namespace label change) moves pods in or out of ambient without restarting
them.  ``kube-system`` and the mesh's root namespace are never meshed
whatever their labels say: istio-cni and the injector exclude them, so that
the cluster DNS (CoreDNS) and the control plane keep working without the mesh
they serve.
"""

from __future__ import annotations

from dataplane.topology.plan import Plan, Pod

DATAPLANE_MODE = "istio.io/dataplane-mode"
AMBIENT = "ambient"
SIDECAR = "sidecar"
OPT_OUT = "none"
INJECTION = "istio-injection"
REVISION = "istio.io/rev"
INJECT = "sidecar.istio.io/inject"
TUNNEL = "networking.istio.io/tunnel"  # "http": the sidecar terminates HBONE (waypoint-l7.md §6.4)
SYSTEM_NAMESPACES = ("kube-system",)  # plus the plan's mesh root namespace


def mode(plan: Plan, pod: Pod) -> str | None:
    """``AMBIENT``, ``SIDECAR``, or None for a pod outside the mesh."""
    if pod.namespace in (*SYSTEM_NAMESPACES, plan.mesh_root_namespace):
        return None
    labels = next((ns.labels for ns in plan.namespaces if ns.name == pod.namespace), {})
    inject = pod.labels.get(INJECT, pod.annotations.get(INJECT))
    if inject == "true" or (inject != "false" and (labels.get(INJECTION) == "enabled" or REVISION in labels)):
        return SIDECAR
    chosen = pod.labels.get(DATAPLANE_MODE) or labels.get(DATAPLANE_MODE)
    return AMBIENT if chosen == AMBIENT else None


def is_enrolled(plan: Plan, pod: Pod) -> bool:
    """True when ``pod``'s traffic is captured by its node's ztunnel (ambient)."""
    return mode(plan, pod) == AMBIENT


def has_sidecar(plan: Plan, pod: Pod) -> bool:
    return mode(plan, pod) == SIDECAR


def is_meshed(plan: Plan, pod: Pod) -> bool:
    """Ambient or sidecar: the pod's traffic is captured and carries its identity."""
    return mode(plan, pod) is not None


def accepts_hbone(plan: Plan, pod: Pod) -> bool:
    """Whether ztunnels and waypoints reach ``pod`` over HBONE on its 15008:
    every ambient pod, and a sidecar pod labelled ``networking.istio.io/tunnel:
    http`` (without it they send plain TCP, which its sidecar captures)."""
    found = mode(plan, pod)
    return found == AMBIENT or (found == SIDECAR and pod.labels.get(TUNNEL) == "http")


def enrolled_pods(plan: Plan) -> tuple[Pod, ...]:
    """The plan's ambient pods, in plan order."""
    return tuple(p for p in plan.pods if is_enrolled(plan, p))
