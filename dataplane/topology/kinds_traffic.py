"""The traffic-management kinds: Gateway API (Gateway, HTTPRoute, GRPCRoute, TLSRoute) and Istio's
VirtualService and DestinationRule, field by field.

These shapes are checked here like every other kind (unknown fields are
errors, with a did-you-mean); what the values *mean* -- precedence, regular
expressions, defaults, fields a waypoint does not honour -- is decided by the
L7 routing core (``dataplane.l7.routing``), which reports through the same
problem list.  Fields that are real but never emulated are ``Ignored``.
"""

from __future__ import annotations

from .kindbase import Kind, document, ignored, metadata
from .schema import Bool, Enum, Field, Int, ListOf, MapOf, Num, Obj, Str, StrMap

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_API_BETA = ("gateway.networking.k8s.io/v1beta1",)
ISTIO_NETWORKING = "networking.istio.io/v1"
ISTIO_NETWORKING_OLDER = ("networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")

# -- Gateway API ----------------------------------------------------------------------------------

_PARENT_REF = Obj(
    {"group": Str(), "kind": Str(), "namespace": Str(), "name": Str(), "port": Int(), "sectionName": Str()},
    required=("name",),
)
_BACKEND_OBJECT = {"group": Str(), "kind": Str(), "name": Str(), "namespace": Str(), "port": Int()}
_NAME_VALUE = Obj({"name": Str(), "value": Str()}, required=("name", "value"))
_HEADER_MODIFIER = Obj({"set": ListOf(_NAME_VALUE), "add": ListOf(_NAME_VALUE), "remove": ListOf(Str())})
_PATH_MODIFIER = Obj(
    {"type": Enum(("ReplaceFullPath", "ReplacePrefixMatch")), "replaceFullPath": Str(), "replacePrefixMatch": Str()},
    required=("type",),
)
_REQUEST_MIRROR = Obj(
    {
        "backendRef": Obj(_BACKEND_OBJECT, required=("name",)),
        "percent": Int(),
        "fraction": Obj({"numerator": Int(), "denominator": Int()}, required=("numerator",)),
    },
    required=("backendRef",),
)
_FILTER = Obj(
    {
        "type": Enum(
            (
                "RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite",
                "RequestMirror", "CORS", "ExtensionRef",
            )
        ),
        "requestHeaderModifier": _HEADER_MODIFIER,
        "responseHeaderModifier": _HEADER_MODIFIER,
        "requestRedirect": Obj(
            {"scheme": Str(), "hostname": Str(), "path": _PATH_MODIFIER, "port": Int(), "statusCode": Int()}
        ),
        "urlRewrite": Obj({"hostname": Str(), "path": _PATH_MODIFIER}),
        "requestMirror": _REQUEST_MIRROR,
        "cors": Obj({}, open=True),
        "extensionRef": Obj({}, open=True),
    },
    required=("type",),
)
_VALUE_MATCH = Obj(
    {"type": Enum(("Exact", "RegularExpression")), "name": Str(), "value": Str()}, required=("name", "value")
)
_HTTP_ROUTE_MATCH = Obj(
    {
        "path": Obj({"type": Enum(("Exact", "PathPrefix", "RegularExpression")), "value": Str()}),
        "headers": ListOf(_VALUE_MATCH),
        "queryParams": ListOf(_VALUE_MATCH),
        "method": Enum(METHODS),
    }
)
_HTTP_ROUTE_RULE = Obj(
    {
        "name": Str(),
        "matches": ListOf(_HTTP_ROUTE_MATCH),
        "filters": ListOf(_FILTER),
        "backendRefs": ListOf(
            Obj({**_BACKEND_OBJECT, "weight": Int(), "filters": ListOf(_FILTER)}, required=("name",))
        ),
        "timeouts": Obj({"request": Str(), "backendRequest": Str()}),
        "retry": Obj({"attempts": Int(), "codes": ListOf(Int()), "backoff": Str()}),
        **ignored("sessionPersistence"),
    }
)
_HTTP_ROUTE_SPEC = Obj(
    {"parentRefs": ListOf(_PARENT_REF), "hostnames": ListOf(Str()), "rules": ListOf(_HTTP_ROUTE_RULE)}
)
HTTP_ROUTE = Kind(
    "HTTPRoute",
    GATEWAY_API,
    True,
    document(metadata(True), {"spec": _HTTP_ROUTE_SPEC, **ignored("status")}),
    also=GATEWAY_API_BETA,
)

