"""DestinationRule -> HostPolicy, and which policy a backend gets.

Istio's rules: ``loadBalancer.simple`` UNSPECIFIED (and unset) is
LEAST_REQUEST, LEAST_CONN its deprecated alias; a connection-pool limit of 0
is no limit (Istio writes only positive ones) and unset limits are 2^32 - 1;
``connectTimeout`` defaults to the mesh's 10 s; outlier detection exists
only when ``outlierDetection`` is written, then with Envoy's defaults as
Istio leaves them (5 consecutive 5xx, gateway errors off, 10 s interval,
30 s base ejection, 10 % at most, panic threshold = ``minHealthPercent``,
0).  A subset's ``trafficPolicy`` replaces the top level's field by field
(a subset's ``connectionPool`` replaces the whole top-level one), as
Istio's MergeTrafficPolicy does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .istio_match import Context
from .model import UNLIMITED, ConnectionPool, Headers, HostPolicy, OutlierPolicy, Report, Subset, TrafficPolicy
from .values import DEFAULT_DOMAIN, Tally, host_matches, istio_duration, resolve_host

BALANCERS = {
    "UNSPECIFIED": "LEAST_REQUEST", "LEAST_REQUEST": "LEAST_REQUEST", "LEAST_CONN": "LEAST_REQUEST",
    "ROUND_ROBIN": "ROUND_ROBIN", "RANDOM": "RANDOM",
}
NOT_EMULATED = {
    "tcp.maxConnectionDuration": "connections are not closed after a maximum duration",
    "tcp.idleTimeout": "applies to TCP proxying, which waypoints here do not do",
    "http.h2UpgradePolicy": "the upstream protocol is the client's",
    "http.useClientProtocol": "the upstream protocol is the client's",
    "http.maxConcurrentStreams": "no per-connection stream limit",
    "consecutiveLocalOriginFailures": "local failures count as 5xx (Envoy's default, not split)",
    "splitExternalLocalOriginErrors": "local failures count as 5xx (Envoy's default, not split)",
}


def translate(
    namespace: str, name: str, order: int, spec: Mapping[str, Any], report: Report, warn: Report,
    domain: str = DEFAULT_DOMAIN,
) -> HostPolicy | None:
    """The policies of one DestinationRule; None when a problem was reported."""
    tally = Tally(report)
    ctx = Context(namespace, tally, warn, domain)
    top = _pieces("spec.trafficPolicy", spec.get("trafficPolicy", {}), ctx)
    subsets: list[Subset] = []
    for i, subset in enumerate(spec.get("subsets", [])):
        at = f"spec.subsets[{i}]"
        if any(s.name == subset["name"] for s in subsets):
            tally(f"{at}.name", f"subset {subset['name']!r} is defined twice")
        own = _pieces(f"{at}.trafficPolicy", subset.get("trafficPolicy", {}), ctx)
        labels = tuple(sorted(subset.get("labels", {}).items()))
        subsets.append(Subset(subset["name"], labels, TrafficPolicy(**{**top, **own})))
    if tally.count:
        return None
    host = resolve_host(spec["host"], namespace, domain)
    return HostPolicy(namespace, name, order, host, TrafficPolicy(**top), tuple(subsets))


def _not_emulated(where: str, spec: Mapping[str, Any], prefix: str, ctx: Context) -> None:
    for key, why in NOT_EMULATED.items():
        scope, _, field = key.rpartition(".")
        if scope == prefix and field in spec:
            ctx.warn(f"{where}.{field}", f"not emulated: {why}")


def _pieces(where: str, spec: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """The TrafficPolicy fields ``spec`` writes (merging needs to know which)."""
    out: dict[str, Any] = {}
    for ignored in ("tls", "portLevelSettings"):
        if ignored in spec:
            ctx.warn(f"{where}.{ignored}", "not emulated: the waypoint reaches backends over HBONE with the mesh's "
                     "mTLS and applies the policy of the whole host" if ignored == "tls" else
                     "not emulated: the top-level policy applies to every port")
    if "loadBalancer" in spec:
        out["load_balancer"] = _balancer(f"{where}.loadBalancer", spec["loadBalancer"], ctx)
    if "connectionPool" in spec:
        out["pool"] = _pool(f"{where}.connectionPool", spec["connectionPool"], ctx)
    if "outlierDetection" in spec:
        out["outlier"] = _outlier(f"{where}.outlierDetection", spec["outlierDetection"], ctx)
    return out


def _balancer(where: str, spec: Mapping[str, Any], ctx: Context) -> str:
    if "consistentHash" in spec:
        ctx.warn(f"{where}.consistentHash", "not emulated: requests are balanced as LEAST_REQUEST")
    simple = spec.get("simple", "UNSPECIFIED")
    if simple == "PASSTHROUGH":
        ctx.warn(f"{where}.simple", "PASSTHROUGH is not emulated (a waypoint's Service traffic has no original "
                 "pod address to keep): requests are balanced as LEAST_REQUEST")
    return BALANCERS.get(simple, "LEAST_REQUEST")


def _count(where: str, spec: Mapping[str, Any], key: str, ctx: Context, default: int, top: int | None = None) -> int:
    value = spec.get(key, default)
    if value < 0 or (top is not None and value > top):
        bound = f"within 0-{top}" if top is not None else "0 or more"
        ctx.report(f"{where}.{key}", f"must be {bound}; got {value}")
    return int(value)


def _seconds(where: str, spec: Mapping[str, Any], key: str, ctx: Context, default: float) -> float:
    if key not in spec:
        return default
    try:
        value = istio_duration(spec[key])
    except ValueError as error:
        ctx.report(f"{where}.{key}", str(error))
        return default
    if value < 0.001:
        ctx.report(f"{where}.{key}", "must be at least 1ms")
    return value


def _pool(where: str, spec: Mapping[str, Any], ctx: Context) -> ConnectionPool:
    tcp, http = spec.get("tcp", {}), spec.get("http", {})
    _not_emulated(f"{where}.tcp", tcp, "tcp", ctx)
    _not_emulated(f"{where}.http", http, "http", ctx)

    def limit(scope: Mapping[str, Any], at: str, key: str) -> int:
        return _count(at, scope, key, ctx, 0) or UNLIMITED

    return ConnectionPool(
        max_connections=limit(tcp, f"{where}.tcp", "maxConnections"),
        connect_timeout=_seconds(f"{where}.tcp", tcp, "connectTimeout", ctx, ConnectionPool.connect_timeout),
        max_pending_requests=limit(http, f"{where}.http", "http1MaxPendingRequests"),
        max_requests=limit(http, f"{where}.http", "http2MaxRequests"),
        max_requests_per_connection=_count(f"{where}.http", http, "maxRequestsPerConnection", ctx, 0),
        max_retries=limit(http, f"{where}.http", "maxRetries"),
        idle_timeout=_seconds(f"{where}.http", http, "idleTimeout", ctx, ConnectionPool.idle_timeout),
    )


def _outlier(where: str, spec: Mapping[str, Any], ctx: Context) -> OutlierPolicy:
    _not_emulated(where, spec, "", ctx)
    defaults = OutlierPolicy()
    return OutlierPolicy(
        consecutive_5xx=_count(where, spec, "consecutive5xxErrors", ctx, defaults.consecutive_5xx),
        consecutive_gateway=_count(where, spec, "consecutiveGatewayErrors", ctx, defaults.consecutive_gateway),
        interval=_seconds(where, spec, "interval", ctx, defaults.interval),
        base_ejection_time=_seconds(where, spec, "baseEjectionTime", ctx, defaults.base_ejection_time),
        max_ejection_percent=_count(where, spec, "maxEjectionPercent", ctx, defaults.max_ejection_percent, 100),
        min_health_percent=_count(where, spec, "minHealthPercent", ctx, defaults.min_health_percent, 100),
    )


def find_rule(policies: Sequence[HostPolicy], service: str) -> HostPolicy | None:
    """The DestinationRule that applies to ``service``: one naming it exactly
    before a wildcard, the oldest first."""
    exact = [p for p in policies if p.host == service]
    candidates = exact or [p for p in policies if host_matches(p.host, service)]
    return min(candidates, key=lambda p: p.order, default=None)


def policy_for(policies: Sequence[HostPolicy], service: str, subset: str | None = None) -> TrafficPolicy:
    """The traffic policy of a backend (Istio's defaults without a rule)."""
    rule = find_rule(policies, service)
    if rule is None:
        return TrafficPolicy()
    chosen = next((s for s in rule.subsets if s.name == subset), None)
    return rule.policy if chosen is None else chosen.policy


def subset_labels(policies: Sequence[HostPolicy], service: str, subset: str) -> Headers | None:
    """The labels a pod needs to be in ``subset``; None when no rule defines
    it (Envoy then has no cluster for it: no pod can serve the backend)."""
    rule = find_rule(policies, service)
    chosen = next((s for s in rule.subsets if s.name == subset), None) if rule else None
    return None if chosen is None else chosen.labels
