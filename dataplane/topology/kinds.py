"""The document kinds a topology file may hold, and the fields each accepts.

This is the public file format in one place: a field missing here is refused
as unknown, a field marked ``Ignored`` is accepted so that manifests copied
from a real cluster (``kubectl get -o yaml``) load without editing.

Longer than dpctl's other modules on purpose: it is a table, one declaration
per kind and field, and a reader looking for what a field does finds every
kind's fields side by side; split by kind, shared pieces (pod template,
object metadata) would have to be imported back and forth.
"""

from __future__ import annotations

from .kindbase import SERVER_METADATA, Kind, document, ignored, metadata
from .kinds_edge import EDGE_KINDS
from .kinds_traffic import TRAFFIC_KINDS
from .schema import (
    Bool,
    Enum,
    Field,
    Ignored,
    Int,
    IntOrStr,
    ListOf,
    Obj,
    Str,
    StrMap,
    Timestamp,
    Unsupported,
)

PROTOCOL = Enum(("TCP", "UDP"), unsupported=("SCTP",))

_CONTAINER_PORT = Obj(
    {"containerPort": Int(), "protocol": PROTOCOL, "name": Str(), **ignored("hostPort", "hostIP")},
    required=("containerPort",),
)

_CONTAINER = Obj(
    {
        "name": Str(),
        "ports": ListOf(_CONTAINER_PORT),
        "command": ListOf(Str()),
        "args": ListOf(Str()),
        **ignored(
            "image",
            "imagePullPolicy",
            "resources",
            "env",
            "envFrom",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "volumeMounts",
            "volumeDevices",
            "securityContext",
            "workingDir",
            "lifecycle",
            "terminationMessagePath",
            "terminationMessagePolicy",
            "stdin",
            "stdinOnce",
            "tty",
            "resizePolicy",
            "restartPolicy",
        ),
    },
    required=("name",),
)

_POD_SPEC = Obj(
    {
        "containers": ListOf(_CONTAINER, min_items=1),
        "nodeName": Str(),
        "nodeSelector": StrMap(),
        "serviceAccountName": Str(),
        "serviceAccount": Str(),
        "hostname": Str(),
        "subdomain": Str(),
        "hostNetwork": Unsupported("every pod gets its own network namespace"),
        **ignored(
            "volumes",
            "affinity",
            "tolerations",
            "restartPolicy",
            "terminationGracePeriodSeconds",
            "activeDeadlineSeconds",
            "dnsPolicy",
            "dnsConfig",
            "priorityClassName",
            "priority",
            "preemptionPolicy",
            "topologySpreadConstraints",
            "initContainers",
            "ephemeralContainers",
            "imagePullSecrets",
            "automountServiceAccountToken",
            "enableServiceLinks",
            "securityContext",
            "schedulerName",
            "runtimeClassName",
            "overhead",
            "hostAliases",
            "hostIPC",
            "hostPID",
            "hostUsers",
            "shareProcessNamespace",
            "setHostnameAsFQDN",
            "os",
            "readinessGates",
            "schedulingGates",
            "resourceClaims",
        ),
    },
    required=("containers",),
)

_POD_STATUS = Obj(
    {"conditions": ListOf(Obj({"type": Str(), "status": Str()}, open=True))},
    open=True,  # status is written by the cluster; only the Ready condition matters here
)

_SELECTOR = Obj(
    {"matchLabels": StrMap(), "matchExpressions": Unsupported("use matchLabels")},
    required=("matchLabels",),
)
_TEMPLATE = Obj(
    {
        "metadata": Obj({"labels": StrMap(), "annotations": StrMap(), **ignored("name", "namespace"), **SERVER_METADATA}),
        "spec": _POD_SPEC,
    },
    required=("spec",),
)


def _controller_spec(replicas: bool, **fields: Field) -> Obj:
    """The spec of a pod controller: selector and template, a replica count if it has one."""
    counted: dict[str, Field] = {"replicas": Int()} if replicas else {}
    return Obj(
        {**counted, "selector": _SELECTOR, "template": _TEMPLATE, "minReadySeconds": Ignored(), **fields},
        required=("selector", "template"),
    )


