"""Which pods are in the ambient mesh, decided from labels alone as istio-cni does.

A namespace joins with ``istio.io/dataplane-mode=ambient``; a pod inside it
opts out with ``istio.io/dataplane-mode=none``.  The label is read live from
the plan, so ``dpctl mesh enroll`` (a namespace label change) moves pods in or
out without restarting them.  ``kube-system`` and the mesh's root namespace
are never enrolled whatever their labels say: istio-cni excludes them so that
the cluster DNS (CoreDNS) and the control plane keep working without the mesh
they serve.
"""

from __future__ import annotations

from dataplane.topology.plan import Plan, Pod

DATAPLANE_MODE = "istio.io/dataplane-mode"
AMBIENT = "ambient"
OPT_OUT = "none"
SYSTEM_NAMESPACES = ("kube-system",)  # plus the plan's mesh root namespace


def is_enrolled(plan: Plan, pod: Pod) -> bool:
    """True when ``pod``'s traffic is captured by its node's ztunnel."""
    if pod.namespace in (*SYSTEM_NAMESPACES, plan.mesh_root_namespace):
        return False
    if pod.labels.get(DATAPLANE_MODE) == OPT_OUT:
        return False
    labels = next((ns.labels for ns in plan.namespaces if ns.name == pod.namespace), {})
    return labels.get(DATAPLANE_MODE) == AMBIENT


def enrolled_pods(plan: Plan) -> tuple[Pod, ...]:
    """The plan's enrolled pods, in plan order."""
    return tuple(p for p in plan.pods if is_enrolled(plan, p))
