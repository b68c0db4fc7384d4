"""Ingress and IngressClass documents, kept for the edge (``dataplane.edge``).

Each is kept as checked, with its annotations (the AWS Load Balancer
Controller reads its settings there).  What a group of Ingresses becomes --
an ALB, or the controller's reconcile error -- is decided once every
document is read (``albs``), since an IngressClass or an Ingress of the
same group may come later in the input; an Ingress no ALB serves (another
controller's class) is reported as not yet enforced there.
"""

from __future__ import annotations

from typing import Any

from ..netpol import model as netpol_model
from .model import Manifest, ObjectRef, Origin, TrafficSpec
from .schema import compact


def parse_ingress(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    metadata = clean.get("metadata", {})
    name = metadata.get("name")
    if not isinstance(name, str):
        return
    namespace = metadata.get("namespace", "default")
    manifest.objects.append(ObjectRef(origin, "Ingress", namespace, name))
    manifest.traffic.append(
        TrafficSpec(origin, "Ingress", namespace, name, len(manifest.traffic), compact(clean.get("spec", {})),
                    dict(metadata.get("annotations", {})))
    )


def parse_ingress_class(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    name = clean.get("metadata", {}).get("name")
    if isinstance(name, str):
        manifest.traffic.append(
            TrafficSpec(origin, "IngressClass", "", name, len(manifest.traffic), compact(clean.get("spec", {})))
        )


def parse_cluster_scoped(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    """A GatewayClass: kept for the Gateways that name it (its controller decides who serves them)."""
    name = clean.get("metadata", {}).get("name")
    if isinstance(name, str) and origin.kind is not None:
        manifest.traffic.append(
            TrafficSpec(origin, origin.kind, "", name, len(manifest.traffic), compact(clean.get("spec", {})))
        )


def parse_namespaced(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    """A LoadBalancerConfiguration or TargetGroupConfiguration: kept for the AWS Gateways that use it."""
    metadata = clean.get("metadata", {})
    name = metadata.get("name")
    if isinstance(name, str) and origin.kind is not None:
        manifest.traffic.append(TrafficSpec(
            origin, origin.kind, metadata.get("namespace", "default"), name, len(manifest.traffic),
            compact(clean.get("spec", {})),
        ))


def parse_network_policy(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    """A NetworkPolicy: what the API server would refuse is an error at its field; kept for enforcement."""
    spec = compact(clean.get("spec", {}))
    for path, message in netpol_model.check(spec):
        origin.report(path, message)
    parse_namespaced(clean, origin, manifest)