_DEPLOYMENT_SPEC = _controller_spec(
    True, **ignored("strategy", "revisionHistoryLimit", "progressDeadlineSeconds", "paused")
)
_REPLICA_SET_SPEC = _controller_spec(True)
_STATEFUL_SET_SPEC = _controller_spec(
    True,
    serviceName=Str(),
    **ignored(
        "podManagementPolicy",
        "updateStrategy",
        "revisionHistoryLimit",
        "volumeClaimTemplates",
        "persistentVolumeClaimRetentionPolicy",
        "ordinals",
    ),
)
_DAEMON_SET_SPEC = _controller_spec(False, **ignored("updateStrategy", "revisionHistoryLimit"))
# A Job makes its own selector and labels, so both are optional here.
_JOB_SPEC = Obj(
    {
        "template": _TEMPLATE,
        "parallelism": Int(),
        "completions": Int(),
        **ignored(
            "selector",
            "manualSelector",
            "backoffLimit",
            "backoffLimitPerIndex",
            "maxFailedIndexes",
            "activeDeadlineSeconds",
            "ttlSecondsAfterFinished",
            "completionMode",
            "suspend",
            "podFailurePolicy",
            "podReplacementPolicy",
            "successPolicy",
            "managedBy",
        ),
    },
    required=("template",),
)
_CRON_JOB_SPEC = Obj(
    {
        "schedule": Str(),
        "jobTemplate": Obj({"metadata": Obj({"labels": StrMap(), "annotations": StrMap()}), "spec": _JOB_SPEC}, required=("spec",)),
        **ignored(
            "timeZone",
            "concurrencyPolicy",
            "suspend",
            "successfulJobsHistoryLimit",
            "failedJobsHistoryLimit",
            "startingDeadlineSeconds",
        ),
    },
    required=("schedule", "jobTemplate"),
)

_SERVICE_PORT = Obj(
    {
        "name": Str(),
        "port": Int(),
        "targetPort": IntOrStr(),
        "protocol": PROTOCOL,
        "nodePort": Int(),
        "appProtocol": Str(),
    },
    required=("port",),
)

_SERVICE_SPEC = Obj(
    {
        "type": Enum(("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")),
        "clusterIP": Str(),
        "ports": ListOf(_SERVICE_PORT),
        "selector": StrMap(),
        "externalName": Str(),
        "externalIPs": ListOf(Str()),
        "loadBalancerSourceRanges": ListOf(Str()),
        "externalTrafficPolicy": Enum(("Cluster", "Local")),
        "internalTrafficPolicy": Enum(("Cluster", "Local")),
        "sessionAffinity": Enum(("None", "ClientIP")),
        "sessionAffinityConfig": Obj({"clientIP": Obj({"timeoutSeconds": Int()})}),
        "publishNotReadyAddresses": Bool(),
        "loadBalancerIP": Str(),
        "loadBalancerClass": Str(),
        **ignored(
            "clusterIPs",
            "ipFamilies",
            "ipFamilyPolicy",
            "allocateLoadBalancerNodePorts",
            "healthCheckNodePort",
            "trafficDistribution",
        ),
    }
)

_EXT_AUTHZ_HTTP = Obj(
    {
        "service": Str(),
        "port": IntOrStr(),  # Istio's docs quote it
        "timeout": Str(),
        "pathPrefix": Str(),
        "failOpen": Bool(),
        "statusOnError": IntOrStr(),
        "includeRequestHeadersInCheck": ListOf(Str()),
        "includeHeadersInCheck": ListOf(Str()),  # the deprecated name of the above
        "includeAdditionalHeadersInCheck": StrMap(),
        "includeRequestBodyInCheck": Obj({"maxRequestBytes": Int(), "allowPartialMessage": Bool(), "packAsBytes": Bool()}),
        "headersToUpstreamOnAllow": ListOf(Str()),
        "headersToDownstreamOnAllow": ListOf(Str()),
        "headersToDownstreamOnDeny": ListOf(Str()),
    },
    required=("service", "port"),
)

# Istio's MeshConfig, by its own field names; what the emulation acts on is
# the external authorizers (ext-authz) that CUSTOM AuthorizationPolicies name.
_MESH_CONFIG = Obj(
    {
        "extensionProviders": ListOf(
            Obj({"name": Str(), "envoyExtAuthzHttp": _EXT_AUTHZ_HTTP, "envoyExtAuthzGrpc": Obj({}, open=True)},
                required=("name",))
        ),
    }
)

_SG_RULE = Obj(
    {
        "protocol": Str(), "fromPort": Int(), "toPort": Int(), "cidr": Str(),
        "sourceGroup": Str(), "destinationGroup": Str(), "description": Str(),
    },
    required=("protocol",),
)

