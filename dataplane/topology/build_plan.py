"""Assemble the Plan from a manifest that passed every check.

Nothing is decided here any more: placement, addresses and names were chosen
by the earlier steps (or by ``naming``); this step only writes them into the
immutable Plan dataclasses, plus warnings about things Kubernetes allows but
a user probably did not mean (a Service that selects no pod).
"""

from __future__ import annotations

from collections import defaultdict

from ..l7.routing import extauthz
from ..l7.routing.values import service_fqdn
from . import naming
from .albs import plan_albs, unserved
from .cluster_dns import dns_address
from .egress_plan import plan_egress
from .externaldns import with_external_dns
from .ipam import Addresses, gateway
from .model import Layout, Manifest, NodeSite, PodSpec, ServiceSpec, TopologySpec
from .network_plan import plan_network
from .nlbs import plan_nlbs
from .overrides import Overrides
from .plan import CronJob, External, Namespace, Node, Plan, Pod, Service, ServicePort, Subnet, TrafficObject, Waypoint
from .validate import IMPLICIT_NAMESPACES, MESH_ROOT_NAMESPACE
from .vips import ServiceAddresses

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def build_plan(
    manifest: Manifest,
    topology: TopologySpec,
    layout: Layout,
    placed: dict[str, NodeSite],
    addresses: Addresses,
    services: ServiceAddresses,
    external: External | None,
    overrides: Overrides | None = None,
) -> Plan:
    name = topology.name
    changes = overrides or Overrides()
    assert name is not None and topology.vpc_cidr is not None and topology.service_cidr is not None
    assert external is not None  # every range it needs passed its checks
    edge_warnings: list[str] = []
    albs = plan_albs(manifest, name, topology.cni, layout, addresses, services, external, edge_warnings)
    nlbs = plan_nlbs(manifest.services, name, topology.cni, layout, addresses, services, external, albs,
                     topology.certificates, edge_warnings)
    load_balancers = (*albs, *nlbs)
    egress = plan_egress(topology, layout, addresses, services, external, load_balancers)
    plan = Plan(
        name=name,
        source=manifest.file,
        cni=topology.cni,
        prefix=naming.prefix(name),
        vpc_cidr=str(topology.vpc_cidr),
        service_cidr=str(topology.service_cidr),
        cluster_domain=topology.cluster_domain,
        dns_ip=str(dns_address(topology.service_cidr)),
        router_netns=naming.infra_netns(name, naming.ROUTER),
        subnets=tuple(
            Subnet(
                name=s.name,
                cidr=str(s.network),
                zone=s.zone,
                gateway=str(gateway(s.network)),
                bridge=naming.subnet_bridge(s.name),
                network_acl=s.spec.network_acl,
            )
            for s in layout.subnets
        ),
        nodes=tuple(_node(name, n, addresses, changes) for n in layout.nodes),
        namespaces=_namespaces(manifest, changes.labels),
        pods=tuple(_pod(name, p, placed[p.key], addresses) for p in manifest.pods),
        services=tuple(_service(s, services) for s in manifest.services),
        pod_cidr=str(topology.pod_cidr) if topology.pod_cidr else None,
        external=external,
        authorization_policies=tuple(manifest.policies),
        mesh_root_namespace=MESH_ROOT_NAMESPACE,
        warnings=(*_warnings(manifest), *_custom_warnings(manifest, topology), *manifest.warnings, *edge_warnings),
        accepted_only=(*manifest.accepted_only, *unserved(manifest, load_balancers)),
        cron_jobs=tuple(CronJob(c.namespace, c.name, c.schedule) for c in manifest.cron_jobs),
        waypoints=tuple(
            Waypoint(w.namespace, w.name, w.traffic_for, w.allowed_from, w.allowed_selector) for w in manifest.waypoints
        ),
        traffic=tuple(
            TrafficObject(t.kind, t.namespace, t.name, t.order, t.spec, t.annotations) for t in manifest.traffic
        ),
        request_authentications=tuple(manifest.request_authentications),
        mesh_config=topology.mesh_config,
        load_balancers=load_balancers,
        certificates=topology.certificates,
        shifted_zones=tuple(sorted(changes.shifted_zones)),
        vpc_security=topology.vpc_security,
        vpc_egress=egress,
        vpc_network=plan_network(topology, layout, addresses, egress, load_balancers),
    )
    return with_external_dns(plan, manifest, topology)


def _node(topology: str, node: NodeSite, addresses: Addresses, changes: Overrides) -> Node:
    network = node.subnet.network
    block = addresses.blocks.get(node.name)
    return Node(
        name=node.name,
        zone=node.zone,
        subnet=node.subnet.name,
        ip=str(addresses.nodes[node.name]),
        prefixlen=network.prefixlen,
        gateway=str(gateway(network)),
        netns=naming.node_netns(topology, node.name),
        router_iface=naming.node_router_iface(node.name),
        labels=node.labels,
        pod_cidr=str(block) if block else None,
        vtep_ip=str(block.network_address) if block else None,
        security_groups=node.spec.security_groups,
        unschedulable=node.name in changes.cordoned or node.zone in changes.shifted_zones,
    )


