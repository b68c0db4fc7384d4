"""The route table of one Service port, and the choice of a route.

Built from every Attachment; only routes from the Service's own namespace or
the waypoint's count (consumer routes are ignored by waypoints).  HTTPRoute
routes are ordered by Gateway API precedence as Istio sorts them: Exact >
PathPrefix > RegularExpression, then the longer value, then having a
method, more header matches, more query matches; ties go to the oldest
route, then namespace and name, then rule and match order.  A
VirtualService's routes keep document order (the first match wins).
Mixing both APIs on one Service is undefined in Istio; dpctl uses the
HTTPRoutes and says so in ``ignored``.

With no route attached, the table holds the waypoint's inbound default
(forward to the Service itself; 2 retries on reset-before-request, none for
gRPC; no timeout), so ``select`` answers None only when routes are attached
and none matched: GAMMA's 404 ``NR``.

A north-south Gateway listener's table (``HostTable``) is grouped by
hostname first, as Envoy's virtual hosts are: the request's host picks the
most specific hostname the attached routes serve (exact, then the longest
wildcard, then ``*``), and that hostname's routes, in the same Gateway API
precedence, pick the route; no hostname or no route is a 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from . import listeners
from .matching import matches
from .model import Attachment, Backend, Request, Route, RouteSet
from .retry import inbound_default
from .values import host_matches, namespace_of

PATH_RANK = {"Exact": 3, "PathPrefix": 2, "RegularExpression": 1}


@dataclass(frozen=True)
class RouteTable:
    service: str
    port: int
    routes: tuple[Route, ...]
    attached: bool  # False: ``routes`` is the inbound default alone
    ignored: tuple[str, ...] = ()  # attachments left out, and why

    def select(self, request: Request) -> Route | None:
        """The first route whose match holds, None for GAMMA's 404."""
        return next((route for route in self.routes if matches(route.match, request)), None)


def default_route(service: str, port: int, grpc: bool = False) -> Route:
    return Route(
        origin=f"default route of {service}:{port} (no route attached)",
        backends=(Backend(service, port),),
        retry=inbound_default(grpc),
    )


def precedence(route: Route) -> tuple[int, int, bool, int, int]:
    """Sort key of an HTTPRoute route (smaller first), Istio's sortHTTPRoutes."""
    match = route.match
    rank = PATH_RANK.get(match.path.kind, -1) if match.path else -1
    length = len(match.path.value) if match.path else 0
    return -rank, -length, match.method is None, -len(match.headers), -len(match.query)


def _describe(attachment: Attachment) -> str:
    return f"{attachment.kind} {attachment.namespace}/{attachment.name}"


def build(
    service: str, port: int, attachments: Iterable[Attachment], waypoint_namespace: str | None = None,
    grpc: bool = False,
) -> RouteTable:
    """The table of ``service`` (FQDN) on ``port`` from all attachments."""
    home = {namespace_of(service), waypoint_namespace}
    ignored: list[str] = []
    usable: dict[tuple[str, str, str], Attachment] = {}
    for attachment in sorted(attachments, key=lambda a: (a.order, a.namespace, a.name)):
        if not host_matches(attachment.host, service) or attachment.port not in (None, port):
            continue
        if attachment.namespace not in home:
            ignored.append(f"{_describe(attachment)}: from namespace {attachment.namespace}, neither the Service's "
                           "nor the waypoint's (consumer routes are ignored by waypoints)")
            continue
        usable.setdefault((attachment.kind, attachment.namespace, attachment.name), attachment)
    http = [a for a in usable.values() if a.kind in ("HTTPRoute", "GRPCRoute")]  # one table, as Istio merges them
    virtual = [a for a in usable.values() if a.kind == "VirtualService"]
    if http:
        ignored += [f"{_describe(a)}: HTTPRoutes are attached too (mixing them is undefined in Istio; dpctl uses "
                    "the HTTPRoutes)" for a in virtual]
        routes = sorted((route for a in http for route in a.routes), key=precedence)  # stable: ties keep age order
    elif virtual:
        virtual.sort(key=lambda a: (a.host != service, a.order))  # a host named exactly beats a wildcard
        ignored += [f"{_describe(a)}: {_describe(virtual[0])} is older and serves this host" for a in virtual[1:]]
        routes = [route for route in virtual[0].routes if route.match.port in (None, port)]
    else:
        routes = []
    if not routes:
        return RouteTable(service, port, (default_route(service, port, grpc),), False, tuple(ignored))
    return RouteTable(service, port, tuple(routes), True, tuple(ignored))


@dataclass(frozen=True)
class HostTable:
    """One Gateway listener's routes, by the hostnames they serve there."""

    hosts: tuple[tuple[str, tuple[Route, ...]], ...]

    def select(self, request: Request) -> Route | None:
        """The route for ``request``'s host and match, None for a 404."""
        host = listeners.host_of(request.authority)
        chosen = listeners.best((name for name, _ in self.hosts), host)
        routes = next((routes for name, routes in self.hosts if name == chosen), ())
        return next((route for route in routes if matches(route.match, request)), None)


def build_hosts(attached: Iterable[tuple[RouteSet, tuple[str, ...]]]) -> HostTable:
    """A listener's table from the routes attached to it, each with the
    hostnames it serves there (``attach.bindings``)."""
    by_host: dict[str, list[Route]] = {}
    for route, hostnames in sorted(attached, key=lambda a: (a[0].order, a[0].namespace, a[0].name)):
        for host in hostnames:
            by_host.setdefault(host, []).extend(route.routes)
    return HostTable(tuple((host, tuple(sorted(routes, key=precedence))) for host, routes in by_host.items()))