_VPC_FIELDS: dict[str, Field] = {
    "name": Str(),  # what peerings, transit gateways and the VPN name it by (vpc.network)
    "cidr": Str(),
    "subnets": ListOf(
        Obj({"name": Str(), "cidr": Str(), "zone": Str(), "networkAcl": Str(), "routeTable": Str()},
            required=("name", "cidr", "zone")),
        min_items=1,
    ),
    # EC2's names (vpc.security): stateful allow-only groups, stateless numbered ACLs
    "securityGroups": ListOf(Obj(
        {"name": Str(), "description": Str(), "ingress": ListOf(_SG_RULE), "egress": ListOf(_SG_RULE)},
        required=("name",),
    )),
    # EC2's names (vpc.egress): route tables per subnet, the internet gateway, public NAT gateways
    "internetGateway": Bool(),
    "routeTables": ListOf(Obj(
        {"name": Str(), "main": Bool(),
         "routes": ListOf(Obj({"destination": Str(), "target": Str()}, required=("destination", "target")))},
        required=("name",),
    )),
    "natGateways": ListOf(Obj(
        {"name": Str(), "subnet": Str(), "elasticIp": Str(), "maxConnectionsPerDestination": Int(),
         "idleTimeoutSeconds": Int()},
        required=("name", "subnet"),
    )),
    "networkAcls": ListOf(Obj(
        {
            "name": Str(),
            "entries": ListOf(Obj(
                {
                    "ruleNumber": Int(), "egress": Bool(), "protocol": Str(),
                    "portRange": Obj({"from": Int(), "to": Int()}, required=("from", "to")),
                    "cidrBlock": Str(), "ruleAction": Enum(("allow", "deny")),
                },
                required=("ruleNumber", "protocol", "cidrBlock", "ruleAction"),
            )),
        },
        required=("name",),
    )),
    # EC2 instances: a namespace each on its subnet (vpc.network)
    "instances": ListOf(Obj({"name": Str(), "subnet": Str(), "ip": Str()}, required=("name", "subnet"))),
}

_TOPOLOGY_SPEC = Obj(
    {
        "cni": Enum(("vpc", "overlay")),
        "serviceCIDR": Str(),
        "clusterDomain": Str(),
        "podCIDR": Str(),
        "nodeCIDRMaskSize": Int(),
        "vpc": Obj(_VPC_FIELDS, required=("cidr", "subnets")),
        # several VPCs (vpc.network): the one holding the nodes is the cluster's; the others, their links
        "vpcs": ListOf(Obj({**_VPC_FIELDS, "name": Str()}, required=("name", "cidr", "subnets")), min_items=1),
        "peeringConnections": ListOf(Obj({"name": Str(), "requester": Str(), "accepter": Str()},
                                         required=("name", "requester", "accepter"))),
        "transitGateways": ListOf(Obj(
            {
                "name": Str(),
                "attachments": ListOf(Str(), min_items=1),
                "routeTables": ListOf(Obj(
                    {"name": Str(), "associations": ListOf(Str()), "propagations": ListOf(Str()),
                     "routes": ListOf(Obj({"destination": Str(), "attachment": Str(), "blackhole": Bool()},
                                          required=("destination",)))},
                    required=("name",),
                )),
            },
            required=("name", "attachments"),
        )),
        "onPremises": Obj(
            {
                "name": Str(), "cidr": Str(),
                "connection": Obj({"vpn": Obj({"vpc": Str()}, required=("vpc",))}),
                "hosts": ListOf(Obj({"name": Str(), "ip": Str()}, required=("name", "ip"))),
                # the site's DNS server and Route 53 Resolver endpoints forwarding both ways (vpc.network)
                "dns": Obj({"domain": Str(), "server": Str()}, required=("domain",)),
            },
            required=("name", "cidr", "connection"),
        ),
        "nodes": ListOf(
            Obj({"name": Str(), "subnet": Str(), "labels": StrMap(), "ip": Str(), "securityGroups": ListOf(Str()),
                 "publicIp": Bool(), "elasticIp": Str()},
                required=("name", "subnet")),
            min_items=1,
        ),
        # the aws-node DaemonSet's settings the emulation honours (vpc.egress: the CNI's SNAT)
        "vpcCni": Obj({"env": StrMap()}),
        "external": Obj({"cidr": Str(), "transitCIDR": Str()}),
        # addresses on the emulated internet, held by the outside client's namespace (vpc.egress)
        "internet": Obj({"hosts": ListOf(Obj({"name": Str(), "ip": Str()}, required=("name", "ip")))}),
        "loadBalancer": Obj({"pool": Str()}),
        "meshConfig": _MESH_CONFIG,
        # the emulated ACM's certificates: an ARN the Ingresses name, and the domains it covers
        "certificates": ListOf(Obj({"arn": Str(), "domains": ListOf(Str(), min_items=1)}, required=("arn", "domains"))),
        # Route 53 hosted zones (parse_route53): ExternalDNS writes to them; public ones answer the outside client
        "route53": Obj({"hostedZones": ListOf(Obj(
            {
                "name": Str(),
                "private": Bool(),
                "records": ListOf(Obj(
                    {
                        "name": Str(), "type": Str(), "ttl": Int(), "values": ListOf(Str()),
                        "aliasTarget": Obj({"dnsName": Str(), "evaluateTargetHealth": Bool()}, required=("dnsName",)),
                    },
                    required=("name", "type"),
                )),
            },
            required=("name",),
        ))}),
    },
    required=("nodes",),  # and a VPC: spec.vpc or spec.vpcs (vpc.network.cluster_vpc_index)
)

