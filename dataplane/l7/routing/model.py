"""The normalized routing model both route APIs translate to.

HTTPRoute (Gateway API, GAMMA) and VirtualService say the same things in
different words; Istio turns both into one Envoy route table, and so do we:
``gateway`` and ``istio`` produce these values, ``table`` and ``decision``
act on them, ``codec`` stores them in the plan.  Every value is a frozen
dataclass of plain fields (str, int, float, bool, bytes, tuples, ``X | None``)
so that a Plan can keep routes in plan.json and read back identical objects.

Durations are float seconds; ``None`` means "no timeout".  Percentages are
floats from 0 to 100.  Header names are lower case everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Headers = tuple[tuple[str, str], ...]
Report = Callable[[str, str], None]  # (field path such as "spec.rules[0].matches[1]", message)

UNLIMITED = 2**32 - 1  # Envoy's "practically unlimited" circuit-breaker value, which Istio sets when unset
BACKOFF_BASE = 0.025  # Envoy's default retry back-off base interval (25 ms)
CONNECT_TIMEOUT = 10.0  # meshConfig.connectTimeout default


@dataclass(frozen=True)
class Request:
    """What routing reads of a request.  ``path`` is the request target as
    sent (path and query); headers keep wire order and repeats."""

    method: str
    path: str
    authority: str
    scheme: str = "http"
    headers: Headers = ()

    def header(self, name: str) -> str | None:
        """All values of ``name`` joined with ",", as Envoy's header matcher
        sees a repeated header; pseudo-headers (":authority", ":method",
        ":scheme", ":path") read the request line."""
        pseudo = {":authority": self.authority, ":method": self.method, ":scheme": self.scheme, ":path": self.path}
        if name in pseudo:
            return pseudo[name]
        values = [v for k, v in self.headers if k == name]
        return ",".join(values) if values else None


# -- matching ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathMatch:
    """``kind``: ``Exact``; ``PathPrefix`` (HTTPRoute: element-wise, value
    kept without its trailing "/"); ``Prefix`` (VirtualService: a plain string
    prefix of the whole target); ``RegularExpression`` (RE2, full match of
    the path without its query)."""

    kind: str
    value: str
    ignore_case: bool = False  # VirtualService ignoreUriCase (Exact and Prefix only, as in Envoy)


@dataclass(frozen=True)
class ValueMatch:
    """One header or query-parameter condition.  ``kind``: ``Exact``,
    ``Prefix``, ``RegularExpression`` or ``Present``; ``invert`` is
    VirtualService ``withoutHeaders``."""

    name: str
    kind: str
    value: str = ""
    invert: bool = False


@dataclass(frozen=True)
class Match:
    """Conditions that must all hold.  An empty Match matches every request."""

    path: PathMatch | None = None
    method: str | None = None  # HTTPRoute method (VirtualService method is a ":method" header match)
    headers: tuple[ValueMatch, ...] = ()
    query: tuple[ValueMatch, ...] = ()
    port: int | None = None  # VirtualService match.port; decided when a table is built for one port


# -- what a route does ------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderModifier:
    """Envoy's order: ``remove``, then ``set`` (overwrite), then ``add`` (append)."""

    set: Headers = ()
    add: Headers = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class PathModifier:
    """``ReplaceFullPath`` (value is the new path), ``ReplacePrefixMatch``
    (value replaces what the route's path match matched) or ``RegexRewrite``
    (every match of ``pattern`` in the path replaced by value, ``\\1`` groups)."""

    kind: str
    value: str
    pattern: str = ""


@dataclass(frozen=True)
class Redirect:
    """A redirect answered by the proxy.  With no ``port``, ``keep_port``
    keeps the request's port (the default port of the final scheme is never
    written)."""

    status: int
    scheme: str | None = None
    hostname: str | None = None
    port: int | None = None
    keep_port: bool = True
    path: PathModifier | None = None


@dataclass(frozen=True)
class Rewrite:
    hostname: str | None = None
    path: PathModifier | None = None


@dataclass(frozen=True)
class Backend:
    """One weighted destination.  ``port`` None: the port the request came
    in on.  Backend-level header modifiers run before the route's."""

    service: str  # FQDN
    port: int | None
    weight: int = 1
    subset: str | None = None
    request_headers: HeaderModifier = HeaderModifier()
    response_headers: HeaderModifier = HeaderModifier()


@dataclass(frozen=True)
class Mirror:
    service: str
    port: int | None
    percent: float = 100.0
    subset: str | None = None


@dataclass(frozen=True)
class DirectResponse:
    status: int
    body: bytes = b""


