"""AWS Gateways: Gateway API on the AWS Load Balancer Controller, as ALBs (``aws-edge.md`` §2.1).

A Gateway whose GatewayClass has ``controllerName: gateway.k8s.aws/alb``
becomes one ALB, built into the same model as an Ingress group's
(``edge.albmodel``) so that placement, serving, health checks, ExternalDNS,
``verify`` and ``trace`` treat both alike.  What the controller does, with
the limits its L7 guide lists:

* HTTP and HTTPS listeners, one ALB listener per port; HTTPRoutes attach by
  ``parentRefs``, ``allowedRoutes`` and hostname intersection
  (``l7.routing.attach``), and their rules become listener rules in Gateway
  API precedence: the more specific host first, then
  ``l7.routing.table.precedence`` (Exact path, longest prefix, method,
  headers, query);
* a match becomes ELBv2 conditions: path Exact ``/p``, PathPrefix ``/p`` as
  ``/p`` and ``/p/*``, method, Exact headers and query parameters;
  RegularExpression matches are not supported (the rule is left out, with a
  warning);
* weighted ``backendRefs`` become a weighted forward; ``RequestRedirect``
  the ALB's redirect (scheme and port); a rule without backends a fixed 500;
  header modifiers, rewrites, mirrors, timeouts and retries are not
  supported (warned, ignored);
* ``tls.certificateRefs`` are not supported: an HTTPS listener takes the
  certificates of a LoadBalancerConfiguration's ``listenerConfigurations``
  entry for ``HTTPS:<port>`` (``defaultCertificate`` first), else ACM
  discovery by its routes' hostnames;
* the LoadBalancerConfiguration named by the Gateway's
  ``infrastructure.parametersRef`` (or its class's ``parametersRef``) sets
  the scheme, ``internal`` by default; a TargetGroupConfiguration naming a
  Service sets its target type, ``instance`` by default;
* the listeners' default is a fixed 404.

GRPCRoutes on an ALB and the NLB class (``gateway.k8s.aws/nlb``: TCPRoute,
UDPRoute, TLSRoute) are read and reported as not emulated yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..edge.albmodel import (
    DEFAULT_SSL_POLICY,
    Alb,
    Condition,
    FixedResponse,
    Forward,
    Listener,
    Redirect,
    Report,
    Rule,
    TargetGroup,
)
from ..l7.routing import attach, gateway, listeners
from ..l7.routing.attach import ServedGateway
from ..l7.routing.model import Route, RouteSet
from ..l7.routing.table import precedence

ALB_GATEWAY_CONTROLLER = "gateway.k8s.aws/alb"
NLB_GATEWAY_CONTROLLER = "gateway.k8s.aws/nlb"
NAME_PREFIX = "gateway:"


class Traffic(Protocol):
    """What the ALB builders read of a plan's (or a manifest's) traffic objects."""

    kind: str
    namespace: str
    name: str
    order: int
    spec: dict[str, Any]


def controller_of(traffic: Sequence[Traffic], gateway_spec: Mapping[str, Any]) -> str | None:
    """The controllerName of the Gateway's class, if the file declares that GatewayClass."""
    name = gateway_spec.get("gatewayClassName")
    return next((str(t.spec.get("controllerName")) for t in traffic if t.kind == "GatewayClass" and t.name == name),
                None)


def gateway_albs(
    traffic: Sequence[Traffic], report: Report, warn: Report,
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None, domain: str = "cluster.local",
) -> tuple[Alb, ...]:
    """The ALBs of the Gateways of an ALB-controller class among ``traffic``."""
    labels = namespace_labels or {}
    routes = _routes(traffic, warn, domain)
    albs = []
    for t in traffic:
        if t.kind != "Gateway":
            continue
        controller = controller_of(traffic, t.spec)
        where = f"Gateway {t.namespace}/{t.name}"
        if controller == NLB_GATEWAY_CONTROLLER:
            warn(where, "an NLB Gateway (gateway.k8s.aws/nlb) is not emulated yet: no load balancer is built")
        elif controller == ALB_GATEWAY_CONTROLLER:
            albs.append(_Builder(traffic, t, routes, labels, report, warn).build())
    return tuple(albs)


