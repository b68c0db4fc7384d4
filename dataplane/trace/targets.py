"""Where a trace probe goes, which endpoints it may end at, and who watches.

``DST`` is ``NS/POD[:PORT]``, ``svc/NS/NAME[:PORT]`` (the ClusterIP),
``lb/NS/NAME[:PORT]`` (the LoadBalancer VIP), ``node/NAME:PORT`` (a NodePort
on the node's address) or ``IP:PORT``.  ``PORT`` of a Service is its port
number or name; without one the first port is used.

The peers -- the destination and every pod address:port a Service may DNAT
it to -- decide which packets the tracing table marks after masquerade has
replaced the probe's source port.  They are a superset on purpose (every pod
the selector matches, ready or not): marking one packet too many costs a
line of output, missing one would cut the trace short.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dataplane.errors import StateError
from dataplane.topology import endpoints
from dataplane.topology.plan import Plan, Pod, Service, ServicePort
from dataplane.topology.targets import resolve_pod
from dataplane.vpc.egress import read


@dataclass(frozen=True)
class Destination:
    ip: str
    port: int
    proto: str  # tcp | udp
    label: str  # what the user asked for, resolved
    peers: frozenset[tuple[str, int]]
    pod_netns: tuple[str, ...]  # namespaces of the pods among the peers


def _split_port(text: str) -> tuple[str, str | None]:
    head, sep, port = text.rpartition(":")
    return (head, port) if sep else (text, None)


def _port_number(text: str | None, what: str) -> int:
    if text is None:
        raise StateError(f"{what} needs a port: {what}:PORT")
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
        raise StateError(f"{what}: expected a port number 1-65535, got {text!r}")
    return int(text)


def _pods_by_ip(plan: Plan) -> dict[str, Pod]:
    return {p.ip: p for p in plan.pods}


def service_peers(plan: Plan, service: Service, port: ServicePort) -> set[tuple[str, int]]:
    """Every pod address:port the Service port may be DNATed to."""
    peers = set()
    for pod in endpoints.selected_pods(plan, service):
        target = endpoints.target_port(port, pod)
        if target is not None:
            peers.add((pod.ip, target))
    return peers


def _service(plan: Plan, key: str) -> Service:
    namespace, _, name = key.partition("/")
    for service in plan.services:
        if service.namespace == namespace and service.name == name:
            return service
    raise StateError(f"no Service {key} in {plan.name}")


def _service_port(service: Service, wanted: str | None, proto: str | None) -> ServicePort:
    ports = [p for p in service.ports if proto is None or p.protocol.lower() == proto]
    if wanted is not None:
        ports = [p for p in ports if (str(p.port) == wanted if wanted.isdigit() else p.name == wanted)]
    if not ports:
        what = f"port {wanted}" if wanted else "a port"
        raise StateError(f"Service {service.key} has no {what}{f' over {proto}' if proto else ''}")
    return ports[0]


def _to_service(plan: Plan, service: Service, port: ServicePort, ip: str, number: int, label: str) -> Destination:
    """To ``ip:number``, a frontend (ClusterIP, VIP, node address) of ``port``."""
    peers = {(ip, number), *service_peers(plan, service, port)}
    return _destination(plan, ip, number, port.protocol.lower(), label, peers)


def _destination(plan: Plan, ip: str, port: int, proto: str, label: str, peers: set[tuple[str, int]]) -> Destination:
    pods = _pods_by_ip(plan)
    netns = tuple(sorted({pods[ip].netns for ip, _ in peers if ip in pods}))
    return Destination(ip, port, proto, label, frozenset(peers), netns)


def _to_pod(plan: Plan, key: str, wanted: str | None, proto: str | None) -> Destination:
    pod = resolve_pod(plan, key)
    if wanted is None:
        declared = [p for p in pod.ports if proto is None or p.protocol.lower() == proto]
        if not declared:
            raise StateError(f"pod {key} declares no port{f' over {proto}' if proto else ''}; give one: {key}:PORT")
        port, protocol = declared[0].port, declared[0].protocol.lower()
    else:
        port = _port_number(wanted, key)
        declared_proto = next((p.protocol.lower() for p in pod.ports if p.port == port), "tcp")
        protocol = proto or declared_proto
    return _destination(plan, pod.ip, port, protocol, f"pod {key}", {(pod.ip, port)})


def _to_node_port(plan: Plan, name: str, wanted: str | None, proto: str | None) -> Destination:
    node = plan.node(name)
    port = _port_number(wanted, f"node/{name}")
    for service in plan.services:
        for sp in service.ports:
            if sp.node_port == port and (proto is None or sp.protocol.lower() == proto):
                return _to_service(plan, service, sp, node.ip, port, f"NodePort {port} of {service.key} on node {name}")
    return _destination(plan, node.ip, port, proto or "tcp", f"node {name}", {(node.ip, port)})


def _to_address(plan: Plan, ip: str, wanted: str | None, proto: str | None) -> Destination:
    port = _port_number(wanted, ip)
    nodes = {n.ip: n.name for n in plan.nodes}
    if ip in nodes:
        return _to_node_port(plan, nodes[ip], str(port), proto)
    for service in plan.services:
        if ip in (service.cluster_ip, *service.external_ips, *service.load_balancer_ips):
            for sp in service.ports:
                if sp.port == port and (proto is None or sp.protocol.lower() == proto):
                    return _to_service(plan, service, sp, ip, port, f"{service.key} port {sp.name or sp.port} at {ip}")
    pod = _pods_by_ip(plan).get(ip)
    if pod is not None:
        return _to_pod(plan, pod.key, str(port), proto)
    return _destination(plan, ip, port, proto or "tcp", "address", {(ip, port)})


def resolve_destination(plan: Plan, text: str, proto: str | None) -> Destination:
    """``DST`` of ``dpctl trace`` against the running plan; ``proto`` None = the port's own."""
    kind, _, rest = text.partition("/")
    head, wanted = _split_port(text)
    if kind in ("svc", "lb") and rest.count("/") == 1:
        key, wanted = _split_port(rest)
        service = _service(plan, key)
        port = _service_port(service, wanted, proto)
        if kind == "svc":
            if service.cluster_ip is None:
                raise StateError(f"Service {key} has no ClusterIP (headless or ExternalName)")
            return _to_service(
                plan, service, port, service.cluster_ip, port.port, f"{key} port {port.name or port.port} (ClusterIP)"
            )
        if not service.load_balancer_ips:
            raise StateError(f"Service {key} has no LoadBalancer address")
        ip = service.load_balancer_ips[0]
        return _to_service(plan, service, port, ip, port.port, f"{key} port {port.name or port.port} (LoadBalancer)")
    nodes = [n.name for n in plan.nodes]
    if kind == "node" and _split_port(rest)[0] in nodes:
        name, wanted = _split_port(rest)
        return _to_node_port(plan, name, wanted, proto)
    if kind == "node" and not any(p.namespace == "node" for p in plan.pods):
        raise StateError(f"no node {_split_port(rest)[0]} in {plan.name} (nodes: {', '.join(nodes)})")
    try:
        ipaddress.IPv4Address(head)
    except ValueError:
        pass
    else:
        return _to_address(plan, head, wanted, proto)
    if text.count("/") == 1:
        key, wanted = _split_port(text)
        return _to_pod(plan, key, wanted, proto)
    raise StateError(
        f"{text!r}: expected NS/POD[:PORT], svc/NS/NAME[:PORT], lb/NS/NAME[:PORT], node/NAME:PORT or IP:PORT"
    )


def watchers(plan: Plan, src_netns: str, destination: Destination) -> list[str]:
    """The namespaces a probe may cross: the source, the fabric (every node,
    the VPC router, the load balancer, the ALB nodes and the outside client)
    and the pods it may end at.  Other pods cannot see the probe, so they are
    not watched."""
    outside = (plan.external.lb_netns, plan.external.client_netns) if plan.external else ()
    edge = (n.netns for lb in plan.load_balancers for n in lb.nodes)
    gateways = (n.netns for n in read(plan.vpc_egress).nat_gateways)
    fabric = [plan.router_netns, *outside, *edge, *gateways, *plan.network_netns(), *(n.netns for n in plan.nodes)]
    return list(dict.fromkeys([src_netns, *fabric, *destination.pod_netns]))


def used_ports(plan: Plan) -> set[int]:
    """Every port a server of the emulation listens on or a Service exposes:
    the probe's source port must be none of them, or the trace would mark
    unrelated traffic."""
    ports = {p.port for pod in plan.pods for p in pod.ports}
    for service in plan.services:
        for sp in service.ports:
            ports |= {sp.port, *(x for x in (sp.node_port, sp.target_port) if isinstance(x, int))}
    return ports
