"""The emulated cloud load balancer: its ruleset, in the LB namespace outside the VPC.

It behaves like an AWS NLB in instance mode in front of a LoadBalancer
Service: each listener (VIP and port) forwards to ``nodeIP:nodePort`` of its
target nodes, keeping the client's address (no SNAT; replies come back
through the LB, whose conntrack un-DNATs them).

* Target nodes: every node under externalTrafficPolicy: Cluster (kube-proxy
  forwards from any node); under Local only the nodes with a ready local
  endpoint, which is what the LB's health check on the healthCheckNodePort
  would find.  A listener without targets refuses connections.
* loadBalancerSourceRanges become the LB's security group: other sources
  are dropped before DNAT (filter, priority -110), on every packet.
* An internet-facing ALB node's public address is mapped 1:1 to its private
  one, as an internet gateway maps an Elastic IP: the node sees the client's
  own address, and conntrack maps the replies back.
* The AWS Load Balancer Controller's NLBs (``edge.nlb``) have no VIP here:
  their per-zone addresses and rules are ``nlb.render_nlbs``'s.
"""

from __future__ import annotations

from dataplane.topology.endpoints import Endpoint, all_service_endpoints
from dataplane.topology.plan import Node, Plan, Service, ServicePort

from .names import port_label
from .nftext import Table, comment
from .nlb import render_nlbs

TABLE = "dpctl-lb"


def target_nodes(plan: Plan, service: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> list[Node]:
    """The nodes the LB sends ``port`` of ``service`` to (empty without a NodePort)."""
    if not port.node_port:
        return []
    if service.external_traffic_policy != "Local":
        return list(plan.nodes)
    healthy = {e.node for e in endpoints if e.ready}
    return [node for node in plan.nodes if node.name in healthy]


def render_lb(plan: Plan) -> str:
    """The ``nft -f`` text of the load balancer namespace's ``ip dpctl-lb`` table."""
    table = Table("ip", TABLE, "cloud load balancer for LoadBalancer Services")
    guard = table.chain("filter-prerouting", "type filter hook prerouting priority -110")
    forward = table.chain("nat-prerouting", "type nat hook prerouting priority -100")
    for lb in plan.load_balancers:
        if lb.kind != "alb":
            continue
        for node in lb.nodes:
            if node.public_ip:
                forward.add(f'ip daddr {node.public_ip} dnat ip to {node.ip} {comment(f"{lb.name} zone {node.zone}")}')
    slices = all_service_endpoints(plan)
    for service in sorted(plan.services, key=lambda s: (s.namespace, s.name)):
        if service.type != "LoadBalancer":
            continue
        for port, endpoints in slices[service.key]:
            label = port_label(service, port)
            nodes = target_nodes(plan, service, port, endpoints)
            for vip in service.load_balancer_ips:
                listener = f"ip daddr {vip} {port.protocol.lower()} dport {port.port}"
                if service.load_balancer_source_ranges:
                    ranges = ", ".join(service.load_balancer_source_ranges)
                    guard.add(f'{listener} ip saddr != {{ {ranges} }} drop {comment(f"{label} source ranges")}')
                if not nodes:
                    guard.add(f'{listener} reject {comment(f"{label} has no healthy target")}')
                    continue
                targets = ", ".join(f"{i} : {node.ip} . {port.node_port}" for i, node in enumerate(nodes))
                forward.add(
                    f'{listener} dnat ip to numgen random mod {len(nodes)} map {{ {targets} }} {comment(label)}'
                )
    if any(lb.kind == "nlb" for lb in plan.load_balancers):
        render_nlbs(plan, slices, guard, forward, table.chain("nat-postrouting", "type nat hook postrouting priority 100"))
    return table.text()
