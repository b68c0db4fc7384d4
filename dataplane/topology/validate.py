"""Checks that need more than one object: duplicates, references, address overlaps.

They run on whatever parsed, even when other documents had problems, so one
run reports everything.  A reference to an object that exists but failed its
own checks is not reported again: the user already has that object's problem.
``check_network`` also returns the ``Layout`` (the usable subnets and nodes)
that placement and address allocation work from.
"""

from __future__ import annotations

from ipaddress import IPv4Network

from . import cluster_dns
from .external import DEFAULT_PUBLIC_CIDR, DEFAULT_TRANSIT_CIDR
from .model import Layout, Manifest, NodeSite, Origin, SubnetSite, TopologySpec, report_duplicates

MESH_ROOT_NAMESPACE = "istio-system"  # Istio's root namespace: mesh-wide policies live there
IMPLICIT_NAMESPACES = ("default", cluster_dns.NAMESPACE, MESH_ROOT_NAMESPACE)  # exist declared or not
HOSTNAME_LABEL = "kubernetes.io/hostname"
ZONE_LABEL = "topology.kubernetes.io/zone"


def check_network(topology: TopologySpec) -> Layout:
    """Check the VPC, subnets, CIDRs and nodes; return the parts that are usable."""
    origin = topology.origin
    report = origin.report
    vpc = topology.vpc_cidr
    report_duplicates((s.name, origin, f"{s.path}.name", f"subnet name '{s.name}'") for s in topology.subnets if s.name)
    subnets: dict[str, SubnetSite] = {}
    overlapping = _overlaps([s.network for s in topology.subnets])
    for i, subnet in enumerate(topology.subnets):
        if subnet.network is None:
            continue
        if vpc is not None and not subnet.network.subnet_of(vpc):
            report(f"{subnet.path}.cidr", f"{subnet.network} is outside the VPC CIDR {vpc}")
        for j in overlapping.get(i, []):
            other = topology.subnets[j]
            report(f"{subnet.path}.cidr", f"{subnet.network} overlaps subnet '{other.name}' ({other.network})")
        if subnet.name and subnet.zone and subnet.name not in subnets:
            subnets[subnet.name] = SubnetSite(subnet, subnet.name, subnet.network, subnet.zone)
    cluster = [("the VPC CIDR", vpc), ("the serviceCIDR", topology.service_cidr)]
    _check_overlap(origin, "serviceCIDR", topology.service_cidr, cluster[:1])
    _check_overlap(origin, "podCIDR", topology.pod_cidr, cluster)
    cluster.append(("the podCIDR", topology.pod_cidr))
    # Outside the cluster: a packet to one of these must never be taken for one to a pod or Service.
    transit = topology.transit_cidr
    _check_overlap(origin, "external.transitCIDR", transit, cluster, IPv4Network(DEFAULT_TRANSIT_CIDR))
    public = [*cluster, ("the transit CIDR", transit)]
    _check_overlap(origin, "external.cidr", topology.public_cidr, public, IPv4Network(DEFAULT_PUBLIC_CIDR))
    return Layout(list(subnets.values()), _nodes(topology, subnets))


def _overlaps(networks: list[IPv4Network | None]) -> dict[int, list[int]]:
    """For each network, the earlier ones it overlaps (by index, in order).

    Two CIDRs overlap only when one contains the other, so each network's
    partners are found among its at most 32 supernets, looked up by value:
    linear in the number of networks (plus the overlaps found), where
    comparing every pair would take minutes for 60,000 subnets."""
    where: dict[tuple[int, int], list[int]] = {}  # (network address, prefix length) -> indexes
    for index, network in enumerate(networks):
        if network is not None:
            where.setdefault((int(network.network_address), network.prefixlen), []).append(index)
    found: dict[int, set[int]] = {}
    for (address, prefixlen), indexes in where.items():
        for length in range(prefixlen, -1, -1):
            mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
            for other in where.get((address & mask, length), []):
                for index in indexes:
                    if other != index:
                        later, earlier = max(index, other), min(index, other)
                        found.setdefault(later, set()).add(earlier)
    return {later: sorted(earlier) for later, earlier in found.items()}


