"""Service documents → ServiceSpecs, with the rules one Service must obey alone.

Kubernetes refuses many Service shapes outright (a nodePort on a ClusterIP
service, two unnamed ports, ExternalName without a name).  They are refused
here too, because kube-proxy's behaviour for such a Service is undefined and
an emulation of it would teach nothing.  Address allocation and the checks
that compare Services with each other or with the network live in ``vips``.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

from .model import Manifest, ObjectRef, Origin, ServicePortSpec, ServiceSpec, report_duplicates
from .rules import (
    apply,
    check_labels,
    check_name,
    dns_1035_label,
    dns_label,
    dns_subdomain,
    ipv4_address,
    ipv4_network,
    port_name,
    port_number,
)
from .schema import valid_items
from .yamlsource import item_path

NODE_PORT_RANGE = range(30000, 32768)
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
DEFAULT_AFFINITY_TIMEOUT = 10800


def parse_service(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    report = origin.report
    metadata = clean.get("metadata", {})
    name = check_name(dns_1035_label, metadata.get("name"), "metadata.name", report)
    spec = clean.get("spec", {})
    kind = spec.get("type", "ClusterIP")
    cluster_ip_text = spec.get("clusterIP", "")
    headless = cluster_ip_text == "None"
    cluster_ip = None
    if kind == "ExternalName":
        if cluster_ip_text:
            report("spec.clusterIP", "must not be set for an ExternalName service")
        if "externalName" not in spec:
            report("spec", "missing required field 'externalName' (required for type ExternalName)")
    elif headless and kind in NODE_PORT_TYPES:
        report("spec.clusterIP", f"may not be None for a {kind} service")
    elif cluster_ip_text and not headless:
        cluster_ip = apply(ipv4_address, cluster_ip_text, "spec.clusterIP", report)
    ports = [
        _port(raw, item_path("spec.ports", i), kind, origin)
        for i, raw in valid_items(spec.get("ports", []))
        if "port" in raw  # the schema reported a port without one
    ]
    _check_ports(ports, kind, headless, origin)
    selector = spec.get("selector", {})
    check_labels(selector, "spec.selector", report)
    external_traffic_policy = spec.get("externalTrafficPolicy", "Cluster")
    if external_traffic_policy == "Local" and kind not in NODE_PORT_TYPES:
        report("spec.externalTrafficPolicy", "Local is only valid for NodePort and LoadBalancer services")
    affinity_config = spec.get("sessionAffinityConfig", {}).get("clientIP", {})
    timeout = affinity_config.get("timeoutSeconds", DEFAULT_AFFINITY_TIMEOUT)
    if not 1 <= timeout <= 86400:
        report("spec.sessionAffinityConfig.clientIP.timeoutSeconds", f"must be between 1 and 86400, got {timeout}")
    external_ips = []  # (path, address): where each one is checked against the cluster's ranges later
    for i, text in valid_items(spec.get("externalIPs", [])):
        path = item_path("spec.externalIPs", i)
        address = apply(ipv4_address, text, path, report)
        if address is not None and (special := _special(address)) is not None:
            report(path, f"{address} {special}")  # the API server's own words
        elif address is not None:
            external_ips.append((path, address))
    for field in ("loadBalancerIP", "loadBalancerSourceRanges", "loadBalancerClass"):
        if field in spec and kind != "LoadBalancer":
            report(f"spec.{field}", "may only be used when type is LoadBalancer")
    load_balancer_ip = apply(ipv4_address, spec.get("loadBalancerIP"), "spec.loadBalancerIP", report)
    source_ranges = [  # the API server and kube-proxy trim each entry
        apply(ipv4_network, cidr.strip(), item_path("spec.loadBalancerSourceRanges", i), report)
        for i, cidr in valid_items(spec.get("loadBalancerSourceRanges", []))
    ]
    external_name = check_name(dns_subdomain, spec.get("externalName"), "spec.externalName", report)
    if name is None:
        return
    namespace = metadata.get("namespace", "default")
    manifest.objects.append(ObjectRef(origin, "Service", namespace, name))
    manifest.services.append(
        ServiceSpec(
            origin=origin,
            namespace=namespace,
            name=name,
            type=kind,
            cluster_ip=cluster_ip,
            headless=headless,
            ports=ports,
            selector=selector,
            external_name=external_name if kind == "ExternalName" else None,
            external_ips=tuple(external_ips),
            load_balancer_ip=load_balancer_ip if kind == "LoadBalancer" else None,
            load_balancer_source_ranges=tuple(str(net) for net in source_ranges if net is not None),
            external_traffic_policy=external_traffic_policy,
            internal_traffic_policy=spec.get("internalTrafficPolicy", "Cluster"),
            session_affinity=spec.get("sessionAffinity", "None"),
            session_affinity_timeout=timeout,
            publish_not_ready_addresses=spec.get("publishNotReadyAddresses", False),
            labels=metadata.get("labels", {}),
            annotations=dict(metadata.get("annotations", {})),
            load_balancer_class=spec.get("loadBalancerClass") if kind == "LoadBalancer" else None,
        )
    )


def _special(address: IPv4Address) -> str | None:
    """Why the API server refuses ``address`` as an externalIP (ValidateNonSpecialIP), or None."""
    if address.is_unspecified:
        return "may not be unspecified (0.0.0.0)"
    if address.is_loopback:
        return "may not be in the loopback range (127.0.0.0/8, ::1/128)"
    if address in _LINK_LOCAL_MULTICAST:
        return "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
    if address.is_link_local:
        return "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
    return None


_LINK_LOCAL_MULTICAST = IPv4Network("224.0.0.0/24")


def _port(raw: dict[str, Any], path: str, kind: str, origin: Origin) -> ServicePortSpec:
    report = origin.report
    port: int = raw["port"]
    apply(port_number, port, f"{path}.port", report)
    target = raw.get("targetPort", port)
    if isinstance(target, int):
        target = apply(port_number, target, f"{path}.targetPort", report)
    elif target.isascii() and target.isdigit():  # the API server's reason, and what the user meant
        report(
            f"{path}.targetPort",
            f"'{target}' is quoted, so it is a port name, and a port name must contain at least one letter "
            f"(write targetPort: {target} without quotes for the port number)",
        )
        target = None
    else:
        target = check_name(port_name, target, f"{path}.targetPort", report)
    node_port = raw.get("nodePort")
    if node_port is not None and kind not in NODE_PORT_TYPES:
        report(f"{path}.nodePort", f"is only allowed for NodePort and LoadBalancer services, not {kind}")
        node_port = None
    elif node_port is not None and node_port not in NODE_PORT_RANGE:
        report(f"{path}.nodePort", f"{node_port} is out of range 30000-32767")
        node_port = None
    return ServicePortSpec(
        path=path,
        port=port,
        protocol=raw.get("protocol", "TCP"),
        name=check_name(dns_label, raw.get("name"), f"{path}.name", report),
        target_port=target,
        node_port=node_port,
        app_protocol=raw.get("appProtocol"),
    )


def _check_ports(ports: list[ServicePortSpec], kind: str, headless: bool, origin: Origin) -> None:
    """Ports are required (but for headless and ExternalName), named when several, unique."""
    if not ports and kind != "ExternalName" and not headless:
        origin.report("spec", "missing required field 'ports' (only headless and ExternalName services may omit it)")
    if len(ports) > 1:
        for port in ports:
            if port.name is None:
                origin.report(port.path, "a service with more than one port must name each port")
    report_duplicates((p.name, origin, f"{p.path}.name", f"port name '{p.name}'") for p in ports if p.name is not None)
    report_duplicates(((p.port, p.protocol), origin, f"{p.path}.port", f"port {p.port}/{p.protocol}") for p in ports)
