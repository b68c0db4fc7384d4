"""The edge and network-security kinds: Ingress, IngressClass and NetworkPolicy
(networking.k8s.io/v1), GatewayClass, and the AWS Load Balancer Controller's
LoadBalancerConfiguration and TargetGroupConfiguration, field by field.

Shapes only, as for every kind; what an Ingress *means* to the AWS Load
Balancer Controller (groups, annotations, rule order, certificates) is
decided by ``dataplane.edge``.  ``resource`` backends are real but never
emulated (no ALB target type takes them).
"""

from __future__ import annotations

from .kindbase import Kind, document, ignored, metadata
from .schema import Enum, Field, Int, IntOrStr, ListOf, Obj, Str, StrMap, Unsupported

NETWORKING = "networking.k8s.io/v1"
GATEWAY_API = "gateway.networking.k8s.io/v1"
LBC_GATEWAY = "gateway.k8s.aws/v1beta1"

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

GATEWAY_CLASS = Kind(
    "GatewayClass",
    GATEWAY_API,
    False,
    document(
        metadata(False),
        {
            "spec": Obj(
                {
                    "controllerName": Str(),
                    "parametersRef": Obj(
                        {"group": Str(), "kind": Str(), "name": Str(), "namespace": Str()}, required=("name",)
                    ),
                    "description": Str(),
                },
                required=("controllerName",),
            ),
            **ignored("status"),
        },
        ("metadata", "spec"),
    ),
    also=("gateway.networking.k8s.io/v1beta1",),
)

_LISTENER_CONFIGURATION = Obj(
    {
        "protocolPort": Str(),
        "defaultCertificate": Str(),
        "certificates": ListOf(Str()),
        "sslPolicy": Str(),
        **ignored("alpnPolicy", "mutualAuthentication", "listenerAttributes"),
    },
    required=("protocolPort",),
)
LOAD_BALANCER_CONFIGURATION = Kind(
    "LoadBalancerConfiguration",
    LBC_GATEWAY,
    True,
    document(
        metadata(True),
        {
            "spec": Obj(
                {
                    "scheme": Enum(("internal", "internet-facing")),
                    "listenerConfigurations": ListOf(_LISTENER_CONFIGURATION),
                    "tags": StrMap(),
                    **ignored(
                        "mergingMode", "loadBalancerName", "ipAddressType",
                        "enforceSecurityGroupInboundRulesOnPrivateLinkTraffic", "customerOwnedIpv4Pool",
                        "ipv4IPAMPoolId", "loadBalancerSubnets", "loadBalancerSubnetsSelector", "securityGroups",
                        "securityGroupPrefixes", "sourceRanges", "vpcId", "loadBalancerAttributes", "enableICMP",
                        "manageBackendSecurityGroupRules", "minimumLoadBalancerCapacity",
                    ),
                }
            ),
            **ignored("status"),
        },
        ("metadata",),
    ),
)
TARGET_GROUP_CONFIGURATION = Kind(
    "TargetGroupConfiguration",
    LBC_GATEWAY,
    True,
    document(
        metadata(True),
        {
            "spec": Obj(
                {
                    "targetReference": Obj({"group": Str(), "kind": Str(), "name": Str()}, required=("name",)),
                    "defaultConfiguration": Obj({"targetType": Enum(("instance", "ip"))}, open=True),
                    **ignored("routeConfigurations"),
                },
                required=("targetReference",),
            ),
            **ignored("status"),
        },
        ("metadata", "spec"),
    ),
)

_LABEL_SELECTOR = Obj(
    {
        "matchLabels": StrMap(),
        "matchExpressions": ListOf(
            Obj({"key": Str(), "operator": Enum(("In", "NotIn", "Exists", "DoesNotExist")), "values": ListOf(Str())},
                required=("key", "operator"))
        ),
    }
)
_NETPOL_PEER = Obj(
    {
        "podSelector": _LABEL_SELECTOR,
        "namespaceSelector": _LABEL_SELECTOR,
        "ipBlock": Obj({"cidr": Str(), "except": ListOf(Str())}, required=("cidr",)),
    }
)
_NETPOL_PORT = Obj({"protocol": Enum(("TCP", "UDP", "SCTP")), "port": IntOrStr(), "endPort": Int()})
NETWORK_POLICY = Kind(
    "NetworkPolicy",
    NETWORKING,
    True,
    document(
        metadata(True),
        {
            "spec": Obj(
                {
                    "podSelector": _LABEL_SELECTOR,
                    "policyTypes": ListOf(Enum(("Ingress", "Egress"))),
                    "ingress": ListOf(Obj({"from": ListOf(_NETPOL_PEER), "ports": ListOf(_NETPOL_PORT)})),
                    "egress": ListOf(Obj({"to": ListOf(_NETPOL_PEER), "ports": ListOf(_NETPOL_PORT)})),
                },
                required=("podSelector",),
            ),
            **ignored("status"),
        },
        ("metadata", "spec"),
    ),
)

SECURITY_GROUP_POLICY = Kind(
    "SecurityGroupPolicy",
    "vpcresources.k8s.aws/v1beta1",
    True,
    document(
        metadata(True),
        {
            "spec": Obj(
                {
                    "podSelector": _LABEL_SELECTOR,
                    "serviceAccountSelector": Unsupported(
                        "use podSelector: dpctl keeps no ServiceAccount labels to select by"),
                    "securityGroups": Obj({"groupIds": ListOf(Str(), min_items=1)}, required=("groupIds",)),
                },
                required=("podSelector", "securityGroups"),
            ),
            **ignored("status"),
        },
        ("metadata", "spec"),
    ),
)

EDGE_KINDS = (
    INGRESS, INGRESS_CLASS, NETWORK_POLICY, GATEWAY_CLASS, LOAD_BALANCER_CONFIGURATION, TARGET_GROUP_CONFIGURATION,
    SECURITY_GROUP_POLICY,
)
