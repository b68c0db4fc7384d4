"""Plans built by hand for the kube-proxy tests.

Built from the dataclasses rather than from topology files, so the golden
rulesets depend only on the renderer: a change to placement or address
allocation cannot move them.  Two nodes in two zones; pods get the address
and node given, with an HTTP port named ``http`` unless told otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dataplane.topology.plan import (
    Container,
    ContainerPort,
    External,
    Node,
    Plan,
    Pod,
    Service,
    ServicePort,
    Subnet,
)

HTTP = ContainerPort(8080, "TCP", "http", "http")


def node(name: str, ip: str, zone: str, pod_cidr: str | None = None) -> Node:
    subnet = f"private-{zone}"
    return Node(
        name=name,
        zone=zone,
        subnet=subnet,
        ip=ip,
        prefixlen=24,
        gateway=ip.rsplit(".", 1)[0] + ".1",
        netns=f"dp-t.{name}",
        router_iface=f"n-{name}",
        pod_cidr=pod_cidr,
        vtep_ip=pod_cidr.split("/")[0] if pod_cidr else None,
    )


NODES = (node("node-a", "192.168.1.4", "a"), node("node-b", "192.168.2.4", "b"))
OVERLAY_NODES = (
    node("node-a", "192.168.1.4", "a", "10.244.0.0/24"),
    node("node-b", "192.168.2.4", "b", "10.244.1.0/24"),
)


def pod(
    name: str,
    ip: str,
    node: str,
    *,
    app: str = "web",
    namespace: str = "shop",
    ports: tuple[ContainerPort, ...] = (HTTP,),
    ready: bool = True,
    terminating: bool = False,
) -> Pod:
    return Pod(
        namespace=namespace,
        name=name,
        node=node,
        zone=node[-1],
        ip=ip,
        netns=f"dp-t.{namespace}.{name}",
        host_iface=f"pv{name}",
        labels={"app": app},
        containers=(Container("app", ports),),
        ready=ready,
        terminating=terminating,
    )


def service(
    name: str,
    cluster_ip: str | None,
    ports: tuple[ServicePort, ...] = (ServicePort(80, "TCP", "http", "http"),),
    *,
    app: str = "web",
    namespace: str = "shop",
    **options: Any,
) -> Service:
    """A ClusterIP Service selecting ``app``; ``options`` override any other field."""
    base = Service(namespace=namespace, name=name, type="ClusterIP", cluster_ip=cluster_ip, ports=ports)
    return replace(base, **{"selector": {"app": app}, **options})


EXTERNAL = External(
    public_cidr="203.0.113.0/24",
    lb_pool="203.0.113.128/25",
    client_netns="dp-t.external",
    client_ip="203.0.113.2",
    lb_netns="dp-t.lb",
    lb_ip="203.0.113.1",
    transit_cidr="100.64.0.0/30",
    router_transit_ip="100.64.0.1",
    lb_transit_ip="100.64.0.2",
)


def plan(pods: tuple[Pod, ...], services: tuple[Service, ...], *, cni: str = "vpc") -> Plan:
    overlay = cni == "overlay"
    return Plan(
        name="t",
        source="t.yaml",
        cni=cni,
        prefix="dp-t.",
        vpc_cidr="192.168.0.0/16",
        service_cidr="10.96.0.0/16",
        cluster_domain="cluster.local",
        dns_ip="10.96.0.10",
        router_netns="dp-t.vpc",
        subnets=(
            Subnet("private-a", "192.168.1.0/24", "a", "192.168.1.1", "br-private-a"),
            Subnet("private-b", "192.168.2.0/24", "b", "192.168.2.1", "br-private-b"),
        ),
        nodes=OVERLAY_NODES if overlay else NODES,
        namespaces=(),
        pods=pods,
        services=services,
        pod_cidr="10.244.0.0/16" if overlay else None,
        external=EXTERNAL,
    )


def web_pods(count: int = 2) -> tuple[Pod, ...]:
    """``web-0`` on node-a, ``web-1`` on node-b, alternating, at 192.168.<zone>.10+i."""
    return tuple(pod(f"web-{i}", f"192.168.{1 + i % 2}.{10 + i}", ("node-a", "node-b")[i % 2]) for i in range(count))
