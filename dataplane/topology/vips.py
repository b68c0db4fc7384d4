"""Service addresses: ClusterIPs, NodePorts and LoadBalancer VIPs, and externalIPs checked.

Explicit values are checked and claimed first, then (with a ``previous`` plan)
the values Services already had, then new ones are chosen by a stable hash of
the Service's name.  Hashing rather than counting means adding or removing a
Service never moves another one's address, just as a real cluster never
renumbers existing Services and a cloud keeps a load balancer's address.  The
cluster DNS address (the 10th of the service CIDR) goes to kube-dns alone.
A LoadBalancer Service whose pool is exhausted is a problem, not a Service
left pending as Kubernetes would leave it: an emulation that silently lacks
the entry point a user asked for would teach the wrong thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from ..edge.nlb import is_aws_nlb
from .cluster_dns import SERVICE_KEY, dns_address
from .model import ServiceSpec, TopologySpec
from .parse_services import NODE_PORT_RANGE
from .plan import External, Plan, Service
from .pool import Pool


@dataclass
class ServiceAddresses:
    cluster_ips: dict[str, IPv4Address] = field(default_factory=dict)  # by service key
    node_ports: dict[tuple[str, int], int] = field(default_factory=dict)  # (service key, port index)
    load_balancer_ips: dict[str, IPv4Address] = field(default_factory=dict)  # by service key


def allocate_services(
    services: list[ServiceSpec],
    topology: TopologySpec,
    external: External | None,
    previous: Plan | None,
    node_ips: set[IPv4Address] | None = None,
) -> ServiceAddresses:
    result = ServiceAddresses()
    old = {s.key: s for s in previous.services} if previous else {}
    if topology.service_cidr is not None:
        _cluster_ips(services, topology.service_cidr, old, result)
    _node_ports(services, old, result)
    if external is not None:
        _load_balancer_ips(services, external, old, result)
    _check_external_ips(services, topology, node_ips or set())
    return result


def _cluster_ips(
    services: list[ServiceSpec], cidr: IPv4Network, old: dict[str, Service], result: ServiceAddresses
) -> None:
    dns = dns_address(cidr)
    pool = Pool(int(cidr.network_address) + 1, int(cidr.broadcast_address) - 1, {int(dns): "the cluster DNS"})
    wanting = [s for s in services if s.wants_cluster_ip]
    for service in wanting:
        address = service.cluster_ip
        if address is None:
            continue
        report = service.origin.report
        if address == dns and service.key == SERVICE_KEY:
            result.cluster_ips[service.key] = address
        elif address == dns:
            report("spec.clusterIP", f"{address} is reserved for the cluster DNS")
        elif address not in cidr:
            report("spec.clusterIP", f"{address} is outside the serviceCIDR {cidr}")
        elif int(address) not in pool:
            report("spec.clusterIP", f"{address} is the network or broadcast address of the serviceCIDR {cidr}")
        elif holder := pool.claim(int(address), service.key):
            report("spec.clusterIP", f"{address} is already the clusterIP of service '{holder}'")
        else:
            result.cluster_ips[service.key] = address
    unset = [s for s in wanting if s.cluster_ip is None]
    had = {key: before.cluster_ip for key, before in old.items() if before.cluster_ip is not None}
    _keep_or_hash(unset, pool, had, result.cluster_ips, f"the serviceCIDR {cidr} is exhausted: no address is left for it")


def _keep_or_hash(
    unset: list[ServiceSpec], pool: Pool, had: dict[str, str], assigned: dict[str, IPv4Address], exhausted: str
) -> None:
    """Addresses for Services that asked for none: the one each ``had`` in the
    previous plan while it is still free, then a stable hash of the name."""
    for service in unset:
        before = had.get(service.key)
        if before is not None and pool.keep(int(IPv4Address(before)), service.key):
            assigned[service.key] = IPv4Address(before)
    for service in sorted(unset, key=lambda s: s.key):
        if service.key not in assigned:
            value = pool.hashed(service.key, service.key)
            if value is None:
                service.origin.report("spec", exhausted)
            else:
                assigned[service.key] = IPv4Address(value)


def _node_ports(services: list[ServiceSpec], old: dict[str, Service], result: ServiceAddresses) -> None:
    pool = Pool(NODE_PORT_RANGE.start, NODE_PORT_RANGE.stop - 1)
    wanting = [s for s in services if s.wants_node_ports]
    in_service: set[tuple[str, int, str]] = set()  # one service may reuse a nodePort for TCP and UDP
    for service in wanting:
        for index, port in enumerate(service.ports):
            if port.node_port is None:
                continue
            holder = pool.claim(port.node_port, service.key)
            mine = (service.key, port.node_port, port.protocol)
            if (holder is not None and holder != service.key) or mine in in_service:
                where = f"service '{holder}'" if holder != service.key else "this service"
                service.origin.report(f"{port.path}.nodePort", f"nodePort {port.node_port} is already used by {where}")
            else:
                in_service.add(mine)
                result.node_ports[service.key, index] = port.node_port
    for service in wanting:
        before = old.get(service.key)
        previous_ports = {(p.port, p.protocol): p.node_port for p in before.ports} if before else {}
        for index, port in enumerate(service.ports):
            value = previous_ports.get((port.port, port.protocol))
            if port.node_port is None and value is not None and pool.keep(value, service.key):
                result.node_ports[service.key, index] = value
    for service in sorted(wanting, key=lambda s: s.key):
        for index, port in enumerate(service.ports):
            if (service.key, index) in result.node_ports or port.node_port is not None:
                continue
            value = pool.hashed(f"{service.key}:{port.port}/{port.protocol}", service.key)
            if value is None:
                service.origin.report(f"{port.path}", "no nodePort is left in 30000-32767")
            else:
                result.node_ports[service.key, index] = value


def _load_balancer_ips(
    services: list[ServiceSpec], external: External, old: dict[str, Service], result: ServiceAddresses
) -> None:
    """One VIP per LoadBalancer Service of the in-tree provider from the pool (an NLB of the AWS Load
    Balancer Controller has addresses per zone instead: ``topology.nlbs``); the public segment's own
    network and broadcast addresses are never handed out, even when the pool includes them."""
    pool_network, public = IPv4Network(external.lb_pool), IPv4Network(external.public_cidr)
    segment = {int(public.network_address): "the network", int(public.broadcast_address): "the broadcast"}
    pool = Pool(int(pool_network.network_address), int(pool_network.broadcast_address), segment)
    wanting = [
        s for s in services if s.type == "LoadBalancer" and not is_aws_nlb(s.annotations, s.load_balancer_class)
    ]
    for service in wanting:
        address = service.load_balancer_ip
        if address is None:
            continue
        report = service.origin.report
        if int(address) not in pool:
            report("spec.loadBalancerIP", f"{address} is outside the LoadBalancer pool {pool_network}")
        elif (holder := pool.claim(int(address), service.key)) in segment.values():
            report("spec.loadBalancerIP", f"{address} is {holder} address of the public segment {public}")
        elif holder is not None:
            report("spec.loadBalancerIP", f"{address} is already the LoadBalancer IP of service '{holder}'")
        else:
            result.load_balancer_ips[service.key] = address
    unset = [s for s in wanting if s.load_balancer_ip is None]
    had = {key: before.load_balancer_ips[0] for key, before in old.items() if before.load_balancer_ips}
    _keep_or_hash(unset, pool, had, result.load_balancer_ips, f"no LoadBalancer address left in pool {pool_network}")


def _check_external_ips(services: list[ServiceSpec], topology: TopologySpec, node_ips: set[IPv4Address]) -> None:
    """An externalIP inside the cluster's own ranges would shadow a pod or ClusterIP.

    Kubernetes accepts any address but the special ones (checked when parsed),
    and the most common use is a node's own address: traffic to it on the
    Service's port is then served by the Service on that node, as kube-proxy
    does.  Any other address inside the VPC, service or pod range is refused
    as a dpctl limit: nothing would route it to a node, and it would hide a
    pod or ClusterIP of the emulation."""
    ranges = [
        ("the VPC CIDR", topology.vpc_cidr),
        ("the serviceCIDR", topology.service_cidr),
        ("the podCIDR", topology.pod_cidr),
    ]
    for service in services:
        for path, address in service.external_ips:
            if address in node_ips:
                continue
            inside = next(((label, n) for label, n in ranges if n is not None and address in n), None)
            if inside is not None:
                label, network = inside
                service.origin.report(
                    path,
                    f"{address} is inside {label} {network} but is no node's address: dpctl limit (Kubernetes "
                    "accepts it): an externalIP must be a node's address or outside the cluster's ranges",
                )
