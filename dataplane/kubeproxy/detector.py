"""kube-proxy's local-traffic detector: does a packet come from a pod?

kube-proxy needs to know whether a packet came from a pod of the cluster:
a ClusterIP packet from anywhere else is masqueraded (its reply must come
back through this node), and under externalTrafficPolicy: Local a packet
from a pod short-circuits to every endpoint.  It tells pods apart by their
source CIDR (``--detect-local-mode=ClusterCIDR``; overlay mode, where pods
have their own range) or by the host-side interface they arrive on
(``InterfaceNamePrefix``; vpc mode, where pods share the subnets with nodes).
"""

from __future__ import annotations

from dataplane.topology.plan import Plan

DetectLocal = tuple[str, str]  # ("cidr", "10.244.0.0/16") | ("ifname", "pv")

POD_IFACE_PREFIX = "pv"  # node-side veth of every pod (topology.naming.pod_host_iface)


def detector_for(plan: Plan) -> DetectLocal:
    """The detector matching the Plan's CNI: the pod CIDR in overlay mode, the pod veth prefix in vpc mode."""
    if plan.cni == "overlay":
        if plan.pod_cidr is None:
            raise ValueError("an overlay plan has no pod CIDR")
        return ("cidr", plan.pod_cidr)
    return ("ifname", POD_IFACE_PREFIX)


def from_pod(detect: DetectLocal) -> str:
    """The nft match for packets that come from a pod."""
    return _pod_match(detect, "")


def not_from_pod(detect: DetectLocal) -> str:
    """The nft match for packets that do not come from a pod."""
    return _pod_match(detect, "!= ")


def _pod_match(detect: DetectLocal, operator: str) -> str:
    kind, value = detect
    if kind == "cidr":
        return f"ip saddr {operator}{value}"
    if kind == "ifname":
        return f'iifname {operator}"{value}*"'
    raise ValueError(f"unknown local-traffic detector {kind!r}")
