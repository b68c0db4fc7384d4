"""Documents → Manifest: pick each document's kind, check its schema, convert it.

This step judges every document on its own (types, names, addresses); what
needs two objects at once (duplicates, references, overlaps) waits for
``validate``.  The Topology, Namespace and ServiceAccount kinds are converted
here; workloads and Services, which have more rules, have modules of their own.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network
from typing import Any

from ..errors import Problem
from ..l7.routing import extauthz
from ..vpc import egress as vpc_egress
from ..vpc import network as vpc_network
from ..vpc import security as vpc_security
from . import parse_edge, parse_pods, parse_policies, parse_requestauthn, parse_route53, parse_traffic
from .external import DEFAULT_PUBLIC_CIDR, DEFAULT_TRANSIT_CIDR, default_pool
from .kinds import KINDS, passive, supported
from .limits import DEFAULT_LIMITS, Limits
from .model import Manifest, NamespaceSpec, NodeSpec, ObjectRef, Origin, SubnetSpec, TopologySpec
from .naming import RESERVED_NODE_NAMES
from .plan import Accepted
from .rules import apply, check_labels, check_name, dns_label, dns_subdomain, ipv4_address, ipv4_network, topology_name
from .schema import Report, check, compact, describe, valid_items
from .sources import Source, label
from .yamlsource import Document, item_path, read_documents

DEFAULT_SERVICE_CIDR = "10.96.0.0/16"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_POD_CIDR = "10.244.0.0/16"
DEFAULT_NODE_MASK = 24


def parse(sources: Sequence[Source], problems: list[Problem], limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """Read every document of every source, in order; problems are appended to ``problems``."""
    manifest = Manifest(label(sources))
    read_any = False
    for source in sources:
        documents, syntax = read_documents(source.text, limits)
        read_any = read_any or bool(documents) or syntax is not None
        if syntax is not None:
            problems.append(Problem(source.name, syntax.message, document=syntax.document, line=syntax.line))
            manifest.complete = False
        elif not documents:
            problems.append(Problem(source.name, "the file is empty: it holds no YAML documents"))
            continue
        for document in documents:
            for item in _items(document, source.name, problems):
                _parse_document(item, source.name, manifest, problems)
    if manifest.topology is None and manifest.complete and read_any:
        what = "the file needs" if len(sources) == 1 else "one of the inputs needs"
        problems.append(
            Problem(manifest.file, f"no Topology document: {what} one (apiVersion: dpctl.dev/v1, kind: Topology)")
        )
    return manifest


def _items(document: Document, file: str, problems: list[Problem]) -> list[Document]:
    """A ``kind: List`` document's items, each read as a document of its own (as
    ``kubectl get -o yaml`` writes several objects); any other document as is."""
    data = document.data
    if not (isinstance(data, dict) and data.get("kind") == "List" and data.get("apiVersion") == "v1"):
        return [document]
    items = data.get("items")
    if not isinstance(items, list):
        problems.append(
            Problem(file, f"a List needs items, got {describe(items)}", document.index, "List", None, "items", document.line)
        )
        return []
    return [document.part(item_path("items", i), item) for i, item in enumerate(items)]


def _parse_document(document: Document, file: str, manifest: Manifest, problems: list[Problem]) -> None:
    data = _named(document, file)
    mapping = isinstance(data, dict)
    kind_value = data.get("kind") if mapping else None
    kind = KINDS.get(kind_value) if isinstance(kind_value, str) else None
    origin = Origin(
        file,
        document,
        kind_value if isinstance(kind_value, str) else None,
        _display_name(data, kind.namespaced if kind else False) if mapping else None,
        problems,
    )
    for defect in document.defects:
        origin.report(defect.path, defect.message, line=defect.line)
    if not mapping:
        origin.report(None, f"a document must be a mapping with apiVersion and kind, got {describe(data)}")
        return
    if kind_value is None:
        origin.report(None, "missing required field 'kind'")
        return
    if kind is None:
        treatment = passive(kind_value, data.get("apiVersion")) if isinstance(kind_value, str) else None
        if treatment is not None:
            manifest.accepted_only.append(Accepted(kind_value, _written_name(data), treatment))
            return
        what = f"'{kind_value}'" if isinstance(kind_value, str) else describe(kind_value)
        close = difflib.get_close_matches(kind_value, KINDS, n=1) if isinstance(kind_value, str) else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        origin.report("kind", f"unknown kind {what}{hint}; supported kinds: {supported()}")
        return
    api_version = data.get("apiVersion")
    if isinstance(api_version, str) and not kind.accepts(api_version):
        origin.report("apiVersion", f"{kind.name} is apiVersion {kind.api_version}, not '{api_version}'")
    before = len(origin.problems)
    clean = check(kind.schema, data, origin.report)
    metadata = clean.get("metadata", {})
    if kind.name != "Topology":
        check_labels(metadata.get("labels", {}), "metadata.labels", origin.report)
        check_labels(metadata.get("annotations", {}), "metadata.annotations", origin.report, values=False)
    if kind.name in _READ_WHOLE and len(origin.problems) > before:
        return  # its shape is wrong (said above): the translators read a spec whole, so they stop here
    _CONVERTERS[kind.name](clean, origin, manifest)


# Kinds whose spec the L7 routing and edge translators read as a whole, trusting
# the schema's required fields: a document that failed its shape goes no further.
_READ_WHOLE = frozenset(
    {"HTTPRoute", "GRPCRoute", "TLSRoute", "VirtualService", "DestinationRule", "Gateway", "Ingress"}
)


# The API server's generated-name suffix: 5 characters of this alphabet (no vowels, no
# look-alikes), after a generateName cut to 58 characters.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_GENERATED_BASE_MAX = 58


def _named(document: Document, file: str) -> Any:
    """The document's data, with ``metadata.name`` made from ``metadata.generateName``
    when only that is given, as the API server makes it -- but from a hash of where
    the document is rather than at random, so the same file gives the same names."""
    data = document.data
    metadata = data.get("metadata") if isinstance(data, dict) else None
    if not isinstance(metadata, dict) or "name" in metadata or not isinstance(metadata.get("generateName"), str):
        return data
    base = metadata["generateName"][:_GENERATED_BASE_MAX]
    digest = hashlib.sha256(f"{file}:{document.index}:{base}".encode()).digest()
    suffix = "".join(_SUFFIX_ALPHABET[b % len(_SUFFIX_ALPHABET)] for b in digest[:5])
    return {**data, "metadata": {**metadata, "name": base + suffix}}


def _written_name(data: dict[Any, Any]) -> str:
    """``namespace/name`` as written (no namespace for cluster-scoped objects), or ``""``."""
    metadata = data.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return ""
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if isinstance(namespace, str) else str(metadata["name"])


def _display_name(data: dict[Any, Any], namespaced: bool) -> str | None:
    """``namespace/name`` (or ``name``) for a problem's location, when readable."""
    metadata = data.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return None
    name: str = metadata["name"]
    if not namespaced:
        return name
    namespace = metadata.get("namespace")
    return f"{namespace if isinstance(namespace, str) else 'default'}/{name}"


