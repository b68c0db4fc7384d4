"""HTTPRoute (Gateway API v1) attached to Services (GAMMA) -> Attachments,
and attached to Gateways (north-south) -> a RouteSet.

Istio's translation (``pilot/pkg/config/kube/gateway/conversion.go``) is
followed where the API leaves room: one route per match, zero-weight
backends dropped and a rule whose weights sum to 0 (or with no backends)
answered 500, PathPrefix values without their trailing "/", a ``retry``
stanza turned into retryOn ``connect-failure,refused-stream,unavailable,
cancelled`` plus its codes (attempts default 2, 0 = none), and
``timeouts.backendRequest`` a per-try timeout when ``retry`` is set, else
the route timeout.  The values the API server would default are defaulted
here (rules, matches, path, statusCode, weight), since specs arrive as
written.  Precedence across routes is decided when a table is built
(``table.py``), which needs every route attached to a Service port (or, for
Gateway parents, to a listener: ``attach.py`` decides which).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import regex
from .gateway_filters import Context, Filters, filters, header_name, service_ref
from .model import (
    BACKOFF_BASE,
    Attachment,
    Backend,
    DirectResponse,
    GatewayRef,
    Match,
    PathMatch,
    Report,
    RetryPolicy,
    Route,
    RouteSet,
    ValueMatch,
)
from .retry import route_default
from .values import DEFAULT_DOMAIN, Tally, gateway_duration, service_fqdn

GATEWAY_GROUP = "gateway.networking.k8s.io"
RETRY_ON = ("connect-failure", "refused-stream", "unavailable", "cancelled")
PATH_FORBIDDEN = ("//", "/./", "/../", "%2f", "%2F", "#")
MAX_WEIGHT = 1_000_000
DEFAULT_RULES: list[dict[str, Any]] = [{}]  # the API server's default: one rule matching PathPrefix "/"


def translate(
    namespace: str, name: str, order: int, spec: Mapping[str, Any], report: Report, warn: Report,
    domain: str = DEFAULT_DOMAIN, kind: str = "HTTPRoute",
) -> tuple[Attachment, ...]:
    """The routes an HTTPRoute (or a GRPCRoute in its shape: ``grpcroute``)
    gives each Service (and port) it is attached to; nothing when a problem
    was reported (the route would be rejected)."""
    tally = Tally(report)
    ctx = Context(namespace, domain, tally, warn)
    parents = _parents(spec.get("parentRefs", []), ctx)
    if "hostnames" in spec and parents:
        warn("spec.hostnames", "ignored: a route attached to a Service serves that Service whatever the host")
    routes = _routes(kind, namespace, name, spec, ctx)
    if tally.count:
        return ()
    return tuple(Attachment(kind, namespace, name, order, host, port, routes) for host, port in parents)


def north_south(
    namespace: str, name: str, order: int, spec: Mapping[str, Any], report: Report, warn: Report,
    domain: str = DEFAULT_DOMAIN, kind: str = "HTTPRoute",
) -> RouteSet | None:
    """The routes an HTTPRoute gives the Gateways it names; None when it names
    none or a problem was reported (``translate`` reported it already)."""
    tally = Tally(report)
    ctx = Context(namespace, domain, tally, warn)
    refs = gateway_refs(namespace, spec)
    routes = _routes(kind, namespace, name, spec, ctx) if refs else ()
    if tally.count or not refs:
        return None
    return RouteSet(kind, namespace, name, order, tuple(spec.get("hostnames", ())), refs, routes)


def gateway_refs(namespace: str, spec: Mapping[str, Any]) -> tuple[GatewayRef, ...]:
    """The route's parentRefs that name Gateways (the default kind), deduplicated."""
    out: list[GatewayRef] = []
    for ref in spec.get("parentRefs", []):
        if (ref.get("group", GATEWAY_GROUP), ref.get("kind", "Gateway")) != (GATEWAY_GROUP, "Gateway"):
            continue
        parent = GatewayRef(ref.get("namespace", namespace), ref["name"], ref.get("sectionName"), ref.get("port"))
        if parent not in out:
            out.append(parent)
    return tuple(out)