def _namespaces(manifest: Manifest, changed: dict[str, dict[str, str | None]]) -> tuple[Namespace, ...]:
    """``default`` first, the declared ones in file order, then ``kube-system`` and
    ``istio-system`` unless declared; labels changed live laid over the file's."""
    declared = {ns.name: ns.labels for ns in manifest.namespaces}
    names = ["default", *(n for n in declared if n != "default")]
    names += [n for n in IMPLICIT_NAMESPACES if n not in names]
    return tuple(Namespace(n, _labelled({**declared.get(n, {}), NAMESPACE_NAME_LABEL: n}, changed.get(n, {}))) for n in names)


def _labelled(labels: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    updated = {**labels, **{k: v for k, v in changes.items() if v is not None}}
    return {k: v for k, v in updated.items() if changes.get(k, v) is not None}


def _pod(topology: str, pod: PodSpec, node: NodeSite, addresses: Addresses) -> Pod:
    return Pod(
        namespace=pod.namespace,
        name=pod.name,
        node=node.name,
        zone=node.zone,
        ip=str(addresses.pods[pod.key]),
        netns=naming.pod_netns(topology, pod.namespace, pod.name),
        host_iface=naming.pod_host_iface(pod.namespace, pod.name),
        labels=pod.labels,
        annotations=pod.annotations,
        service_account=pod.service_account,
        owner=None if pod.owner.startswith("Pod/") else pod.owner,
        containers=pod.containers,
        ready=pod.ready,
        terminating=pod.terminating,
        hostname=pod.hostname,
        subdomain=pod.subdomain,
    )


def _service(service: ServiceSpec, addresses: ServiceAddresses) -> Service:
    address = addresses.cluster_ips.get(service.key)
    vip = addresses.load_balancer_ips.get(service.key)
    return Service(
        namespace=service.namespace,
        name=service.name,
        type=service.type,
        cluster_ip=str(address) if address else None,
        ports=tuple(
            ServicePort(
                port=p.port,
                protocol=p.protocol,
                name=p.name,
                target_port=p.target_port,
                node_port=addresses.node_ports.get((service.key, i)),
                app_protocol=p.app_protocol,
            )
            for i, p in enumerate(service.ports)
        ),
        selector=service.selector,
        labels=service.labels,
        annotations=service.annotations,
        headless=service.headless,
        external_name=service.external_name,
        external_ips=tuple(str(address) for _, address in service.external_ips),
        load_balancer_source_ranges=service.load_balancer_source_ranges,
        external_traffic_policy=service.external_traffic_policy,
        internal_traffic_policy=service.internal_traffic_policy,
        session_affinity=service.session_affinity,
        session_affinity_timeout=service.session_affinity_timeout,
        publish_not_ready_addresses=service.publish_not_ready_addresses,
        load_balancer_ips=(str(vip),) if vip else (),
    )


def _warnings(manifest: Manifest) -> list[str]:
    """Services that will have no endpoints, or name a target port no selected pod has."""
    warnings = []
    by_label: dict[tuple[str, str, str], list[PodSpec]] = defaultdict(list)  # (namespace, key, value) → pods
    for pod in manifest.pods:
        for key, value in pod.labels.items():
            by_label[pod.namespace, key, value].append(pod)
    for service in manifest.services:
        if not service.selector:
            continue
        first = next(iter(service.selector.items()))
        selected = [
            p
            for p in by_label[(service.namespace, *first)]
            if all(p.labels.get(k) == v for k, v in service.selector.items())
        ]
        if not selected:
            warnings.append(f"Service {service.key} selects no pods: it has no endpoints")
            continue
        names = {port.name for p in selected for c in p.containers for port in c.ports}
        for port in service.ports:
            if isinstance(port.target_port, str) and port.target_port not in names:
                warnings.append(
                    f"Service {service.key} port {port.port}: no selected pod has a port named '{port.target_port}'"
                )
    return warnings


def _custom_warnings(manifest: Manifest, topology: TopologySpec) -> list[str]:
    """CUSTOM policies whose provider is missing (istiod then denies what they select)
    or whose authorizer is no Service of the file (every check fails)."""
    providers = extauthz.providers(topology.mesh_config, lambda path, message: None)  # reported when parsed
    services = {service_fqdn(s.name, s.namespace, topology.cluster_domain) for s in manifest.services}
    warnings = []
    for policy in manifest.policies:
        if policy.action != "CUSTOM" or policy.provider is None:
            continue
        provider = providers.get(policy.provider)
        if provider is None:
            warnings.append(
                f"AuthorizationPolicy {policy.key}: no extension provider {policy.provider!r} in the Topology's"
                " spec.meshConfig.extensionProviders: the requests it selects are denied, as istiod does"
            )
        elif provider.service not in services:
            warnings.append(
                f"extension provider {provider.name!r}: no Service {provider.service} in the input: its checks"
                f" fail ({'failOpen lets them through' if provider.fail_open else f'{provider.status_on_error}'})"
            )
    return warnings
