"""The pod network built in the kernel: router, nodes, overlay, pods, outside world.

What to build is decided by ``realize/wiring.py`` from the Plan alone; this
module sends those requests, in their order, through the kernel layer, and
names the construction steps ``up`` runs and reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import assert_never

from dataplane.kernel import netns, nft
from dataplane.kernel.links import NamespaceConfig
from dataplane.kernel.rtnlbatch import RtnlBatch
from dataplane.realize import egress_wiring, network_wiring, wiring
from dataplane.realize.wiring import (
    Address,
    Bridge,
    Configure,
    CreateNamespace,
    Fdb,
    Link,
    Neighbour,
    NeighbourGone,
    PolicyRule,
    Request,
    Route,
    Ruleset,
    SetMaster,
    Sysctl,
    Up,
    Veth,
    Vxlan,
)
from dataplane.topology.plan import Node, Plan, Pod

Step = tuple[str, Callable[[], None]]


def _batchable(links: Iterable[Link]) -> bool:
    """Whether every link is a plain request ``RtnlBatch`` sends (main-table unicast routes only)."""
    return all(isinstance(link, (Up, Address, Neighbour, NeighbourGone))
               or (isinstance(link, Route) and link.table is None and link.kind is None) for link in links)


def _send(cfg: NamespaceConfig | RtnlBatch, link: Link) -> None:
    match link:
        case Sysctl():
            cfg.sysctl(link.key, link.value)
        case Up():
            cfg.up(link.ifname)
        case Bridge():
            cfg.bridge(link.ifname)
        case Address():
            cfg.address(link.ifname, link.cidr)
        case Veth():
            cfg.veth(link.ifname, link.peer, link.peer_netns, mac=link.mac, peer_mac=link.peer_mac, mtu=link.mtu)
        case SetMaster():
            cfg.set_master(link.ifname, link.master)
        case Route():
            cfg.route(link.dst, via=link.via, dev=link.dev, onlink=link.onlink, scope_link=link.scope_link,
                      table=link.table, kind=link.kind, src=link.src)
        case PolicyRule():
            cfg.rule("add", table=link.table, priority=link.priority, fwmark=link.fwmark,
                     fwmask=link.fwmark, iifname=link.iif, suppress_prefixlength=link.suppress_prefixlength)
        case Neighbour():
            cfg.neighbour(link.ip, link.mac, link.dev)
        case NeighbourGone():
            cfg.forget_neighbour(link.ip, link.dev)
        case Fdb():
            cfg.fdb(link.mac, link.dst, link.dev)
        case Vxlan():
            cfg.vxlan(
                link.ifname, vni=link.vni, local=link.local, dev=link.dev, port=link.port, mac=link.mac, mtu=link.mtu
            )
        case _:
            assert_never(link)


def apply(requests: Iterable[Request]) -> None:
    """Send ``requests`` to the kernel in order; each ``Configure`` is one ``RtnlBatch`` when it holds only
    plain requests (links up, addresses, routes, ARP entries: one send, acks read together), else one
    ``NamespaceConfig`` (one thread inside the namespace, one pyroute2 handle)."""
    for request in requests:
        match request:
            case CreateNamespace():
                netns.create(request.netns)
            case Configure() if _batchable(request.links):
                with RtnlBatch(request.netns) as batch:
                    for link in request.links:
                        _send(batch, link)
            case Configure():
                with NamespaceConfig(request.netns) as cfg:
                    for link in request.links:
                        _send(cfg, link)
            case Ruleset():
                nft.apply(request.netns, request.text)
            case _:
                assert_never(request)


def build_router(plan: Plan) -> None:
    apply(wiring.router(plan))


def build_node(plan: Plan, node: Node) -> None:
    apply(wiring.node(plan, node))


def build_overlay(plan: Plan, node: Node) -> None:
    apply(wiring.overlay(plan, node))


def build_pod(plan: Plan, pod: Pod) -> None:
    """One pod's namespace and veth; a live change adds pods through it too."""
    apply(wiring.pod(plan, pod))


def build_external(plan: Plan) -> None:
    apply(wiring.external(plan))


def remove_pod_link(plan: Plan, pod: Pod) -> None:
    """Delete a pod's veth pair from its node's side (before its namespace
    goes), so a pod made next under the same name finds the name free."""
    node = plan.node(pod.node)
    if netns.exists(node.netns):
        with NamespaceConfig(node.netns) as host:
            host.delete_link(pod.host_iface)


def steps(plan: Plan) -> Iterator[Step]:
    """Every construction step in order, named for progress and errors.

    Each step needs only earlier ones: a node's veth joins the router's
    bridge, ``vxlan0`` rides on its node's ``eth0``, a pod's veth starts in
    its node's namespace and the load balancer's link ends on the router.
    """
    yield ("router", lambda: build_router(plan))
    for node in plan.nodes:
        yield (f"node {node.name}", lambda node=node: build_node(plan, node))  # type: ignore[misc]
    if plan.cni == "overlay":
        for node in plan.nodes:
            yield (f"overlay {node.name}", lambda node=node: build_overlay(plan, node))  # type: ignore[misc]
    for node in plan.nodes:
        on_node = plan.pods_on(node.name)
        if on_node:
            yield (f"pods on node {node.name} ({len(on_node)})",
                   lambda on_node=on_node: apply(wiring.pods(plan, on_node)))  # type: ignore[misc]
    if plan.cni == "vpc":
        yield ("fabric map (permanent ARP entries)", lambda: apply(wiring.fabric_map(plan, plan.pods)))
    if plan.external is not None:
        yield ("external client and load balancer", lambda: build_external(plan))
    for lb in plan.load_balancers:
        if lb.kind != "alb":
            continue  # an NLB node is addresses of the load balancer namespace (``external``)
        for lb_node in lb.nodes:
            yield (
                f"{lb.kind} {lb.name} in zone {lb_node.zone}",
                lambda lb_node=lb_node: apply(wiring.load_balancer_node(plan, lb_node)),  # type: ignore[misc]
            )
    network = network_wiring.requests(plan)
    if network:
        yield ("other VPCs, peering, transit gateways and the VPN", lambda: apply(network))
    egress = egress_wiring.requests(plan)
    if egress:
        yield ("route tables and gateways", lambda: apply(egress))
