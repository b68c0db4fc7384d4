"""The edge kinds: Ingress and IngressClass (networking.k8s.io/v1), field by field.

Shapes only, as for every kind; what an Ingress *means* to the AWS Load
Balancer Controller (groups, annotations, rule order, certificates) is
decided by ``dataplane.edge``.  ``resource`` backends are real but never
emulated (no ALB target type takes them).
"""

from __future__ import annotations

from .kindbase import Kind, document, ignored, metadata
from .schema import Enum, Field, Int, ListOf, Obj, Str, Unsupported

NETWORKING = "networking.k8s.io/v1"

_SERVICE_BACKEND = Obj(
    {"name": Str(), "port": Obj({"number": Int(), "name": Str()})},
    required=("name", "port"),
)
_BACKEND: Field = Obj(
    {"service": _SERVICE_BACKEND, "resource": Unsupported("resource backends: the ALB forwards to Services only")}
)
_PATH = Obj(
    {"path": Str(), "pathType": Enum(("Exact", "Prefix", "ImplementationSpecific")), "backend": _BACKEND},
    required=("pathType", "backend"),
)
_INGRESS_SPEC = Obj(
    {
        "ingressClassName": Str(),
        "defaultBackend": _BACKEND,
        "rules": ListOf(Obj({"host": Str(), "http": Obj({"paths": ListOf(_PATH, min_items=1)}, required=("paths",))})),
        "tls": ListOf(Obj({"hosts": ListOf(Str()), "secretName": Str()})),
    }
)

INGRESS = Kind(
    "Ingress", NETWORKING, True, document(metadata(True), {"spec": _INGRESS_SPEC, **ignored("status")}, ("metadata",))
)
INGRESS_CLASS = Kind(
    "IngressClass",
    NETWORKING,
    False,
    document(
        metadata(False),
        {"spec": Obj({"controller": Str(), "parameters": Obj({}, open=True)}), **ignored("status")},
        ("metadata",),
    ),
)

EDGE_KINDS = (INGRESS, INGRESS_CLASS)
