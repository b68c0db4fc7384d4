"""TLSRoute (Gateway API v1) -> a RouteSet: SNI hostnames to weighted backends.

A TLSRoute attaches to a Gateway's ``TLS`` listeners in ``Passthrough``
mode: the gateway reads only the ClientHello's SNI, picks the route whose
hostnames match it, and splices the untouched bytes to one backend
endpoint.  Each rule becomes one route with no match (a TLSRoute rule has
none); the first rule with a backend serves, as Istio emits one TCP route
per rule and Envoy takes the first.  Zero-weight backends are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .gateway import MAX_WEIGHT, gateway_refs
from .gateway_filters import Context, service_ref
from .model import Backend, Report, Route, RouteSet
from .values import DEFAULT_DOMAIN, Tally


def translate(
    namespace: str, name: str, order: int, spec: Mapping[str, Any], report: Report, warn: Report,
    domain: str = DEFAULT_DOMAIN,
) -> RouteSet | None:
    """The TLSRoute's routes for its Gateways; None when a problem was reported."""
    tally = Tally(report)
    ctx = Context(namespace, domain, tally, warn)
    refs = gateway_refs(namespace, spec)
    if len(refs) != len(spec.get("parentRefs", [])):
        warn("spec.parentRefs", "only Gateway parents are served for a TLSRoute: the others are not in force")
    routes: list[Route] = []
    for r, rule in enumerate(spec.get("rules", [])):
        backends = []
        for b, ref in enumerate(rule.get("backendRefs", [])):
            at = f"spec.rules[{r}].backendRefs[{b}]"
            weight = ref.get("weight", 1)
            if not 0 <= weight <= MAX_WEIGHT:
                report(f"{at}.weight", f"must be within 0-{MAX_WEIGHT:,}; got {weight}")
            target = service_ref(at, ref, ctx)
            if target is not None and weight > 0:
                backends.append(Backend(target[0], target[1], weight))
        routes.append(Route(origin=f"TLSRoute {namespace}/{name} rule {r}", backends=tuple(backends)))
    if not routes:
        report("spec.rules", "a TLSRoute needs at least one rule")
    if tally.count:
        return None
    return RouteSet("TLSRoute", namespace, name, order, tuple(spec.get("hostnames", ())), refs, tuple(routes))