_WITH_SPEC = ("metadata", "spec")

TOPOLOGY = Kind(
    "Topology",
    "dpctl.dev/v1",
    False,
    document(
        Obj({"name": Str(), **ignored("labels", "annotations")}, required=("name",)),
        {"spec": _TOPOLOGY_SPEC},
        _WITH_SPEC,
    ),
)
NAMESPACE = Kind("Namespace", "v1", False, document(metadata(False), ignored("spec", "status")))
SERVICE_ACCOUNT = Kind(
    "ServiceAccount",
    "v1",
    True,
    document(metadata(True), ignored("secrets", "imagePullSecrets", "automountServiceAccountToken")),
)
POD = Kind(
    "Pod",
    "v1",
    True,
    document(metadata(True, deletionTimestamp=Timestamp()), {"spec": _POD_SPEC, "status": _POD_STATUS}, _WITH_SPEC),
)
def _workload(name: str, api_version: str, spec: Field) -> Kind:
    """A namespaced kind with a ``spec`` and a ``status`` written by the cluster (ignored)."""
    return Kind(name, api_version, True, document(metadata(True), {"spec": spec, **ignored("status")}, _WITH_SPEC))


DEPLOYMENT = _workload("Deployment", "apps/v1", _DEPLOYMENT_SPEC)
REPLICA_SET = _workload("ReplicaSet", "apps/v1", _REPLICA_SET_SPEC)
STATEFUL_SET = _workload("StatefulSet", "apps/v1", _STATEFUL_SET_SPEC)
DAEMON_SET = _workload("DaemonSet", "apps/v1", _DAEMON_SET_SPEC)
JOB = _workload("Job", "batch/v1", _JOB_SPEC)
CRON_JOB = _workload("CronJob", "batch/v1", _CRON_JOB_SPEC)
SERVICE = _workload("Service", "v1", _SERVICE_SPEC)

_SOURCE = Obj(
    {
        name: ListOf(Str())
        for name in (
            "principals",
            "notPrincipals",
            "namespaces",
            "notNamespaces",
            "ipBlocks",
            "notIpBlocks",
            "requestPrincipals",
            "notRequestPrincipals",
            "remoteIpBlocks",
            "notRemoteIpBlocks",
            "serviceAccounts",  # refused by parse_policies, which says what to write instead
            "notServiceAccounts",
        )
    }
)

_OPERATION = Obj(
    {
        name: ListOf(Str())  # Istio types ports as strings too
        for name in ("ports", "notPorts", "hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")
    }
)

_POLICY_RULE = Obj(
    {
        "from": ListOf(Obj({"source": _SOURCE})),
        "to": ListOf(Obj({"operation": _OPERATION})),
        "when": ListOf(Obj({"key": Str(), "values": ListOf(Str()), "notValues": ListOf(Str())}, required=("key",))),
    }
)

_POLICY_TARGET = Obj({"group": Str(), "kind": Str(), "name": Str(), "namespace": Str()}, required=("kind", "name"))

_POLICY_SPEC = Obj(
    {
        "selector": Obj({"matchLabels": StrMap()}),
        "action": Enum(("ALLOW", "DENY", "AUDIT", "CUSTOM")),  # AUDIT is refused with a reason, CUSTOM off waypoints
        "rules": ListOf(_POLICY_RULE),
        "targetRef": _POLICY_TARGET,
        "targetRefs": ListOf(_POLICY_TARGET),
        "provider": Obj({"name": Str()}, required=("name",)),  # CUSTOM: a meshConfig extension provider
    }
)

AUTHORIZATION_POLICY = Kind(
    "AuthorizationPolicy",
    "security.istio.io/v1",
    True,
    document(metadata(True), {"spec": _POLICY_SPEC, **ignored("status")}),
    also=("security.istio.io/v1beta1",),
)