_LISTENER = Obj(
    {
        "name": Str(),
        "port": Int(),
        "protocol": Str(),
        "hostname": Str(),
        "allowedRoutes": Obj(
            {
                "namespaces": Obj(
                    {"from": Enum(("All", "Same", "Selector")), "selector": Obj({"matchLabels": StrMap()})}
                ),
                **ignored("kinds"),
            }
        ),
        "tls": Obj(
            {
                "mode": Enum(("Terminate", "Passthrough")),
                "certificateRefs": ListOf(
                    Obj({"group": Str(), "kind": Str(), "name": Str(), "namespace": Str()}, required=("name",))
                ),
                **ignored("options", "frontendValidation"),
            }
        ),
    },
    required=("name", "port", "protocol"),
)
GATEWAY = Kind(
    "Gateway",
    GATEWAY_API,
    True,
    document(
        metadata(True),
        {
            "spec": Obj(
                {
                    "gatewayClassName": Str(),
                    "listeners": ListOf(_LISTENER),
                    "infrastructure": Obj(
                        {
                            "parametersRef": Obj({"group": Str(), "kind": Str(), "name": Str()}, required=("name",)),
                            "labels": StrMap(),
                            "annotations": StrMap(),
                        }
                    ),
                    **ignored("addresses", "backendTLS"),
                },
                required=("gatewayClassName",),
            ),
            **ignored("status"),
        },
        ("metadata", "spec"),
    ),
    also=GATEWAY_API_BETA,
)

_TLS_ROUTE_SPEC = Obj(
    {
        "parentRefs": ListOf(_PARENT_REF),
        "hostnames": ListOf(Str()),
        "rules": ListOf(
            Obj({"name": Str(), "backendRefs": ListOf(Obj({**_BACKEND_OBJECT, "weight": Int()}, required=("name",)))})
        ),
    }
)
TLS_ROUTE = Kind(
    "TLSRoute",
    GATEWAY_API,
    True,
    document(metadata(True), {"spec": _TLS_ROUTE_SPEC, **ignored("status")}),
    also=("gateway.networking.k8s.io/v1alpha2", "gateway.networking.k8s.io/v1alpha3"),
)

