"""An NLB's data path in the load balancer namespace: targets per zone, and who the target sees (``aws-edge.md`` §1.8).

Each NLB node is an address pair local to the LB namespace: the private
address in its zone's subnet and, internet-facing, a public one.  For every
listener (Service port) the kernel DNATs each of them to that node's
targets; listeners the kernel cannot serve (TLS termination, PROXY v2) are
left to the edge agent's proxy (``lb.nlb``), which listens on the same
addresses.

* Targets: ``instance`` -> ``nodeIP:nodePort`` of the nodes, all of them
  under externalTrafficPolicy Cluster while the Service has a ready
  endpoint (the NodePort refuses otherwise, and the TCP health check with
  it), under Local only the nodes with a ready local endpoint (the
  ``healthCheckNodePort`` check); ``ip`` -> ``podIP:targetPort`` of the
  ready endpoints.  Cross-zone off (the NLB default): a node uses only the
  targets in its zone.  A listener without targets refuses.
* Source: with client IP preservation the client's address reaches the
  target and the reply comes back through the LB namespace (the VPC routes
  the public segment there), whose conntrack un-DNATs it; without it the
  connection is SNATed to the node's private address, which the VPC router
  routes to the LB namespace.  A client inside the VPC is always SNATed:
  the target would answer it directly, past the NLB (the emulation's
  choice; AWS's fabric keeps such flows on the NLB).
* An internal NLB has no public address, and the private ones are dropped
  when they come from the public segment: reachable from the VPC only.
* loadBalancerSourceRanges are the NLB's security group, as for the in-tree
  load balancer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataplane.edge import nlb
from dataplane.topology.endpoints import Endpoint, PortEndpoints, all_service_endpoints
from dataplane.topology.naming import LB_PUBLIC_IFACE
from dataplane.topology.plan import LbNode, LoadBalancer, Plan, Service, ServicePort

from .names import port_label
from .nftext import Chain, comment


@dataclass(frozen=True)
class ServedNlb:
    """A placed NLB with its Service and settings, as the data path and the edge agent read them."""

    lb: LoadBalancer
    service: Service
    settings: nlb.Nlb


def _ignore(path: str, message: str) -> None:
    """Reported when the file was read (a Service whose annotations fail has no NLB placed)."""


def served_nlbs(plan: Plan) -> Iterator[ServedNlb]:
    services = {s.key: s for s in plan.services}
    for lb in plan.load_balancers:
        service = services.get(lb.group)
        if lb.kind != "nlb" or service is None:
            continue
        ports = [nlb.ServicePortRef(p.port, p.protocol, p.name) for p in service.ports]
        settings = nlb.read(service.annotations, ports, plan.certificates, _ignore)
        if settings is not None:
            yield ServedNlb(lb, service, settings)


def targets(plan: Plan, served: ServedNlb, zone: str, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> list[tuple[str, int]]:
    """``(address, port)`` of the healthy targets the zone's node sends ``port`` to, ordered."""
    settings, service = served.settings, served.service
    ready = [e for e in endpoints if e.ready]
    if settings.target_type == "ip":
        return [(e.ip, e.port) for e in ready if settings.cross_zone or e.zone == zone]
    if not port.node_port or not ready:
        return []
    local = {e.node for e in ready}
    nodes = [n for n in plan.nodes if service.external_traffic_policy != "Local" or n.name in local]
    return [(n.ip, port.node_port) for n in nodes if settings.cross_zone or n.zone == zone]


def dns_nodes(plan: Plan, served: ServedNlb, slices: tuple[PortEndpoints, ...]) -> tuple[LbNode, ...]:
    """The nodes whose addresses the NLB's DNS name answers (§1.9): a zone stays while each listener has a
    healthy target for it; when no zone qualifies, all stay (DNS fails open, as Route 53 health checks do)."""
    healthy = tuple(n for n in served.lb.nodes if all(targets(plan, served, n.zone, p, e) for p, e in slices))
    return healthy or served.lb.nodes


def nodes_in_dns(plan: Plan) -> dict[str, tuple[LbNode, ...]]:
    """``dns_nodes`` of every NLB of ``plan``, by load balancer name."""
    slices = all_service_endpoints(plan)
    return {s.lb.name: dns_nodes(plan, s, slices.get(s.service.key, ())) for s in served_nlbs(plan)}


def render_nlbs(plan: Plan, slices: dict[str, tuple[PortEndpoints, ...]], guard: Chain, forward: Chain, snat: Chain) -> None:
    """Add every NLB's rules to the LB namespace's chains."""
    for served in served_nlbs(plan):
        privates = ", ".join(n.ip for n in served.lb.nodes)
        guard.add(f'iifname "{LB_PUBLIC_IFACE}" ip daddr {{ {privates} }} drop {comment(f"{served.lb.name} private")}')
        for port, endpoints in slices.get(served.service.key, ()):
            for node in served.lb.nodes:
                _listener(plan, served, node, port, endpoints, guard, forward, snat)


def _listener(
    plan: Plan, served: ServedNlb, node: LbNode, port: ServicePort, endpoints: tuple[Endpoint, ...],
    guard: Chain, forward: Chain, snat: Chain,
) -> None:
    label = f"{port_label(served.service, port)} {served.lb.name} zone {node.zone}"
    proto = port.protocol.lower()
    ranges = served.service.load_balancer_source_ranges
    found = targets(plan, served, node.zone, port, endpoints)
    for address in (node.ip, node.public_ip) if node.public_ip else (node.ip,):
        listener = f"ip daddr {address} {proto} dport {port.port}"
        if ranges:
            guard.add(f'{listener} ip saddr != {{ {", ".join(ranges)} }} drop {comment(f"{label} source ranges")}')
        if served.settings.in_userspace(port.port):
            continue  # the edge agent's proxy accepts it on the local address
        if not found:
            guard.add(f'{listener} reject {comment(f"{label} has no healthy target")}')
            continue
        choices = ", ".join(f"{i} : {ip} . {number}" for i, (ip, number) in enumerate(found))
        forward.add(f'{listener} dnat ip to numgen random mod {len(found)} map {{ {choices} }} {comment(label)}')
        flow = f"ct original ip daddr {address} meta l4proto {proto} ct original proto-dst {port.port}"
        vpc = ", ".join(c for c in (plan.vpc_cidr, plan.pod_cidr) if c)
        inside = f" ip saddr {{ {vpc} }}" if served.settings.preserves(port.protocol) else ""
        snat.add(f'{flow}{inside} snat ip to {node.ip} {comment(f"{label} source")}')