_JWT_RULE = Obj(
    {
        "issuer": Str(),
        "audiences": ListOf(Str()),
        "jwks": Str(),  # the JWKS JSON, inline: the emulation fetches nothing
        "jwksUri": Str(),
        "fromHeaders": ListOf(Obj({"name": Str(), "prefix": Str()}, required=("name",))),
        "fromParams": ListOf(Str()),
        "fromCookies": ListOf(Str()),
        "outputPayloadToHeader": Str(),
        "outputClaimToHeaders": ListOf(Obj({"header": Str(), "claim": Str()}, required=("header", "claim"))),
        "forwardOriginalToken": Bool(),
        **ignored("timeout"),  # of the JWKS fetch istiod would make
    },
    required=("issuer",),
)

REQUEST_AUTHENTICATION = Kind(
    "RequestAuthentication",
    "security.istio.io/v1",
    True,
    document(
        metadata(True),
        {
            "spec": Obj(
                {
                    "selector": Obj({"matchLabels": StrMap()}),
                    "targetRef": _POLICY_TARGET,
                    "targetRefs": ListOf(_POLICY_TARGET),
                    "jwtRules": ListOf(_JWT_RULE),
                }
            ),
            **ignored("status"),
        },
    ),
    also=("security.istio.io/v1beta1",),
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        TOPOLOGY,
        NAMESPACE,
        SERVICE_ACCOUNT,
        POD,
        DEPLOYMENT,
        REPLICA_SET,
        STATEFUL_SET,
        DAEMON_SET,
        JOB,
        CRON_JOB,
        SERVICE,
        AUTHORIZATION_POLICY,
        REQUEST_AUTHENTICATION,
        *TRAFFIC_KINDS,
        *EDGE_KINDS,
    )
}


def supported() -> str:
    """The supported kinds for a message: ``Topology (dpctl.dev/v1), Namespace (v1), ...``."""
    return ", ".join(f"{k.name} ({k.api_version})" for k in KINDS.values())


# Kinds that do not shape the data plane: accepted, counted, never checked.
IGNORED_KINDS = frozenset(
    {
        "ConfigMap", "Secret", "HorizontalPodAutoscaler", "VerticalPodAutoscaler", "PodDisruptionBudget",
        "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceMonitor", "PodMonitor", "PrometheusRule",
        "CustomResourceDefinition", "LimitRange", "ResourceQuota", "PriorityClass", "StorageClass",
        "PersistentVolume", "PersistentVolumeClaim", "CSIDriver", "VolumeSnapshotClass", "RuntimeClass",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding", "APIService", "Lease", "Event", "CertificateSigningRequest",
    }
)
# Kinds that do shape traffic, but that dpctl does not emulate yet: accepted and
# reported, so a user knows the file's policy or routing is not in force.
NOT_YET_ENFORCED_KINDS = frozenset(
    {
        # Gateway API
        "TCPRoute", "UDPRoute", "ReferenceGrant",
        "BackendTLSPolicy", "BackendTrafficPolicy",
        # Istio networking and security beyond AuthorizationPolicy and RequestAuthentication
        "ServiceEntry", "Sidecar", "WorkloadEntry", "WorkloadGroup",
        "EnvoyFilter", "PeerAuthentication", "Telemetry", "ProxyConfig", "WasmPlugin",
    }
)
# API groups Kubernetes itself serves: an unknown kind in one of them is a typo,
# an unknown kind anywhere else is some operator's custom resource.
_BUILT_IN_GROUPS = frozenset(
    {
        "", "apps", "batch", "autoscaling", "policy", "extensions", "rbac.authorization.k8s.io",
        "networking.k8s.io", "storage.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io",
        "scheduling.k8s.io", "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "certificates.k8s.io",
        "flowcontrol.apiserver.k8s.io", "apiregistration.k8s.io", "events.k8s.io", "resource.k8s.io",
        "authentication.k8s.io", "authorization.k8s.io",
    }
)
IGNORED = "ignored"
NOT_YET_ENFORCED = "not yet enforced"


def passive(kind: str, api_version: object) -> str | None:
    """``IGNORED`` or ``NOT_YET_ENFORCED`` for a kind dpctl accepts without acting on it, else None."""
    if kind in NOT_YET_ENFORCED_KINDS:
        return NOT_YET_ENFORCED
    if kind in IGNORED_KINDS:
        return IGNORED
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    return IGNORED if group and group not in _BUILT_IN_GROUPS else None  # a custom resource
