"""The golden cases: name → the ruleset text it renders (golden/<name>.nft)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dataplane.kubeproxy.loadbalancer import render_lb
from dataplane.kubeproxy.render import detector_for, render_node
from dataplane.topology.plan import ContainerPort, Plan, ServicePort

from .plans import HTTP, plan, pod, service, web_pods

HTTP_PORT = ServicePort(80, "TCP", "http", "http")


def _node(p: Plan, node: str = "node-a") -> str:
    return render_node(p, node, detect_local=detector_for(p))


def clusterip_multiport() -> str:
    """TCP and UDP ports, a named targetPort resolved per pod (different numbers,
    a pod without the UDP port), a numeric targetPort and a defaulted one."""
    pods = (
        pod("web-0", "192.168.1.10", "node-a", ports=(HTTP, ContainerPort(5353, "UDP", "dns", "udp-echo"))),
        pod(
            "web-1",
            "192.168.2.11",
            "node-b",
            ports=(ContainerPort(8081, "TCP", "http", "http"), ContainerPort(5353, "TCP", "dns", "tcp-echo")),
        ),
    )
    ports = (
        HTTP_PORT,
        ServicePort(53, "UDP", "dns", "dns"),
        ServicePort(9100, "TCP", "metrics", 9101),
        ServicePort(7000, "TCP", "echo"),
    )
    return _node(plan(pods, (service("web", "10.96.0.20", ports),)))


def no_endpoints() -> str:
    """Nothing selected, and only not-ready pods selected: refused (reject), NodePort too."""
    pods = (pod("idle-0", "192.168.1.10", "node-a", app="idle", ready=False),)
    services = (
        service("empty", "10.96.0.30", app="nothing"),
        service("idle", "10.96.0.31", (replace(HTTP_PORT, node_port=30031),), app="idle", type="NodePort"),
    )
    return _node(plan(pods, services))


def nodeport() -> str:
    port = replace(HTTP_PORT, node_port=30080)
    return _node(plan(web_pods(), (service("web-np", "10.96.0.40", (port,), type="NodePort"),)))


def _lb_plan() -> Plan:
    """LoadBalancers: source ranges with and without the node inside them, externalIPs,
    eTP=Local with endpoints on one node only, and one without any ready endpoint."""
    pods = (*web_pods(), pod("solo-0", "192.168.2.20", "node-b", app="solo"))
    services = (
        service(
            "web-lb",
            "10.96.0.50",
            (replace(HTTP_PORT, node_port=30050),),
            type="LoadBalancer",
            load_balancer_ips=("203.0.113.130",),
            load_balancer_source_ranges=("203.0.113.0/30",),
            external_ips=("198.51.100.7",),
        ),
        service(
            "web-lb-vpc",
            "10.96.0.51",
            (replace(HTTP_PORT, node_port=30051),),
            type="LoadBalancer",
            load_balancer_ips=("203.0.113.131",),
            load_balancer_source_ranges=("192.168.0.0/16", "203.0.113.2/32"),
        ),
        service(
            "solo-lb",
            "10.96.0.52",
            (replace(HTTP_PORT, node_port=30052),),
            app="solo",
            type="LoadBalancer",
            load_balancer_ips=("203.0.113.132",),
            external_traffic_policy="Local",
        ),
        service(
            "gone-lb",
            "10.96.0.53",
            (replace(HTTP_PORT, node_port=30053),),
            app="gone",
            type="LoadBalancer",
            load_balancer_ips=("203.0.113.133",),
            external_traffic_policy="Local",
        ),
    )
    return plan(pods, services)


def loadbalancer() -> str:
    return _node(_lb_plan())


def loadbalancer_cloud() -> str:
    return render_lb(_lb_plan())


def _etp_local_plan(cni: str = "vpc") -> Plan:
    """eTP=Local NodePort + LB + externalIP Service whose only endpoint is on node-a."""
    ip = "10.244.0.10" if cni == "overlay" else "192.168.1.10"
    port = replace(HTTP_PORT, node_port=30060)
    svc = service(
        "local",
        "10.96.0.60",
        (port,),
        type="LoadBalancer",
        external_traffic_policy="Local",
        load_balancer_ips=("203.0.113.140",),
        external_ips=("198.51.100.8",),
    )
    return plan((pod("web-0", ip, "node-a"),), (svc,), cni=cni)


def etp_local_with_endpoint() -> str:
    return _node(_etp_local_plan(), "node-a")


def etp_local_without_endpoint() -> str:
    return _node(_etp_local_plan(), "node-b")


def etp_local_overlay_without_endpoint() -> str:
    """The same on the pod-CIDR detector (overlay mode)."""
    return _node(_etp_local_plan("overlay"), "node-b")


def _itp_local_plan() -> Plan:
    pods = (pod("web-0", "192.168.1.10", "node-a"),)
    return plan(pods, (service("local", "10.96.0.70", internal_traffic_policy="Local"),))


def itp_local_with_endpoint() -> str:
    return _node(_itp_local_plan(), "node-a")


def itp_local_without_endpoint() -> str:
    return _node(_itp_local_plan(), "node-b")


def affinity() -> str:
    svc = service("sticky", "10.96.0.80", session_affinity="ClientIP", session_affinity_timeout=60)
    return _node(plan(web_pods(3), (svc,)))


def terminating_fallback() -> str:
    """``draining``: no ready pod, so the serving terminating one is used (the other
    one is not serving); ``rolling``: a ready pod exists, so the terminating one is not."""
    pods = (
        pod("draining-0", "192.168.1.10", "node-a", app="draining", terminating=True),
        pod("draining-1", "192.168.2.11", "node-b", app="draining", terminating=True, ready=False),
        pod("rolling-0", "192.168.1.12", "node-a", app="rolling", terminating=True),
        pod("rolling-1", "192.168.2.13", "node-b", app="rolling"),
    )
    services = (service("draining", "10.96.0.90", app="draining"), service("rolling", "10.96.0.91", app="rolling"))
    return _node(plan(pods, services))


def publish_not_ready() -> str:
    pods = (
        pod("web-0", "192.168.1.10", "node-a", ready=False),
        pod("web-1", "192.168.2.11", "node-b", ready=False, terminating=True),
    )
    svc = service("peers", "10.96.0.100", publish_not_ready_addresses=True)
    return _node(plan(pods, (svc,)))


def headless_and_external_name() -> str:
    """Neither has a virtual IP: the table holds only the fixed part."""
    services = (
        service("web-headless", None, headless=True),
        service("docs", None, (), type="ExternalName", external_name="docs.example.com", selector={}),
    )
    return _node(plan(web_pods(), services))


CASES: dict[str, Callable[[], str]] = {
    "clusterip-multiport": clusterip_multiport,
    "no-endpoints": no_endpoints,
    "nodeport": nodeport,
    "loadbalancer": loadbalancer,
    "loadbalancer-cloud": loadbalancer_cloud,
    "etp-local-with-endpoint": etp_local_with_endpoint,
    "etp-local-without-endpoint": etp_local_without_endpoint,
    "etp-local-overlay-without-endpoint": etp_local_overlay_without_endpoint,
    "itp-local-with-endpoint": itp_local_with_endpoint,
    "itp-local-without-endpoint": itp_local_without_endpoint,
    "affinity": affinity,
    "terminating-fallback": terminating_fallback,
    "publish-not-ready": publish_not_ready,
    "headless-and-external-name": headless_and_external_name,
}