def _routes(kind: str, namespace: str, name: str, spec: Mapping[str, Any], ctx: Context) -> tuple[Route, ...]:
    key = f"{kind} {namespace}/{name}"
    return tuple(
        route for r, rule in enumerate(spec.get("rules", DEFAULT_RULES)) for route in _rule(key, r, rule, ctx)
    )


def _parents(refs: Sequence[Mapping[str, Any]], ctx: Context) -> list[tuple[str, int | None]]:
    """The Service parents (GAMMA); Gateway parents are ``north_south``'s."""
    if not refs:
        ctx.warn("spec.parentRefs", "no parentRefs: the route is attached to nothing")
    out: list[tuple[str, int | None]] = []
    for i, ref in enumerate(refs):
        at = f"spec.parentRefs[{i}]"
        group, kind = ref.get("group", GATEWAY_GROUP), ref.get("kind", "Gateway")
        if (group, kind) == (GATEWAY_GROUP, "Gateway"):
            continue
        if kind != "Service":
            ctx.warn(at, f"{kind} {ref['name']!r} is not a parent dpctl serves (it takes Services and Gateways): "
                     "this parentRef is not in force")
            continue
        if group != "":
            ctx.warn(f"{at}.group", f"a Service parent needs group \"\" (unset means {GATEWAY_GROUP}): "
                     "this parentRef attaches to nothing")
            continue
        if "sectionName" in ref:
            ctx.warn(f"{at}.sectionName", "ignored on a Service parent, as Istio does: use port")
        parent = (service_fqdn(ref["name"], ref.get("namespace", ctx.namespace), ctx.domain), ref.get("port"))
        if parent not in out:
            out.append(parent)
    return out


def _rule(key: str, r: int, rule: Mapping[str, Any], ctx: Context) -> list[Route]:
    where = f"spec.rules[{r}]"
    found = filters(f"{where}.filters", rule.get("filters", []), ctx)
    backends = _backends(where, rule.get("backendRefs", []), ctx)
    if found.redirect is not None and rule.get("backendRefs"):
        ctx.report(f"{where}.backendRefs", "a rule with a RequestRedirect answers itself: it cannot have backendRefs")
    specs = rule.get("matches", DEFAULT_RULES)
    matches = [_match(f"{where}.matches[{m}]", spec, ctx) for m, spec in enumerate(specs)] or [Match()]
    _check_prefix_replacement(where, found, matches, ctx)
    retry, timeout = _timing(where, rule, ctx)
    direct = None if backends or found.redirect else DirectResponse(500)
    return [
        Route(
            origin=f"{key} rule {r} match {m}", match=match, backends=backends, redirect=found.redirect,
            direct_response=direct, request_headers=found.request_headers, response_headers=found.response_headers,
            rewrite=found.rewrite, mirrors=found.mirrors, timeout=timeout, retry=retry,
        )
        for m, match in enumerate(matches)
    ]


def _check_path(where: str, value: str, ctx: Context) -> None:
    if not value.startswith("/"):
        ctx.report(where, f"{value!r} must be an absolute path (start with /)")
    bad = [piece for piece in PATH_FORBIDDEN if piece in value]
    if bad or value.endswith(("/..", "/.")):
        ctx.report(where, f"{value!r} must not contain {', '.join(bad) or 'a trailing /. or /..'}")


def _match(where: str, spec: Mapping[str, Any], ctx: Context) -> Match:
    path = spec.get("path", {})
    kind, value = path.get("type", "PathPrefix"), path.get("value", "/")
    if kind == "RegularExpression":
        if why := regex.check(value):
            ctx.report(f"{where}.path.value", why)
    else:
        _check_path(f"{where}.path.value", value, ctx)
        if kind == "PathPrefix" and value != "/" and value.endswith("/"):
            value = value[:-1]  # "a trailing / is ignored"
    headers = _value_matches(f"{where}.headers", spec.get("headers", []), ctx, header_names=True)
    query = _value_matches(f"{where}.queryParams", spec.get("queryParams", []), ctx, header_names=False)
    return Match(PathMatch(kind, value), spec.get("method"), headers, query)