def _check_overlap(
    origin: Origin,
    field: str,
    network: IPv4Network | None,
    others: list[tuple[str, IPv4Network | None]],
    default: IPv4Network | None = None,
) -> None:
    """Report each of ``others`` that ``network`` (spec.``field``) overlaps; a defaulted
    ``network`` is named as such, since the user never wrote it."""
    if network is None:
        return
    defaulted = network == default
    for label, other in others:
        if other is not None and network.overlaps(other):
            message = f"{network}{' (the default)' if defaulted else ''} overlaps {label} {other}"
            hint = f"; set spec.{field} to a range the cluster does not use" if defaulted else ""
            origin.report(f"spec.{field}", message + hint)


def _nodes(topology: TopologySpec, subnets: dict[str, SubnetSite]) -> list[NodeSite]:
    origin = topology.origin
    declared = {s.name for s in topology.subnets if s.name}
    report_duplicates((n.name, origin, f"{n.path}.name", f"node name '{n.name}'") for n in topology.nodes if n.name)
    sites: dict[str, NodeSite] = {}
    for node in topology.nodes:
        if node.subnet is not None and node.subnet not in declared:
            known = ", ".join(sorted(declared))
            origin.report(f"{node.path}.subnet", f"unknown subnet '{node.subnet}' (declared: {known})")
        subnet = subnets.get(node.subnet or "")
        if node.name is None or subnet is None or node.name in sites:
            continue
        derived = {HOSTNAME_LABEL: node.name, ZONE_LABEL: subnet.zone}
        for key, value in derived.items():
            if node.labels.get(key, value) != value:
                origin.report(f"{node.path}.labels", f"label {key} is always '{value}' for this node; remove it")
        sites[node.name] = NodeSite(node, node.name, subnet, node.labels | derived)
    return list(sites.values())


def check_objects(manifest: Manifest) -> None:
    """Names are unique, namespaces and service accounts are declared, security groups exist."""
    _check_security_group_policies(manifest)
    report_duplicates((ns.name, ns.origin, "metadata.name", f"namespace '{ns.name}'") for ns in manifest.namespaces)
    report_duplicates(
        ((o.kind, o.namespace, o.name), o.origin, "metadata.name", f"{o.kind} '{o.namespace}/{o.name}'")
        for o in manifest.objects
    )
    # A replica may collide with a Pod or another Deployment's replica.  Two copies of one
    # Deployment or Pod were reported above, so each owner's pods are compared only once.
    owners: set[tuple[str, str]] = set()
    pods = []
    for pod in manifest.pods:
        if (pod.key, pod.owner) not in owners:
            owners.add((pod.key, pod.owner))
            pods.append((pod.key, pod.origin, "metadata.name", f"pod name '{pod.key}'"))
    report_duplicates(pods)
    declared = {*IMPLICIT_NAMESPACES, *(ns.name for ns in manifest.namespaces)}
    for obj in manifest.objects:
        if obj.namespace not in declared:
            obj.origin.report(
                "metadata.namespace",
                f"namespace '{obj.namespace}' is not declared; add a Namespace document "
                f"(only {', '.join(repr(n) for n in IMPLICIT_NAMESPACES[:-1])} and {IMPLICIT_NAMESPACES[-1]!r} "
                "exist without one)",
            )
    accounts = manifest.service_accounts()
    for pod in manifest.pods:
        if pod.service_account != "default" and (pod.namespace, pod.service_account) not in accounts:
            pod.origin.report(
                f"{pod.spec_path}.serviceAccountName",
                f"service account '{pod.service_account}' is not declared in namespace '{pod.namespace}'",
            )


def _check_security_group_policies(manifest: Manifest) -> None:
    """A SecurityGroupPolicy names groups of the Topology's VPC (by name, in place of EC2's IDs)."""
    declared = {g.get("name") for g in (manifest.topology.vpc_security if manifest.topology else {}).get(
        "securityGroups", [])}
    for policy in (t for t in manifest.traffic if t.kind == "SecurityGroupPolicy"):
        for i, name in enumerate(policy.spec.get("securityGroups", {}).get("groupIds", [])):
            if name not in declared:
                policy.origin.report(f"spec.securityGroups.groupIds[{i}]", f"no security group {name!r} in spec.vpc "
                                     f"(declared: {', '.join(sorted(str(d) for d in declared)) or 'none'})")