def _routes(traffic: Sequence[Traffic], warn: Report, domain: str) -> list[RouteSet]:
    """The HTTPRoutes naming Gateways, translated; a GRPCRoute naming an ALB Gateway is warned."""
    found = []
    for t in traffic:
        refs = gateway.gateway_refs(t.namespace, t.spec) if t.kind in ("HTTPRoute", "GRPCRoute") else ()
        if t.kind == "GRPCRoute" and any(_is_alb_gateway(traffic, r.namespace, r.name) for r in refs):
            warn(f"GRPCRoute {t.namespace}/{t.name}", "GRPCRoutes on an ALB Gateway are not emulated yet")
        elif t.kind == "HTTPRoute" and refs:
            route = gateway.north_south(t.namespace, t.name, t.order, t.spec, _quiet, _quiet, domain)
            if route is not None:
                found.append(route)
    return found


def _is_alb_gateway(traffic: Sequence[Traffic], namespace: str, name: str) -> bool:
    return any(t.kind == "Gateway" and (t.namespace, t.name) == (namespace, name)
               and controller_of(traffic, t.spec) == ALB_GATEWAY_CONTROLLER for t in traffic)


def _quiet(path: str, message: str) -> None:
    """The route's own problems were reported when it was read."""


class _Builder:
    def __init__(
        self, traffic: Sequence[Traffic], gw: Traffic, routes: list[RouteSet],
        labels: Mapping[str, Mapping[str, str]], report: Report, warn: Report,
    ) -> None:
        self.traffic, self.gw, self.routes, self.labels = traffic, gw, routes, labels
        self.where = f"Gateway {gw.namespace}/{gw.name}"
        self.report = lambda path, message: report(f"{self.where}: {path}", message)
        self.warn = lambda path, message: warn(f"{self.where}: {path}", message)
        self.config = self._configuration()

    def build(self) -> Alb:
        served = ServedGateway(self.gw.namespace, self.gw.name, self._listeners())
        bindings = [
            binding
            for route in self.routes
            for parent in route.parents if (parent.namespace, parent.name) == (self.gw.namespace, self.gw.name)
            for binding in attach.attach(route, parent, served, self.labels, frozenset()).bindings
        ]
        by_name = {li.name: li for li in served.listeners}
        hostnames: dict[str, None] = {}
        albs_listeners = []
        for port in sorted({li.port for li in served.listeners}):
            on_port = [b for b in bindings if by_name[b.listener].port == port]
            for b in on_port:
                hostnames.update((h, None) for h in b.hostnames if "*" not in h)
            protocol = next(li.protocol for li in served.listeners if li.port == port)
            albs_listeners.append(self._listener(protocol, port, on_port))
        scheme = str(self.config.get("scheme", "internal"))
        return Alb(f"{NAME_PREFIX}{self.gw.namespace}/{self.gw.name}", (), scheme, tuple(albs_listeners),
                   tuple(hostnames))

    def _configuration(self) -> Mapping[str, Any]:
        """The LoadBalancerConfiguration in force: the Gateway's, else its class's."""
        ref = self.gw.spec.get("infrastructure", {}).get("parametersRef")
        namespace = self.gw.namespace
        if ref is None:
            klass = next((t for t in self.traffic if t.kind == "GatewayClass"
                          and t.name == self.gw.spec.get("gatewayClassName")), None)
            ref = klass.spec.get("parametersRef") if klass is not None else None
            namespace = ref.get("namespace", namespace) if ref else namespace
        if ref is None:
            return {}
        if ref.get("kind") != "LoadBalancerConfiguration":
            self.warn("spec.infrastructure.parametersRef", f"kind {ref.get('kind')!r}: only LoadBalancerConfiguration "
                      "configures an ALB Gateway")
            return {}
        found = next((t.spec for t in self.traffic if t.kind == "LoadBalancerConfiguration"
                      and (t.namespace, t.name) == (namespace, ref["name"])), None)
        if found is None:
            self.warn("spec.infrastructure.parametersRef",
                      f"no LoadBalancerConfiguration {namespace}/{ref['name']}: the defaults apply")
            return {}
        return found

    def _listeners(self) -> tuple[listeners.Listener, ...]:
        kept = []
        for i, raw in enumerate(self.gw.spec.get("listeners", [])):
            at = f"spec.listeners[{i}]"
            if raw.get("protocol") not in ("HTTP", "HTTPS"):
                self.warn(f"{at}.protocol", f"{raw.get('protocol')}: an ALB Gateway serves HTTP and HTTPS listeners")
                continue
            if raw.get("tls", {}).get("certificateRefs"):
                self.warn(f"{at}.tls.certificateRefs", "not supported by the AWS Load Balancer Controller: "
                          "certificates come from a LoadBalancerConfiguration or ACM discovery by hostname")
            kept.append(raw)
        return listeners.parse(self.gw.namespace, {"listeners": kept}, self.report, self.warn,
                               certificates_required=False)

    def _listener(self, protocol: str, port: int, bindings: list[attach.Binding]) -> Listener:
        ranked: list[tuple[int, tuple[int, int, bool, int, int], int, Rule]] = []
        for binding in bindings:
            hosts = tuple(h for h in binding.hostnames if h != "*")
            for route in binding.route.routes:
                rule = self._rule(binding.route, route, hosts)
                if rule is not None:  # sorted is stable, and the seq keeps route age order on ties
                    ranked.append((_host_rank(hosts), precedence(route), len(ranked), rule))
        rules = tuple(rule for *_, rule in sorted(ranked, key=lambda r: r[:3]))
        if protocol == "HTTP":
            return Listener("HTTP", port, rules, FixedResponse())
        certificates, policy = self._certificates(port)
        discover = () if certificates else tuple(dict.fromkeys(h for b in bindings for h in b.hostnames if h != "*"))
        return Listener("HTTPS", port, rules, FixedResponse(), certificates, policy, discover)

    def _certificates(self, port: int) -> tuple[tuple[str, ...], str]:
        for entry in self.config.get("listenerConfigurations", []):
            if entry.get("protocolPort") == f"HTTPS:{port}":
                arns = [entry["defaultCertificate"]] if "defaultCertificate" in entry else []
                arns += [a for a in entry.get("certificates", []) if a not in arns]
                return tuple(arns), str(entry.get("sslPolicy", DEFAULT_SSL_POLICY))
        return (), DEFAULT_SSL_POLICY

    def _rule(self, routes: RouteSet, route: Route, hosts: tuple[str, ...]) -> Rule | None:
        source = route.origin.removeprefix("HTTPRoute ")
        where = f"HTTPRoute {routes.namespace}/{routes.name}"
        match = route.match
        paths: tuple[str, ...] = ()
        if match.path is not None:
            if match.path.kind == "RegularExpression":
                self.warn(where, f"{source}: a RegularExpression path match is not supported on an ALB (rule left out)")
                return None
            value = match.path.value
            paths = (value,) if match.path.kind == "Exact" else (() if value == "/" else (value, f"{value}/*"))
        conditions = [Condition("http-request-method", "", (match.method,))] if match.method else []
        for kind, values in (("http-header", match.headers), ("query-string", match.query)):
            for value in values:
                if value.kind != "Exact":
                    self.warn(where, f"{source}: a {value.kind} {kind} match is not supported on an ALB (rule left out)")
                    return None
                conditions.append(Condition(kind, value.name, (value.value,)))
        self._warn_ignored(where, source, route)
        return Rule(hosts, paths, self._action(route), f"{routes.namespace}/{routes.name} {source}", tuple(conditions))

    def _warn_ignored(self, where: str, source: str, route: Route) -> None:
        ignored = [name for name, present in (
            ("header modifiers", bool(route.request_headers.set or route.request_headers.add
                                      or route.request_headers.remove or route.response_headers.set
                                      or route.response_headers.add or route.response_headers.remove)),
            ("URL rewrite", route.rewrite is not None), ("mirrors", bool(route.mirrors)),
        ) if present]
        if ignored:
            self.warn(where, f"{source}: {', '.join(ignored)} are not supported on an ALB Gateway (ignored)")

    def _action(self, route: Route) -> Forward | Redirect | FixedResponse:
        if route.redirect is not None:
            scheme = (route.redirect.scheme or "http").upper()
            port = route.redirect.port or (443 if scheme == "HTTPS" else 80)
            return Redirect(scheme, str(port), route.redirect.status)
        groups = tuple((self._target_group(b.service, b.port), b.weight) for b in route.backends if b.port)
        if not groups:
            return FixedResponse(500)
        return Forward(groups[0][0], groups if len(groups) > 1 else ())

    def _target_group(self, fqdn: str, port: int | None) -> TargetGroup:
        name, namespace = fqdn.split(".")[:2]
        config = next((t.spec for t in self.traffic if t.kind == "TargetGroupConfiguration"
                       and t.namespace == namespace and t.spec.get("targetReference", {}).get("name") == name), {})
        target_type = str(config.get("defaultConfiguration", {}).get("targetType", "instance"))
        return TargetGroup(namespace, name, port or 80, target_type)


def _host_rank(hosts: tuple[str, ...]) -> int:
    """Gateway API host precedence: an exact host, then a wildcard, then any host."""
    if not hosts:
        return 2
    return 1 if all(h.startswith("*") for h in hosts) else 0