_GRPC_FILTER = Obj(
    {
        "type": Enum(("RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "ExtensionRef")),
        "requestHeaderModifier": _HEADER_MODIFIER,
        "responseHeaderModifier": _HEADER_MODIFIER,
        "requestMirror": _REQUEST_MIRROR,
        "extensionRef": Obj({}, open=True),
    },
    required=("type",),
)
_GRPC_ROUTE_RULE = Obj(
    {
        "name": Str(),
        "matches": ListOf(
            Obj(
                {
                    "method": Obj(
                        {"type": Enum(("Exact", "RegularExpression")), "service": Str(), "method": Str()}
                    ),
                    "headers": ListOf(_VALUE_MATCH),
                }
            )
        ),
        "filters": ListOf(_GRPC_FILTER),
        "backendRefs": ListOf(
            Obj({**_BACKEND_OBJECT, "weight": Int(), "filters": ListOf(_GRPC_FILTER)}, required=("name",))
        ),
        **ignored("sessionPersistence"),
    }
)
GRPC_ROUTE = Kind(
    "GRPCRoute",
    GATEWAY_API,
    True,
    document(
        metadata(True),
        {
            "spec": Obj(
                {"parentRefs": ListOf(_PARENT_REF), "hostnames": ListOf(Str()), "rules": ListOf(_GRPC_ROUTE_RULE)}
            ),
            **ignored("status"),
        },
    ),
    also=("gateway.networking.k8s.io/v1alpha2",),
)

# -- Istio networking ---------------------------------------------------------------------------

_STRING_MATCH = Obj({"exact": Str(), "prefix": Str(), "regex": Str()})
_PERCENT = Obj({"value": Num()})
_HEADER_OPERATIONS = Obj({"set": StrMap(), "add": StrMap(), "remove": ListOf(Str())})
_DESTINATION = Obj(
    {"host": Str(), "subset": Str(), "port": Obj({"number": Int()})}, required=("host",)
)
_VS_MATCH = Obj(
    {
        "name": Str(),
        "uri": _STRING_MATCH,
        "scheme": _STRING_MATCH,
        "method": _STRING_MATCH,
        "authority": _STRING_MATCH,
        "headers": MapOf(_STRING_MATCH),
        "port": Int(),
        "sourceLabels": StrMap(),
        "gateways": ListOf(Str()),
        "queryParams": MapOf(_STRING_MATCH),
        "ignoreUriCase": Bool(),
        "withoutHeaders": MapOf(_STRING_MATCH),
        "sourceNamespace": Str(),
        "statPrefix": Str(),
    }
)
_VS_HTTP = Obj(
    {
        "name": Str(),
        "match": ListOf(_VS_MATCH),
        "route": ListOf(
            Obj({"destination": _DESTINATION, "weight": Int(), "headers": Obj(
                {"request": _HEADER_OPERATIONS, "response": _HEADER_OPERATIONS}
            )}, required=("destination",))
        ),
        "redirect": Obj(
            {
                "uri": Str(), "authority": Str(), "port": Int(), "scheme": Str(), "redirectCode": Int(),
                "derivePort": Str(),
            }
        ),
        "directResponse": Obj(
            {"status": Int(), "body": Obj({"string": Str(), "bytes": Str()})}, required=("status",)
        ),
        "rewrite": Obj({"uri": Str(), "authority": Str(), "uriRegexRewrite": Obj({"match": Str(), "rewrite": Str()})}),
        "timeout": Str(),
        "retries": Obj(
            {"attempts": Int(), "perTryTimeout": Str(), "retryOn": Str(), "retryRemoteLocalities": Bool()}
        ),
        "fault": Obj(
            {
                "delay": Obj({"fixedDelay": Str(), "percentage": _PERCENT, "percent": Int()}),
                "abort": Obj({"httpStatus": Int(), "grpcStatus": Str(), "http2Error": Str(), "percentage": _PERCENT}),
            }
        ),
        "mirror": _DESTINATION,
        "mirrorPercentage": _PERCENT,
        "mirrors": ListOf(Obj({"destination": _DESTINATION, "percentage": _PERCENT}, required=("destination",))),
        "corsPolicy": Obj({}, open=True),
        "headers": Obj({"request": _HEADER_OPERATIONS, "response": _HEADER_OPERATIONS}),
        "delegate": Obj({}, open=True),
    }
)
VIRTUAL_SERVICE = Kind(
    "VirtualService",
    ISTIO_NETWORKING,
    True,
    document(
        metadata(True),
        {
            "spec": Obj(
                {
                    "hosts": ListOf(Str()),
                    "gateways": ListOf(Str()),
                    "http": ListOf(_VS_HTTP),
                    "tcp": ListOf(Obj({}, open=True)),
                    "tls": ListOf(Obj({}, open=True)),
                    **ignored("exportTo"),
                }
            ),
            **ignored("status"),
        },
        ("metadata", "spec"),
    ),
    also=ISTIO_NETWORKING_OLDER,
)

_TRAFFIC_POLICY: dict[str, Field] = {
    "loadBalancer": Obj(
        {
            "simple": Enum(("UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST")),
            "consistentHash": Obj({}, open=True),
            **ignored("localityLbSetting", "warmupDurationSecs", "warmup"),
        }
    ),
    "connectionPool": Obj(
        {
            "tcp": Obj(
                {
                    "maxConnections": Int(), "connectTimeout": Str(), "maxConnectionDuration": Str(),
                    "idleTimeout": Str(), **ignored("tcpKeepalive"),
                }
            ),
            "http": Obj(
                {
                    "http1MaxPendingRequests": Int(), "http2MaxRequests": Int(), "maxRequestsPerConnection": Int(),
                    "maxRetries": Int(), "idleTimeout": Str(), "h2UpgradePolicy": Str(),
                    "useClientProtocol": Bool(), "maxConcurrentStreams": Int(),
                }
            ),
        }
    ),
    "outlierDetection": Obj(
        {
            "consecutive5xxErrors": Int(), "consecutiveGatewayErrors": Int(),
            "consecutiveLocalOriginFailures": Int(), "splitExternalLocalOriginErrors": Bool(),
            "interval": Str(), "baseEjectionTime": Str(), "maxEjectionPercent": Int(), "minHealthPercent": Int(),
            **ignored("consecutiveErrors"),
        }
    ),
    "tls": Obj({}, open=True),
    "portLevelSettings": ListOf(Obj({}, open=True)),
    **ignored("tunnel", "proxyProtocol"),
}
DESTINATION_RULE = Kind(
    "DestinationRule",
    ISTIO_NETWORKING,
    True,
    document(
        metadata(True),
        {
            "spec": Obj(
                {
                    "host": Str(),
                    "trafficPolicy": Obj(_TRAFFIC_POLICY),
                    "subsets": ListOf(
                        Obj({"name": Str(), "labels": StrMap(), "trafficPolicy": Obj(_TRAFFIC_POLICY)}, required=("name",))
                    ),
                    **ignored("exportTo", "workloadSelector"),
                },
                required=("host",),
            ),
            **ignored("status"),
        },
        ("metadata", "spec"),
    ),
    also=ISTIO_NETWORKING_OLDER,
)

TRAFFIC_KINDS = (GATEWAY, HTTP_ROUTE, GRPC_ROUTE, TLS_ROUTE, VIRTUAL_SERVICE, DESTINATION_RULE)
