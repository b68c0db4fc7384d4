"""GRPCRoute (Gateway API v1) -> the HTTPRoute shape, then HTTPRoute's translation.

A gRPC call is an HTTP/2 POST to ``/<service>/<method>``, so a GRPCRoute is
an HTTPRoute whose path matches come from ``method`` matches, as Istio
converts it (``pilot/pkg/config/kube/gateway/conversion.go``): ``Exact`` with
service and method is the exact path ``/service/method``, service alone the
prefix ``/service/``, method alone the expression ``/[^/]+/method``;
``RegularExpression`` puts either part (or ``[^/]+`` for a missing one) into
``/(service)/(method)``.  Header matches, header modifiers, mirrors and
weighted backends are HTTPRoute's; a GRPCRoute has no redirect, rewrite,
timeouts or retry (the schema refuses them).  The routes carry the kind
``GRPCRoute`` and sit in the same tables as HTTPRoutes, on the same
listeners and Service parents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import gateway, regex
from .model import Attachment, Report, RouteSet
from .values import DEFAULT_DOMAIN

KIND = "GRPCRoute"
_ANY_PART = "[^/]+"


def translate(
    namespace: str, name: str, order: int, spec: Mapping[str, Any], report: Report, warn: Report,
    domain: str = DEFAULT_DOMAIN,
) -> tuple[Attachment, ...]:
    """The routes a GRPCRoute gives the Services it names (GAMMA, at waypoints)."""
    shaped = http_shape(spec, report)
    return gateway.translate(namespace, name, order, shaped, report, warn, domain, KIND) if shaped else ()


def north_south(
    namespace: str, name: str, order: int, spec: Mapping[str, Any], report: Report, warn: Report,
    domain: str = DEFAULT_DOMAIN,
) -> RouteSet | None:
    """The routes a GRPCRoute gives the Gateways it names."""
    shaped = http_shape(spec, report)
    return gateway.north_south(namespace, name, order, shaped, report, warn, domain, KIND) if shaped else None


def http_shape(spec: Mapping[str, Any], report: Report) -> dict[str, Any] | None:
    """``spec`` as the HTTPRoute it means; None when a match was reported wrong."""
    problems = 0

    def counted(path: str, message: str) -> None:
        nonlocal problems
        problems += 1
        report(path, message)

    rules = []
    for r, rule in enumerate(spec.get("rules", [{}])):
        matches = [_match(f"spec.rules[{r}].matches[{m}]", match, counted)
                   for m, match in enumerate(rule.get("matches", [{}]))]
        rules.append({**{k: v for k, v in rule.items() if k not in ("matches", "name")}, "matches": matches})
    if problems:
        return None
    return {**spec, "rules": rules}


def _match(where: str, spec: Mapping[str, Any], report: Report) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    if "headers" in spec:
        shaped["headers"] = spec["headers"]
    method = spec.get("method")
    if method is None:
        return shaped  # every call: the default PathPrefix "/"
    service, name = method.get("service"), method.get("method")
    if method.get("type", "Exact") == "RegularExpression":
        for part, value in (("service", service), ("method", name)):
            if value is not None and (why := regex.check(value)):
                report(f"{where}.method.{part}", why)
        shaped["path"] = {"type": "RegularExpression", "value": f"/{service or _ANY_PART}/{name or _ANY_PART}"}
        return shaped
    if service is None and name is None:
        report(f"{where}.method", "an Exact method match needs a service or a method (or both)")
        return shaped
    for part, value in (("service", service), ("method", name)):
        if value is not None and "/" in value:
            report(f"{where}.method.{part}", f"{value!r} must not contain '/'")
    if service is not None and name is not None:
        shaped["path"] = {"type": "Exact", "value": f"/{service}/{name}"}
    elif service is not None:
        shaped["path"] = {"type": "PathPrefix", "value": f"/{service}"}
    else:
        shaped["path"] = {"type": "RegularExpression", "value": f"/{_ANY_PART}/{re.escape(name)}"}
    return shaped
