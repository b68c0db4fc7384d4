"""Which listeners of a Gateway take a route, and the route's status conditions.

For each parentRef of a route (``RouteSet.parents``), as Gateway API says:
the listeners it names (``sectionName``, ``port``; neither: all), those that
take the route's kind (HTTPRoute on HTTP/HTTPS, TLSRoute on TLS), those
whose ``allowedRoutes.namespaces`` admit the route's namespace (``Same`` by
default, ``All``, or ``Selector`` on the namespace's labels), and those whose
hostname intersects the route's.  The first step that leaves no listener
is the reason ``Accepted`` is False (``NoMatchingParent``,
``NotAllowedByListeners``, ``NoMatchingListenerHostname``); the route is
Accepted when any listener takes it.  ``ResolvedRefs`` is False
(``BackendNotFound``) when a backend names a Service that does not exist:
requests routed there get 500, as Envoy answers a cluster with no
definition.  Everything is computed from the specs: the same answers at
``dpctl get`` and in the gateway proxy.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

from . import listeners as ls
from .listeners import Listener
from .model import GatewayRef, RouteSet


@dataclass(frozen=True)
class Condition:
    type: str  # Accepted | ResolvedRefs
    status: bool
    reason: str
    message: str = ""


@dataclass(frozen=True)
class ServedGateway:
    """A Gateway a dpctl-served class owns, with its checked listeners."""

    namespace: str
    name: str
    listeners: tuple[Listener, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Binding:
    """A route attached to one listener, for these hostnames."""

    gateway: str  # "<ns>/<name>"
    listener: str
    hostnames: tuple[str, ...]
    route: RouteSet


@dataclass(frozen=True)
class ParentStatus:
    route: RouteSet
    parent: GatewayRef
    accepted: Condition
    resolved: Condition
    bindings: tuple[Binding, ...] = ()


def _admits(listener: Listener, gateway: ServedGateway, namespace: str, labels: Mapping[str, str]) -> bool:
    if listener.allowed_from == "All":
        return True
    if listener.allowed_from == "Selector":
        return all(labels.get(k) == v for k, v in listener.allowed_selector)
    return namespace == gateway.namespace


def _resolved(route: RouteSet, services: Container[str]) -> Condition:
    missing = sorted({b.service for r in route.routes for b in r.backends if b.service not in services})
    if missing:
        return Condition("ResolvedRefs", False, "BackendNotFound", f"no Service {', '.join(missing)}")
    return Condition("ResolvedRefs", True, "ResolvedRefs")


def attach(
    route: RouteSet, parent: GatewayRef, gateway: ServedGateway | None,
    namespace_labels: Mapping[str, Mapping[str, str]], services: Container[str],
) -> ParentStatus:
    """What ``parent`` of ``route`` attaches to on ``gateway`` (None: no served Gateway of that name)."""
    resolved = _resolved(route, services)

    def refused(reason: str, message: str) -> ParentStatus:
        return ParentStatus(route, parent, Condition("Accepted", False, reason, message), resolved)

    if gateway is None:
        return refused("NoMatchingParent", f"no Gateway {parent.namespace}/{parent.name} of a class dpctl serves")
    named = [li for li in gateway.listeners
             if parent.section in (None, li.name) and parent.port in (None, li.port)]
    if not named:
        return refused("NoMatchingParent", "no listener has that sectionName and port")
    labels = namespace_labels.get(route.namespace, {})
    allowed = [li for li in named if route.kind in li.route_kinds and _admits(li, gateway, route.namespace, labels)]
    if not allowed:
        return refused("NotAllowedByListeners", f"no listener admits a {route.kind} from namespace {route.namespace}")
    bindings = tuple(
        Binding(gateway.key, li.name, hosts, route)
        for li in allowed if (hosts := ls.intersect(li.hostname, route.hostnames))
    )
    if not bindings:
        return refused("NoMatchingListenerHostname", "no listener hostname intersects the route's hostnames")
    return ParentStatus(route, parent, Condition("Accepted", True, "Accepted"), resolved, bindings)


def statuses(
    routes: Iterable[RouteSet], gateways: Mapping[str, ServedGateway],
    namespace_labels: Mapping[str, Mapping[str, str]], services: Container[str],
) -> tuple[ParentStatus, ...]:
    """Every Gateway parentRef of every route, in route order."""
    return tuple(
        attach(route, parent, gateways.get(f"{parent.namespace}/{parent.name}"), namespace_labels, services)
        for route in sorted(routes, key=lambda r: (r.order, r.namespace, r.name)) for parent in route.parents
    )


def bindings(statuses: Iterable[ParentStatus], gateway: str) -> dict[str, tuple[Binding, ...]]:
    """The routes attached to each listener of ``gateway`` (by listener name), oldest route first."""
    out: dict[str, list[Binding]] = {}
    for status in statuses:
        for binding in status.bindings:
            if binding.gateway == gateway:
                out.setdefault(binding.listener, []).append(binding)
    return {name: tuple(found) for name, found in out.items()}
