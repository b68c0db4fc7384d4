"""Where a command acts: the one target grammar every command and the pytest plugin share.

    PLACE   NS/POD | node/NODE | external | lb     a namespace to run in or capture on
            | ec2/INSTANCE | onprem/SITE             another VPC's instance, the on-premises site
    KEY     NS/NAME                                 a pod or a controller, for live changes

Text is parsed into a typed target (syntax errors are ``InputError``, exit 2)
and resolved against a plan (a name the plan lacks is ``StateError``, exit 1,
naming what it has).  ``node/X`` is a node when the plan has one called X; a
Kubernetes namespace may also be called ``node``, so ``node/X`` is its pod X
when the plan has no such node but has pods in that namespace; ``ec2/X`` and
``onprem/X`` are read the same way (an instance or the site first).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import InputError, StateError
from .plan import Plan, Pod

OUTSIDE = ("external", "lb")  # the client outside the cluster, the cloud load balancer
_SHOWN = 8


@dataclass(frozen=True)
class PodTarget:
    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class NodeTarget:
    name: str


@dataclass(frozen=True)
class OutsideTarget:
    role: str  # "external" | "lb"


Place = PodTarget | NodeTarget | OutsideTarget


def parse_key(text: str, what: str = "name") -> tuple[str, str]:
    """``NS/NAME`` → (namespace, name)."""
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise InputError(f"{text!r}: expected NAMESPACE/{what.upper()}")
    return namespace, name


def parse_place(text: str) -> Place:
    if text in OUTSIDE:
        return OutsideTarget(text)
    kind, sep, name = text.partition("/")
    if not sep or not kind or not name or "/" in name:
        raise InputError(f"{text!r}: expected NAMESPACE/POD, node/NODE, ec2/INSTANCE, onprem/SITE, external or lb")
    return NodeTarget(name) if kind == "node" else PodTarget(kind, name)


def _located(plan: Plan, text: str) -> tuple[str, str]:
    """(network namespace, IPv4 address) of the place ``text`` names in ``plan``."""
    place = parse_place(text)
    if isinstance(place, OutsideTarget):
        if plan.external is None:
            raise StateError(f"{plan.name} has no outside world")
        if place.role == "external":
            return plan.external.client_netns, plan.external.client_ip
        return plan.external.lb_netns, plan.external.lb_ip
    if isinstance(place, NodeTarget):
        nodes = [n.name for n in plan.nodes]
        if place.name in nodes:
            node = plan.node(place.name)
            return node.netns, node.ip
        if not any(p.namespace == "node" for p in plan.pods):
            raise StateError(f"no node {place.name} in {plan.name} (nodes: {', '.join(nodes)})")
        place = PodTarget("node", place.name)
    network = _network_place(plan, place)
    if network is not None:
        return network
    pod = resolve_pod(plan, place.key)
    return pod.netns, pod.ip


def _network_place(plan: Plan, place: PodTarget) -> tuple[str, str] | None:
    """An instance's or the on-premises site's (namespace, address) for ``ec2/X`` or ``onprem/X``."""
    if place.namespace not in ("ec2", "onprem") or not plan.vpc_network:
        return None
    raw = plan.vpc_network
    if place.namespace == "ec2":
        found = [(i["netns"], i["ip"]) for v in raw["vpcs"] for i in v["instances"] if i["name"] == place.name]
        known = [i["name"] for v in raw["vpcs"] for i in v["instances"]]
    else:
        site = raw.get("onPremises") or {}
        hosts = site.get("hosts") or [{"ip": site.get("tunnel", [{}, {}])[1].get("ip")}]
        found = [(site["netns"], hosts[0]["ip"])] if site.get("name") == place.name else []
        known = [site["name"]] if site else []
    if found:
        return found[0]
    if any(p.namespace == place.namespace for p in plan.pods):
        return None  # a Kubernetes namespace of that name: the pod
    raise StateError(f"no {'instance' if place.namespace == 'ec2' else 'on-premises site'} {place.name} in "
                     f"{plan.name} (declared: {', '.join(known) or 'none'})")


def resolve_place(plan: Plan, text: str) -> str:
    """The network namespace ``text`` names in ``plan``."""
    return _located(plan, text)[0]


def resolve_address(plan: Plan, text: str) -> str:
    """The address of the place ``text`` names (the outside client's, the load
    balancer's public one, a node's, a pod's); an IPv4 address as it is."""
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return _located(plan, text)[1]


def resolve_pod(plan: Plan, text: str) -> Pod:
    """The pod ``NS/POD`` names in ``plan``."""
    namespace, name = parse_key(text, "pod")
    try:
        return plan.pod(namespace, name)
    except KeyError:
        pods = ", ".join(p.key for p in plan.pods[:_SHOWN])
        more = ", ..." if len(plan.pods) > _SHOWN else ""
        raise StateError(f"no pod {text} in {plan.name} (pods: {pods}{more})") from None
