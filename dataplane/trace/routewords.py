"""An L7 route's actions in words: filters, faults, timeout and retries.

The trace shows what the waypoint will do to a request once the route is
chosen; the route values (``l7.routing.model``) already say it, this module
only phrases them the way the HTTPRoute or VirtualService wrote them.
"""

from __future__ import annotations

from dataplane.l7.routing.model import Backend, HeaderModifier, PathModifier, Route


def _headers(what: str, modifier: HeaderModifier) -> list[str]:
    words = [f"{what} header set {k}: {v}" for k, v in modifier.set]
    words += [f"{what} header add {k}: {v}" for k, v in modifier.add]
    words += [f"{what} header remove {k}" for k in modifier.remove]
    return words


def _path(modifier: PathModifier) -> str:
    if modifier.kind == "RegexRewrite":
        return f"path regex {modifier.pattern!r} -> {modifier.value!r}"
    return f"path {modifier.kind} {modifier.value}"


def filters(route: Route) -> tuple[str, ...]:
    """Header modifiers (the route's, then each backend's), rewrites and mirrors."""
    words = _headers("request", route.request_headers) + _headers("response", route.response_headers)
    for backend in route.backends:
        words += [f"{w} (backend {short(backend)})" for w in _headers("request", backend.request_headers)]
        words += [f"{w} (backend {short(backend)})" for w in _headers("response", backend.response_headers)]
    if route.rewrite is not None:
        if route.rewrite.hostname:
            words.append(f"rewrite host to {route.rewrite.hostname}")
        if route.rewrite.path is not None:
            words.append(f"rewrite {_path(route.rewrite.path)}")
    for mirror in route.mirrors:
        words.append(f"mirror {mirror.percent:g}% to {mirror.service}{f' subset {mirror.subset}' if mirror.subset else ''}"
                     " (fire and forget)")
    return tuple(words)


def faults(route: Route) -> tuple[str, ...]:
    """Injected delays and aborts, each drawn per request against its percentage."""
    if route.fault is None:
        return ()
    words = []
    if route.fault.delay is not None:
        words.append(f"delay {route.fault.delay.seconds:g}s for {route.fault.delay.percent:g}% of requests")
    if route.fault.abort is not None:
        abort = route.fault.abort
        status = f"grpc-status {abort.grpc_status}" if abort.grpc_status is not None else f"{abort.status} FI"
        words.append(f"abort {status} for {abort.percent:g}% of requests")
    return tuple(words)


def timing(route: Route) -> tuple[str, ...]:
    words = [f"timeout {route.timeout:g}s" if route.timeout else "no timeout"]
    retry = route.retry
    if retry is None or retry.attempts == 0:
        words.append("no retries")
    else:
        on = ",".join(retry.retry_on) + (f" {','.join(map(str, retry.status_codes))}" if retry.status_codes else "")
        words.append(f"up to {retry.attempts} retries on {on}")
    return tuple(words)


def short(backend: Backend) -> str:
    """``reviews-v1.default`` for ``reviews-v1.default.svc.<domain>``, with its subset."""
    name = backend.service.split(".svc.", 1)[0] if backend.service else "the bound pod"
    return name + (f" subset {backend.subset}" if backend.subset else "")