@dataclass(frozen=True)
class Abort:
    """``status`` is the HTTP status; a gRPC abort answers 200 with ``grpc_status``."""

    status: int
    percent: float
    grpc_status: int | None = None


@dataclass(frozen=True)
class Delay:
    seconds: float
    percent: float


@dataclass(frozen=True)
class Fault:
    abort: Abort | None = None
    delay: Delay | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Envoy's retry policy as Istio writes it.  ``attempts`` counts retries:
    a request is sent at most 1 + attempts times."""

    attempts: int
    retry_on: tuple[str, ...]
    status_codes: tuple[int, ...] = ()
    per_try_timeout: float | None = None
    backoff_base: float = BACKOFF_BASE
    host_selection_attempts: int = 5  # Istio: pick another host up to 5 times ...
    avoid_previous_hosts: bool = True  # ... when the pick was already tried


@dataclass(frozen=True)
class Route:
    """One Envoy route: one match (Istio emits one route per match) and its
    action.  Exactly one of ``backends``, ``redirect`` and ``direct_response``
    decides the answer; ``origin`` names the rule for errors and logs."""

    origin: str
    match: Match = Match()
    backends: tuple[Backend, ...] = ()
    redirect: Redirect | None = None
    direct_response: DirectResponse | None = None
    request_headers: HeaderModifier = HeaderModifier()
    response_headers: HeaderModifier = HeaderModifier()
    rewrite: Rewrite | None = None
    mirrors: tuple[Mirror, ...] = ()
    timeout: float | None = None
    retry: RetryPolicy | None = None
    fault: Fault | None = None


@dataclass(frozen=True)
class Attachment:
    """The routes one object gives one host.  ``host`` is a Service FQDN
    (HTTPRoute parentRef) or a VirtualService host, possibly a wildcard;
    ``port`` None: every port.  ``order`` is the object's creation order
    (document order), Gateway API's first tie-break."""

    kind: str  # "HTTPRoute" | "VirtualService"
    namespace: str
    name: str
    order: int
    host: str
    port: int | None
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class GatewayRef:
    """A route's parentRef to a Gateway: ``section`` (a listener name) and
    ``port`` narrow it to some of the Gateway's listeners."""

    namespace: str
    name: str
    section: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class RouteSet:
    """The routes an HTTPRoute or TLSRoute gives the Gateways it names.  Which
    listeners take them, and for which hosts, is decided against each
    Gateway (``attach``); a TLSRoute's routes match everything and only choose
    backends."""

    kind: str  # "HTTPRoute" | "TLSRoute"
    namespace: str
    name: str
    order: int
    hostnames: tuple[str, ...]
    parents: tuple[GatewayRef, ...]
    routes: tuple[Route, ...]


# -- DestinationRule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionPool:
    """Envoy circuit breakers and timeouts from ``connectionPool``; unset
    limits are Istio's 2^32 - 1."""

    max_connections: int = UNLIMITED
    connect_timeout: float = CONNECT_TIMEOUT
    max_pending_requests: int = UNLIMITED  # http1MaxPendingRequests
    max_requests: int = UNLIMITED  # http2MaxRequests: concurrent requests, any HTTP version
    max_requests_per_connection: int = 0  # 0: unlimited
    max_retries: int = UNLIMITED  # concurrent retries
    idle_timeout: float = 3600.0


@dataclass(frozen=True)
class OutlierPolicy:
    """``outlierDetection`` with Istio's defaults; a threshold of 0 is off."""

    consecutive_5xx: int = 5
    consecutive_gateway: int = 0  # unset in Istio leaves Envoy's enforcement at 0: off
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_percent: int = 10
    min_health_percent: int = 0  # Envoy's panic threshold


@dataclass(frozen=True)
class TrafficPolicy:
    load_balancer: str = "LEAST_REQUEST"  # ROUND_ROBIN | RANDOM | LEAST_REQUEST
    pool: ConnectionPool = ConnectionPool()
    outlier: OutlierPolicy | None = None  # None: no outlier detection


@dataclass(frozen=True)
class Subset:
    name: str
    labels: Headers  # sorted (key, value) pairs a pod must all carry
    policy: TrafficPolicy  # the subset's own policy merged over the top level


@dataclass(frozen=True)
class HostPolicy:
    """One DestinationRule: the policy of its host and of each subset."""

    namespace: str
    name: str
    order: int
    host: str  # FQDN or wildcard
    policy: TrafficPolicy = TrafficPolicy()
    subsets: tuple[Subset, ...] = ()