def _value_matches(
    where: str, specs: Sequence[Mapping[str, Any]], ctx: Context, header_names: bool
) -> tuple[ValueMatch, ...]:
    """Header names are case-insensitive (kept lower case), query names are
    not; "subsequent entries with an equivalent name MUST be ignored"."""
    out: dict[str, ValueMatch] = {}
    for i, spec in enumerate(specs):
        at = f"{where}[{i}]"
        name = header_name(f"{at}.name", spec["name"], ctx) if header_names else spec["name"]
        kind = spec.get("type", "Exact")
        if kind == "RegularExpression" and (why := regex.check(spec["value"])):
            ctx.report(f"{at}.value", why)
        if name in out:
            ctx.warn(f"{at}.name", f"{name!r} is matched twice: only its first entry counts")
            continue
        out[name] = ValueMatch(name, kind, spec["value"])
    return tuple(out.values())


def _backends(where: str, refs: Sequence[Mapping[str, Any]], ctx: Context) -> tuple[Backend, ...]:
    out: list[Backend] = []
    for b, ref in enumerate(refs):
        at = f"{where}.backendRefs[{b}]"
        weight = ref.get("weight", 1)
        if not 0 <= weight <= MAX_WEIGHT:
            ctx.report(f"{at}.weight", f"must be within 0-{MAX_WEIGHT:,}; got {weight}")
        own = filters(f"{at}.filters", ref.get("filters", []), ctx, on_backend=True)
        target = service_ref(at, ref, ctx)
        if target is not None and weight > 0:
            out.append(Backend(target[0], target[1], weight, None, own.request_headers, own.response_headers))
    return tuple(out)


def _check_prefix_replacement(where: str, found: Filters, matches: list[Match], ctx: Context) -> None:
    """ReplacePrefixMatch needs to know the prefix: the API server allows it
    only on a rule with exactly one PathPrefix match."""
    modifiers = [x.path for x in (found.redirect, found.rewrite) if x is not None and x.path is not None]
    if any(m.kind == "ReplacePrefixMatch" for m in modifiers) and not (
        len(matches) == 1 and matches[0].path is not None and matches[0].path.kind == "PathPrefix"
    ):
        ctx.report(f"{where}.filters", "ReplacePrefixMatch needs a rule with exactly one PathPrefix match")


def _duration(where: str, text: str, ctx: Context) -> float:
    try:
        return gateway_duration(text)
    except ValueError as error:
        ctx.report(where, str(error))
        return 0.0


def _timing(where: str, rule: Mapping[str, Any], ctx: Context) -> tuple[RetryPolicy | None, float | None]:
    retry: RetryPolicy | None = route_default()
    spec = rule.get("retry")
    if spec is not None:
        attempts, codes = spec.get("attempts", 2), tuple(spec.get("codes", []))
        if attempts < 0:
            ctx.report(f"{where}.retry.attempts", f"must be 0 or more; got {attempts}")
        for i, code in enumerate(codes):
            if not 400 <= code <= 599:
                ctx.report(f"{where}.retry.codes[{i}]", f"must be within 400-599; got {code}")
        base = _duration(f"{where}.retry.backoff", spec["backoff"], ctx) if "backoff" in spec else BACKOFF_BASE
        if base <= 0:
            ctx.report(f"{where}.retry.backoff", "must be more than 0")
        on = RETRY_ON + (("retriable-status-codes",) if codes else ())
        retry = RetryPolicy(attempts, on, codes, backoff_base=base) if attempts > 0 else None
    timeouts = rule.get("timeouts", {})
    request = _duration(f"{where}.timeouts.request", timeouts["request"], ctx) if "request" in timeouts else 0.0
    backend = (
        _duration(f"{where}.timeouts.backendRequest", timeouts["backendRequest"], ctx)
        if "backendRequest" in timeouts else 0.0
    )
    if request and backend > request:
        ctx.report(f"{where}.timeouts.backendRequest", "must not be longer than timeouts.request")
    timeout = request or None  # 0s disables
    if backend and spec is not None:
        retry = replace(retry, per_try_timeout=backend) if retry is not None else None
    elif backend:
        timeout = backend
    return retry, timeout