def _topology(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    if manifest.topology is not None:
        first = manifest.topology.origin.document.index
        origin.report(None, f"only one Topology document is allowed; the first is document {first}")
        return
    report = origin.report
    spec = clean.get("spec", {})
    cni = spec.get("cni", "vpc")
    pod_cidr, node_mask = _overlay(spec, cni, report)
    at_vpc, vpc = _cluster_vpc(spec, report)
    subnets = valid_items(vpc.get("subnets", []))
    public_cidr, transit_cidr, lb_pool = _outside(spec, report)
    manifest.topology = TopologySpec(
        origin=origin,
        name=check_name(topology_name, clean.get("metadata", {}).get("name"), "metadata.name", report),
        cni=cni,
        service_cidr=_service_cidr(spec, report),
        cluster_domain=check_name(dns_subdomain, spec.get("clusterDomain"), "spec.clusterDomain", report)
        or DEFAULT_CLUSTER_DOMAIN,
        pod_cidr=pod_cidr,
        node_mask=node_mask,
        vpc_cidr=apply(ipv4_network, vpc.get("cidr"), f"{at_vpc}.cidr", report),
        subnets=[_subnet(s, item_path(f"{at_vpc}.subnets", i), origin) for i, s in subnets],
        nodes=[_node(n, item_path("spec.nodes", i), origin) for i, n in valid_items(spec.get("nodes", []))],
        public_cidr=public_cidr,
        transit_cidr=transit_cidr,
        lb_pool=lb_pool,
        mesh_config=_mesh_config(spec, report),
        certificates=_certificates(spec, report),
        hosted_zones=parse_route53.hosted_zones(spec, report),
        vpc_security=_vpc_security(spec, at_vpc, vpc, report),
        vpc_egress=_vpc_egress(spec, at_vpc, vpc, report),
        vpc_network=_vpc_network(spec, report),
    )


def _cluster_vpc(spec: dict[str, Any], report: Report) -> tuple[str, dict[str, Any]]:
    """Where the cluster's VPC is (``spec.vpc``, or the entry of ``spec.vpcs`` holding the nodes) and its fields."""
    index, problems = vpc_network.cluster_vpc_index(spec)
    for path, message in problems:
        report(path, message)
    if index is None:
        return "spec.vpc", spec.get("vpc") or {}
    vpcs = spec.get("vpcs") or [{}]
    return f"spec.vpcs[{index}]", vpcs[index] or {}


def _vpc_security(spec: dict[str, Any], at_vpc: str, vpc: dict[str, Any], report: Report) -> dict[str, Any]:
    """The cluster VPC's security groups and network ACLs, with what EC2 would refuse reported."""
    subnets = [s for _, s in valid_items(vpc.get("subnets", []))]
    nodes = [n for _, n in valid_items(spec.get("nodes", []))]
    for path, message in vpc_security.check(vpc, subnets, nodes, at_vpc):
        report(path, message)
    return compact({k: vpc[k] for k in ("securityGroups", "networkAcls") if k in vpc})


def _vpc_egress(spec: dict[str, Any], at_vpc: str, vpc: dict[str, Any], report: Report) -> dict[str, Any]:
    """The cluster VPC's routing and gateways, the nodes' public addresses and ``spec.internet``, checked."""
    subnets = [s for _, s in valid_items(vpc.get("subnets", []))]
    nodes = [n for _, n in valid_items(spec.get("nodes", []))]
    internet = spec.get("internet", {})
    targets = vpc_network.targets_of(spec, vpc.get("name"))
    for path, message in vpc_egress.check(vpc, subnets, nodes, internet, at_vpc, targets):
        report(path, message)
    snat, problems = vpc_egress.cni_snat(spec.get("vpcCni", {}).get("env", {}), spec.get("cni", "vpc"))
    for path, message in problems:
        report(path, message)
    tables = vpc.get("routeTables", [])
    main = vpc_egress.main_table(tables)
    found = compact({
        "internetGateway": vpc.get("internetGateway", False),
        "routeTables": tables,
        "subnetTables": {s["name"]: s.get("routeTable") or main for s in subnets if s.get("routeTable") or main},
        "natGateways": vpc.get("natGateways", []),
        "publicIps": {n["name"]: n.get("elasticIp") or "auto" for n in nodes if n.get("publicIp") or n.get("elasticIp")},
        "hosts": internet.get("hosts", []),
        "cniSnat": snat,
    })
    return {k: v for k, v in found.items() if v}  # a file without any of it keeps the plan it had


def _vpc_network(spec: dict[str, Any], report: Report) -> dict[str, Any]:
    """The other VPCs, peering connections, transit gateways and the on-premises site, checked; {} without any."""
    index, _ = vpc_network.cluster_vpc_index(spec)
    for path, message in vpc_network.check(spec, index):
        report(path, message)
    listed = spec.get("vpcs") is not None
    vpcs = [{**v, "at": f"spec.vpcs[{i}]" if listed else "spec.vpc"}
            for i, v in enumerate(spec.get("vpcs") or [spec.get("vpc") or {}]) if v]
    found = compact({
        "clusterVpc": index or 0,
        "vpcs": vpcs,
        "peeringConnections": spec.get("peeringConnections", []),
        "transitGateways": spec.get("transitGateways", []),
        "onPremises": spec.get("onPremises") or {},
    })
    if len(found["vpcs"]) == 1 and not any(found[k] for k in ("peeringConnections", "transitGateways", "onPremises")) \
            and not found["vpcs"][0].get("instances"):
        return {}  # one VPC and nothing around it: the plan it always had
    return found


def _certificates(spec: dict[str, Any], report: Report) -> dict[str, tuple[str, ...]]:
    """``spec.certificates``: the emulated ACM's certificates, by ARN (each ARN once)."""
    found: dict[str, tuple[str, ...]] = {}
    for i, raw in valid_items(spec.get("certificates", [])):
        arn, domains = raw.get("arn"), tuple(d.lower() for d in raw.get("domains", ()) if isinstance(d, str))
        if not isinstance(arn, str):
            continue
        if not arn.startswith("arn:aws:acm:"):
            report(item_path("spec.certificates", i) + ".arn", f"expected an ACM ARN (arn:aws:acm:...), got {arn!r}")
        elif arn in found:
            report(item_path("spec.certificates", i) + ".arn", f"{arn} is declared twice")
        else:
            found[arn] = domains
    return found


def _mesh_config(spec: dict[str, Any], report: Report) -> dict[str, Any]:
    """``spec.meshConfig``, its extension providers checked as istiod reads them."""
    mesh_config: dict[str, Any] = spec.get("meshConfig", {})
    extauthz.providers(mesh_config, report)
    return mesh_config


def _service_cidr(spec: dict[str, Any], report: Report) -> IPv4Network | None:
    network = apply(ipv4_network, spec.get("serviceCIDR", DEFAULT_SERVICE_CIDR), "spec.serviceCIDR", report)
    if network is not None and network.prefixlen > 28:
        report("spec.serviceCIDR", f"{network} is too small: the cluster DNS takes its 10th address; use /28 or larger")
        return None
    return network


def _outside(spec: dict[str, Any], report: Report) -> tuple[IPv4Network | None, IPv4Network | None, IPv4Network | None]:
    """The public segment, transit link and LoadBalancer pool outside the VPC, defaulted when absent."""
    external = spec.get("external", {})
    public = _sized(
        external.get("cidr", DEFAULT_PUBLIC_CIDR),
        "spec.external.cidr",
        29,
        "the load balancer, the client and the LoadBalancer pool need a /29 or larger",
        report,
    )
    transit = _sized(
        external.get("transitCIDR", DEFAULT_TRANSIT_CIDR),
        "spec.external.transitCIDR",
        30,
        "the load balancer and the VPC router need a /30 or larger",
        report,
    )
    pool_text = spec.get("loadBalancer", {}).get("pool")
    if pool_text is None:
        pool = default_pool(public) if public is not None else None
    else:
        pool = apply(ipv4_network, pool_text, "spec.loadBalancer.pool", report)
    return public, transit, pool


def _sized(text: str, path: str, longest: int, why: str, report: Report) -> IPv4Network | None:
    network = apply(ipv4_network, text, path, report)
    if network is not None and network.prefixlen > longest:
        report(path, f"{network} is too small: {why}")
        return None
    return network


def _overlay(spec: dict[str, Any], cni: str, report: Report) -> tuple[IPv4Network | None, int | None]:
    """podCIDR and nodeCIDRMaskSize: defaults in overlay mode, refused in vpc mode."""
    if cni != "overlay":
        for name in ("podCIDR", "nodeCIDRMaskSize"):
            if name in spec:
                report(f"spec.{name}", "is only used with cni: overlay")
        return None, None
    pod_cidr = apply(ipv4_network, spec.get("podCIDR", DEFAULT_POD_CIDR), "spec.podCIDR", report)
    node_mask = spec.get("nodeCIDRMaskSize", DEFAULT_NODE_MASK)
    if pod_cidr is not None and not pod_cidr.prefixlen <= node_mask <= 30:
        report(
            "spec.nodeCIDRMaskSize",
            f"must be between {pod_cidr.prefixlen} (the podCIDR prefix length) and 30, got {node_mask}",
        )
        return pod_cidr, None
    return pod_cidr, node_mask


def _subnet(raw: dict[str, Any], path: str, origin: Origin) -> SubnetSpec:
    return SubnetSpec(
        name=check_name(dns_label, raw.get("name"), f"{path}.name", origin.report),
        network=apply(ipv4_network, raw.get("cidr"), f"{path}.cidr", origin.report),
        zone=check_name(dns_label, raw.get("zone"), f"{path}.zone", origin.report),
        path=path,
        network_acl=raw.get("networkAcl"),
    )


def _node(raw: dict[str, Any], path: str, origin: Origin) -> NodeSpec:
    name = check_name(dns_label, raw.get("name"), f"{path}.name", origin.report)
    if name in RESERVED_NODE_NAMES:
        reserved = ", ".join(sorted(RESERVED_NODE_NAMES))
        origin.report(f"{path}.name", f"'{name}' is reserved for dpctl's own namespaces (reserved: {reserved})")
    labels = raw.get("labels", {})
    check_labels(labels, f"{path}.labels", origin.report)
    return NodeSpec(
        name=name,
        subnet=raw.get("subnet"),
        labels=labels,
        ip=apply(ipv4_address, raw.get("ip"), f"{path}.ip", origin.report),
        path=path,
        security_groups=tuple(raw.get("securityGroups", ())),
    )


def _namespace(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    metadata = clean.get("metadata", {})
    name = check_name(dns_label, metadata.get("name"), "metadata.name", origin.report)
    if name is not None:
        manifest.namespaces.append(NamespaceSpec(origin, name, metadata.get("labels", {})))


def _service_account(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    metadata = clean.get("metadata", {})
    name = check_name(dns_subdomain, metadata.get("name"), "metadata.name", origin.report)
    if name is not None:
        manifest.objects.append(ObjectRef(origin, "ServiceAccount", metadata.get("namespace", "default"), name))


_CONVERTERS: dict[str, Callable[[dict[str, Any], Origin, Manifest], None]] = {
    "Topology": _topology,
    "Namespace": _namespace,
    "ServiceAccount": _service_account,
    "Pod": parse_pods.parse_pod,
    "Deployment": parse_route53.parse_deployment,  # an ExternalDNS is recognised by its image
    "ReplicaSet": parse_pods.parse_controller,
    "StatefulSet": parse_pods.parse_controller,
    "DaemonSet": parse_pods.parse_controller,
    "Job": parse_pods.parse_job,
    "CronJob": parse_pods.parse_cron_job,
    "Service": parse_route53.parse_service,  # its annotations kept for ExternalDNS
    "AuthorizationPolicy": parse_policies.parse_policy,
    "RequestAuthentication": parse_requestauthn.parse_request_authentication,
    "Gateway": parse_traffic.parse_gateway,
    "HTTPRoute": parse_traffic.parse_traffic,
    "GRPCRoute": parse_traffic.parse_traffic,
    "TLSRoute": parse_traffic.parse_traffic,
    "VirtualService": parse_traffic.parse_traffic,
    "DestinationRule": parse_traffic.parse_traffic,
    "Ingress": parse_edge.parse_ingress,
    "IngressClass": parse_edge.parse_ingress_class,
    "GatewayClass": parse_edge.parse_cluster_scoped,
    "NetworkPolicy": parse_edge.parse_network_policy,
    "SecurityGroupPolicy": parse_edge.parse_namespaced,
    "LoadBalancerConfiguration": parse_edge.parse_namespaced,
    "TargetGroupConfiguration": parse_edge.parse_namespaced,
}
