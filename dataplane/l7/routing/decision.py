"""What to do with a request once its route is chosen.

``decide`` runs what Envoy runs between route selection and the upstream
request, in Envoy's order: the fault filter (delay, then abort, each drawn
against its percentage), then the route's action (redirect and direct
response answered locally, else a backend drawn by weight), then the
request rewritten for that backend (backend-level header modifiers, then
the route's -- the less specific wins, as in Envoy -- then the URL rewrite)
and the mirrors drawn.  Random draws come from the injected Random in that
order, so a seeded run is reproducible.  The runtime then sleeps
``delay``, sends, retries and applies ``response_headers``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Container, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from random import Random

from . import replies
from .model import (
    Backend,
    HeaderModifier,
    Headers,
    Mirror,
    PathMatch,
    PathModifier,
    Redirect,
    Request,
    RetryPolicy,
    Route,
)
from .regex import compile_re2
from .replies import LocalReply

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Forward:
    """Send ``request`` to ``backend`` (after sleeping ``delay``)."""

    route: str  # the route's origin
    backend: Backend
    request: Request
    response_headers: tuple[HeaderModifier, ...]  # apply in order to the upstream's response
    mirrors: tuple[Mirror, ...]  # copies to send, fire and forget (already drawn)
    delay: float
    timeout: float | None
    retry: RetryPolicy | None
    flags: str  # "DI" when a delay was injected, else "-"


@dataclass(frozen=True)
class Respond:
    """Answer ``reply`` without calling a backend (after sleeping ``delay``)."""

    route: str
    reply: LocalReply
    delay: float = 0.0


def hit(percent: float, rng: Random) -> bool:
    """One draw against a percentage (0-100)."""
    return rng.random() * 100 < percent


def pick_backend(backends: Sequence[Backend], rng: Random) -> Backend:
    """A backend drawn with probability weight / total weight (Envoy: a
    random number modulo the total, walked along the cumulative weights)."""
    if len(backends) == 1:
        return backends[0]
    bounds = list(accumulate(b.weight for b in backends))
    return backends[bisect_right(bounds, rng.randrange(bounds[-1]))]


def apply_headers(headers: Headers, modifier: HeaderModifier) -> Headers:
    """Envoy's order: remove, then set (replacing every value), then add."""
    gone = set(modifier.remove) | {name for name, _ in modifier.set}
    return tuple((k, v) for k, v in headers if k not in gone) + modifier.set + modifier.add


def replace_prefix(replacement: str, matched: PathMatch | None, path: str) -> str:
    """The path with what the route matched replaced.  HTTPRoute PathPrefix
    is element-wise (``/`` as replacement strips the prefix); a
    VirtualService prefix is a plain string prefix; exact and regex matches
    replace the whole path; a route without a path match matched the prefix
    "/" (so ``/v2`` on ``/foo`` gives ``/v2foo``, as Istio's does)."""
    if matched is None:
        return replacement + path[1:]
    if matched.kind == "PathPrefix":
        rest = path[len(matched.value.rstrip("/")):]
        stem = replacement.rstrip("/")
        return stem + rest if stem else rest or "/"
    if matched.kind == "Prefix":
        return replacement + path[len(matched.value):]
    return replacement


def rewrite_target(modifier: PathModifier, matched: PathMatch | None, target: str) -> str:
    """``target`` (path and query) with its path modified; the query is kept
    unless a full replacement brings its own."""
    path, mark, query = target.partition("?")
    if modifier.kind == "ReplaceFullPath":
        if "?" in modifier.value:
            return modifier.value
        path = modifier.value
    elif modifier.kind == "RegexRewrite":
        path = compile_re2(modifier.pattern).sub(modifier.value, path)
    else:
        path = replace_prefix(modifier.value, matched, path)
    return path + mark + query


def split_authority(authority: str) -> tuple[str, int | None]:
    host, colon, port = authority.rpartition(":")
    if colon and port.isdigit() and (not host.startswith("[") or host.endswith("]")):
        return host, int(port)
    return authority, None


def location(redirect: Redirect, matched: PathMatch | None, request: Request) -> str:
    scheme = redirect.scheme or request.scheme
    host, port = split_authority(request.authority)
    host = redirect.hostname or host
    if redirect.port is not None:
        port = redirect.port
    elif not redirect.keep_port:
        port = None
    suffix = "" if port is None or DEFAULT_PORTS.get(scheme) == port else f":{port}"
    target = request.path if redirect.path is None else rewrite_target(redirect.path, matched, request.path)
    return f"{scheme}://{host}{suffix}{target}"


def forwarded_request(route: Route, backend: Backend, request: Request) -> Request:
    headers = apply_headers(apply_headers(request.headers, backend.request_headers), route.request_headers)
    authority, target = request.authority, request.path
    if route.rewrite is not None:
        authority = route.rewrite.hostname or authority
        if route.rewrite.path is not None:
            target = rewrite_target(route.rewrite.path, route.match.path, target)
    return replace(request, headers=headers, authority=authority, path=target)


def decide(route: Route, request: Request, rng: Random, services: Container[str]) -> Forward | Respond:
    """The fate of ``request`` on ``route``.  ``services`` holds the FQDNs of
    the Services that exist: a share drawn for a missing one is answered 500,
    and a mirror to one is not sent."""
    fault = route.fault
    delay, delayed = 0.0, False
    if fault is not None and fault.delay is not None and hit(fault.delay.percent, rng):
        delay, delayed = fault.delay.seconds, True

    def local(reply: LocalReply) -> Respond:
        return Respond(route.origin, replies.with_flag(reply, "DI") if delayed else reply, delay)

    if fault is not None and fault.abort is not None and hit(fault.abort.percent, rng):
        return local(replies.fault_abort(fault.abort.status, fault.abort.grpc_status))
    if route.redirect is not None:
        return local(replies.redirect(route.redirect.status, location(route.redirect, route.match.path, request)))
    if route.direct_response is not None or not route.backends:
        answer = route.direct_response
        return local(replies.direct_response(answer.status, answer.body) if answer else replies.invalid_backend())
    backend = pick_backend(route.backends, rng)
    if backend.service not in services:
        return local(replies.invalid_backend())
    mirrors = tuple(m for m in route.mirrors if hit(m.percent, rng) and m.service in services)
    return Forward(
        route.origin, backend, forwarded_request(route, backend, request),
        (backend.response_headers, route.response_headers), mirrors, delay, route.timeout, route.retry,
        "DI" if delayed else "-",
    )
