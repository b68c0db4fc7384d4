"""A hand-built Plan exercising every kind of DNS record, for the cluster DNS tests."""

from __future__ import annotations

from dataplane.topology.plan import Container, ContainerPort, Namespace, Plan, Pod, Service, ServicePort

DOMAIN = "cluster.local"
DNS_IP = "10.96.0.10"
WEB_IP = "10.96.0.20"


def pod(
    name: str,
    ip: str,
    *,
    namespace: str = "shop",
    labels: dict[str, str] | None = None,
    ports: tuple[ContainerPort, ...] = (),
    ready: bool = True,
    terminating: bool = False,
) -> Pod:
    return Pod(
        namespace=namespace,
        name=name,
        node="n1",
        zone="a",
        ip=ip,
        netns=f"dp-t.{namespace}.{name}",
        host_iface=f"v{name}",
        labels=labels or {},
        containers=(Container("app", ports=ports),),
        ready=ready,
        terminating=terminating,
    )


def headless(name: str, selector: dict[str, str], *ports: ServicePort, publish_not_ready: bool = False) -> Service:
    return Service(
        "shop",
        name,
        "ClusterIP",
        None,
        ports=ports,
        selector=selector,
        headless=True,
        publish_not_ready_addresses=publish_not_ready,
    )


def external(name: str, target: str) -> Service:
    return Service("shop", name, "ExternalName", None, external_name=target)


PG = (ContainerPort(5432, "TCP", "pg", "tcp-echo"),)

PODS = (
    pod("web-0", "10.0.1.5", labels={"app": "web"}),
    pod("web-1", "10.0.1.6", labels={"app": "web"}, ready=False),
    pod("web-2", "10.0.1.7", labels={"app": "web"}, terminating=True),
    pod("db-0", "10.0.2.5", labels={"app": "db", "tier": "data"}, ports=PG),
    pod("db-1", "10.0.2.6", labels={"app": "db"}, ports=(ContainerPort(5433, "TCP", "pg", "tcp-echo"),)),
    pod("db-2", "10.0.2.7", labels={"app": "db"}),  # no port named pg: in A records, not in SRV
    pod("web-9", "10.0.3.5", namespace="default", labels={"app": "web"}),  # another namespace: never selected
)

SERVICES = (
    Service(
        "shop",
        "web",
        "ClusterIP",
        WEB_IP,
        ports=(ServicePort(80, "TCP", "http", 8080), ServicePort(9090, "UDP", None, 9090)),
        selector={"app": "web"},
    ),
    headless("db", {"app": "db"}, ServicePort(5432, "TCP", "postgres", "pg")),
    headless("web-ready", {"app": "web"}),
    headless("web-all", {"app": "web"}, publish_not_ready=True),
    headless("nobody", {"app": "none"}),
    headless("manual", {}),  # no selector: endpoints would be managed by hand, so there are none
    external("ext", "db.example.com"),
    external("alias", "web.shop.svc.cluster.local"),
    external("dangling", "gone.shop.svc.cluster.local"),
    Service(
        "kube-system",
        "kube-dns",
        "ClusterIP",
        DNS_IP,
        ports=(ServicePort(53, "UDP", "dns", 53), ServicePort(53, "TCP", "dns-tcp", 53)),
        selector={"k8s-app": "kube-dns"},
    ),
)


def make_plan(pods: tuple[Pod, ...] = PODS, services: tuple[Service, ...] = SERVICES) -> Plan:
    return Plan(
        name="t",
        source="sample.py",
        cni="vpc",
        prefix="dp-t.",
        vpc_cidr="10.0.0.0/16",
        service_cidr="10.96.0.0/16",
        cluster_domain=DOMAIN,
        dns_ip=DNS_IP,
        router_netns="dp-t.vpc",
        subnets=(),
        nodes=(),
        namespaces=(Namespace("default"), Namespace("shop"), Namespace("empty"), Namespace("kube-system")),
        pods=pods,
        services=services,
    )
