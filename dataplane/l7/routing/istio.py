"""VirtualService ``http[]`` -> Attachments, as Istio translates it for a waypoint.

Routes keep document order (the first match wins), one route per match.
Istio's defaults and quirks are reproduced: a route without ``retries``
gets 2 retries on connect-failure, refused-stream, unavailable, cancelled and
retriable-status-codes; ``retries`` without ``attempts`` (or 0) disables
them; integers in ``retryOn`` are status codes; ``timeout`` defaults to
none; a single destination takes all traffic whatever its weight, several
share by weight (unset = 0); a fault without a percentage injects nothing;
a redirect defaults to 301; a ``mirror`` or ``mirrors`` entry without a
percentage mirrors everything.  Short hosts are Services of the
VirtualService's namespace.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import regex
from .istio_match import Context, header_operations, match
from .model import (
    Abort,
    Attachment,
    Backend,
    Delay,
    DirectResponse,
    Fault,
    Match,
    Mirror,
    PathModifier,
    Redirect,
    Report,
    RetryPolicy,
    Rewrite,
    Route,
)
from .retry import parse_retry_on, route_default
from .values import DEFAULT_DOMAIN, Tally, istio_duration, resolve_host

REDIRECT_CODES = (301, 302, 303, 307, 308)
ACTIONS = ("route", "redirect", "directResponse", "delegate")
GRPC_STATUS = {
    name: code for code, name in enumerate((
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ))
}


def translate(
    namespace: str, name: str, order: int, spec: Mapping[str, Any], report: Report, warn: Report,
    domain: str = DEFAULT_DOMAIN,
) -> tuple[Attachment, ...]:
    """The routes a VirtualService gives each of its hosts; nothing when a
    problem was reported or when it is bound to gateways only."""
    tally = Tally(report)
    ctx = Context(namespace, tally, warn, domain)
    for kind in ("tcp", "tls"):
        if spec.get(kind):
            warn(f"spec.{kind}", f"{kind} routes are not emulated: only http[] routes are in force")
    hosts = [resolve_host(h, namespace, domain) for h in spec.get("hosts", [])]
    if not hosts:
        tally("spec.hosts", "a VirtualService needs at least one host")
    if "*" in hosts:
        tally("spec.hosts", "the host * is not allowed for the mesh")
    key = f"{namespace}/{name}"
    routes = tuple(route for i, http in enumerate(spec.get("http", [])) for route in _http(key, i, http, ctx))
    gateways = spec.get("gateways")
    if gateways is not None and "mesh" not in gateways:
        warn("spec.gateways", "bound to gateways only (no \"mesh\"): waypoints do not use this VirtualService")
        return ()
    if tally.count:
        return ()
    return tuple(Attachment("VirtualService", namespace, name, order, h, None, routes) for h in dict.fromkeys(hosts))


def _http(key: str, i: int, spec: Mapping[str, Any], ctx: Context) -> list[Route]:
    where = f"spec.http[{i}]"
    actions = [a for a in ACTIONS if a in spec]
    if not actions:
        ctx.report(where, "needs one of route, redirect or directResponse")
    elif len(actions) > 1:
        ctx.report(where, f"{' and '.join(actions)} cannot be combined")
    if "redirect" in spec and "rewrite" in spec:
        ctx.report(where, "redirect and rewrite cannot be combined")
    if "delegate" in spec:
        ctx.warn(f"{where}.delegate", "delegation works on gateways only: this route is not in force")
        return []
    if "corsPolicy" in spec:
        ctx.warn(f"{where}.corsPolicy", "accepted but not emulated: no CORS headers are checked or added")
    specs = spec.get("match", [])
    found = [match(f"{where}.match[{j}]", m, ctx) for j, m in enumerate(specs)]
    matches = [m for m in found if m is not None] if specs else [Match()]
    backends = _destinations(f"{where}.route", spec.get("route", []), ctx)
    direct = _direct(f"{where}.directResponse", spec["directResponse"], ctx) if "directResponse" in spec else None
    if spec.get("route") and not backends:
        ctx.warn(f"{where}.route", "every destination has weight 0: requests get 500")
        direct = DirectResponse(500)
    headers = spec.get("headers", {})
    timeout = _duration(f"{where}.timeout", spec["timeout"], ctx) if "timeout" in spec else None
    base = Route(
        origin=f"VirtualService {key} http[{i}]",
        backends=backends,
        redirect=_redirect(f"{where}.redirect", spec["redirect"], ctx) if "redirect" in spec else None,
        direct_response=direct,
        request_headers=header_operations(f"{where}.headers.request", headers.get("request", {}), ctx),
        response_headers=header_operations(f"{where}.headers.response", headers.get("response", {}), ctx),
        rewrite=_rewrite(f"{where}.rewrite", spec["rewrite"], ctx) if "rewrite" in spec else None,
        mirrors=_mirrors(where, spec, ctx),
        timeout=timeout or None,
        retry=_retry(f"{where}.retries", spec["retries"], ctx) if "retries" in spec else route_default(),
        fault=_fault(f"{where}.fault", spec["fault"], ctx) if "fault" in spec else None,
    )
    if len(matches) == 1:
        return [replace(base, match=matches[0])]
    return [replace(base, match=m, origin=f"{base.origin} match[{j}]") for j, m in enumerate(matches)]


def _duration(where: str, text: str, ctx: Context) -> float:
    try:
        return istio_duration(text)
    except ValueError as error:
        ctx.report(where, str(error))
        return 0.0


def _host(where: str, host: str, ctx: Context) -> str:
    fqdn = resolve_host(host, ctx.namespace, ctx.domain)
    if "*" in fqdn:
        ctx.report(where, f"a destination cannot be a wildcard host; got {host!r}")
    return fqdn


def _destinations(where: str, specs: Sequence[Mapping[str, Any]], ctx: Context) -> tuple[Backend, ...]:
    out: list[Backend] = []
    for d, spec in enumerate(specs):
        at, destination = f"{where}[{d}]", spec["destination"]
        weight = 1 if len(specs) == 1 else spec.get("weight", 0)
        if weight < 0:
            ctx.report(f"{at}.weight", f"must be 0 or more; got {weight}")
        headers = spec.get("headers", {})
        request = header_operations(f"{at}.headers.request", headers.get("request", {}), ctx)
        response = header_operations(f"{at}.headers.response", headers.get("response", {}), ctx)
        host = _host(f"{at}.destination.host", destination["host"], ctx)
        port = destination.get("port", {}).get("number")
        if weight > 0:
            out.append(Backend(host, port, weight, destination.get("subset"), request, response))
    return tuple(out)


def _percent(where: str, spec: Mapping[str, Any] | None, ctx: Context) -> float | None:
    """An Istio ``Percent`` (a double 0-100), None when absent."""
    if spec is None or "value" not in spec:
        return None
    value = float(spec["value"])
    if not 0 <= value <= 100:
        ctx.report(f"{where}.value", f"must be within 0-100; got {spec['value']}")
    return value


def _mirrors(where: str, spec: Mapping[str, Any], ctx: Context) -> tuple[Mirror, ...]:
    if "mirror" in spec and "mirrors" in spec:
        ctx.report(where, "mirror and mirrors cannot be combined")
    entries = [
        (f"{where}.mirror", spec["mirror"], f"{where}.mirrorPercentage", spec.get("mirrorPercentage"))
    ] if "mirror" in spec else []
    entries += [
        (f"{where}.mirrors[{k}].destination", m["destination"], f"{where}.mirrors[{k}].percentage", m.get("percentage"))
        for k, m in enumerate(spec.get("mirrors", []))
    ]
    out: list[Mirror] = []
    for at, destination, percent_at, percentage in entries:
        percent = _percent(percent_at, percentage, ctx)
        host = _host(f"{at}.host", destination["host"], ctx)
        port = destination.get("port", {}).get("number")
        out.append(Mirror(host, port, 100.0 if percent is None else percent, destination.get("subset")))
    return tuple(out)


def _redirect(where: str, spec: Mapping[str, Any], ctx: Context) -> Redirect:
    status = spec.get("redirectCode", 301)
    if status not in REDIRECT_CODES:
        ctx.report(f"{where}.redirectCode", f"must be one of {', '.join(map(str, REDIRECT_CODES))}; got {status}")
    derive = spec.get("derivePort")
    if derive not in (None, "FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"):
        ctx.report(f"{where}.derivePort", f"must be FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT; got {derive!r}")
    if derive is not None and "port" in spec:
        ctx.report(where, "port and derivePort cannot be combined")
    # without port or derivePort Envoy keeps the request's host:port unless the host is replaced
    keep = derive == "FROM_REQUEST_PORT" or (derive is None and "authority" not in spec)
    path = PathModifier("ReplaceFullPath", spec["uri"]) if "uri" in spec else None
    return Redirect(status, spec.get("scheme"), spec.get("authority"), spec.get("port"), keep, path)


def _rewrite(where: str, spec: Mapping[str, Any], ctx: Context) -> Rewrite:
    path = None
    if "uri" in spec and "uriRegexRewrite" in spec:
        ctx.report(where, "uri and uriRegexRewrite cannot be combined")
    elif "uri" in spec:
        path = PathModifier("ReplacePrefixMatch", spec["uri"])
    elif "uriRegexRewrite" in spec:
        rule = spec["uriRegexRewrite"]
        if why := regex.check(rule.get("match", "")):
            ctx.report(f"{where}.uriRegexRewrite.match", why)
        path = PathModifier("RegexRewrite", rule.get("rewrite", ""), rule.get("match", ""))
    return Rewrite(spec.get("authority"), path)


def _direct(where: str, spec: Mapping[str, Any], ctx: Context) -> DirectResponse:
    status, body = spec["status"], spec.get("body", {})
    if not 200 <= status <= 599:
        ctx.report(f"{where}.status", f"must be within 200-599; got {status}")
    if "string" in body and "bytes" in body:
        ctx.report(f"{where}.body", "string and bytes cannot be combined")
    if "bytes" in body:
        try:
            return DirectResponse(status, base64.b64decode(body["bytes"], validate=True))
        except binascii.Error:
            ctx.report(f"{where}.body.bytes", "is not base64")
    return DirectResponse(status, body.get("string", "").encode())


def _retry(where: str, spec: Mapping[str, Any], ctx: Context) -> RetryPolicy | None:
    if "retryRemoteLocalities" in spec:
        ctx.warn(f"{where}.retryRemoteLocalities", "has no effect: the emulated cluster has one locality")
    on: tuple[str, ...] = route_default().retry_on
    codes: tuple[int, ...] = ()
    if "retryOn" in spec:
        on, codes, unknown = parse_retry_on(spec["retryOn"])
        if unknown:
            ctx.report(f"{where}.retryOn", f"unknown retry condition {', '.join(map(repr, unknown))}")
    per_try = _duration(f"{where}.perTryTimeout", spec["perTryTimeout"], ctx) if "perTryTimeout" in spec else None
    attempts = spec.get("attempts", 0)
    if attempts < 0:
        ctx.report(f"{where}.attempts", f"must be 0 or more; got {attempts}")
    return RetryPolicy(attempts, on, codes, per_try or None) if attempts > 0 else None


def _fault(where: str, spec: Mapping[str, Any], ctx: Context) -> Fault:
    delay = abort = None
    if "delay" in spec:
        d = spec["delay"]
        percent = _percent(f"{where}.delay.percentage", d.get("percentage"), ctx)
        percent = float(d["percent"]) if percent is None and "percent" in d else percent
        if "fixedDelay" not in d:
            ctx.report(f"{where}.delay.fixedDelay", "a delay needs fixedDelay")
        elif percent is None:
            ctx.warn(f"{where}.delay", "no percentage: nothing is injected (Istio's default is 0 %)")
        else:
            delay = Delay(_duration(f"{where}.delay.fixedDelay", d["fixedDelay"], ctx), percent)
    if "abort" in spec:
        a = spec["abort"]
        percent = _percent(f"{where}.abort.percentage", a.get("percentage"), ctx)
        kinds = [k for k in ("httpStatus", "grpcStatus", "http2Error") if k in a]
        if len(kinds) != 1:
            ctx.report(f"{where}.abort", "set exactly one of httpStatus, grpcStatus or http2Error")
        elif kinds[0] == "http2Error":
            ctx.warn(f"{where}.abort.http2Error", "not emulated: this abort is not injected")
        elif kinds[0] == "grpcStatus" and a["grpcStatus"] not in GRPC_STATUS:
            ctx.report(f"{where}.abort.grpcStatus", f"unknown gRPC status {a['grpcStatus']!r}")
        elif kinds[0] == "httpStatus" and not 200 <= a["httpStatus"] <= 599:
            ctx.report(f"{where}.abort.httpStatus", f"must be within 200-599; got {a['httpStatus']}")
        elif percent is None:
            ctx.warn(f"{where}.abort", "no percentage: nothing is injected (Istio's default is 0 %)")
        else:
            grpc = GRPC_STATUS.get(a.get("grpcStatus", ""))
            abort = Abort(a.get("httpStatus", 200), percent, grpc)
    return Fault(abort, delay)

