"""The mesh traffic graph, built from every ztunnel's and waypoint's metrics as Kiali builds it.

**L4 edges** come from the ztunnels' TCP series.  Both ztunnels of a meshed
connection report it (``reporter=source`` on the client's node,
``reporter=destination`` on the server's), so summing everything would count
it twice.  Like Kiali, the graph trusts the destination's report and falls back
to the source's only for traffic no destination ztunnel saw (a meshed client
calling an unenrolled pod or something outside the mesh).  The choice is made
per (source, destination, security) edge, so plaintext connections a client
made before its peer was enrolled are not hidden by later mTLS ones.

**L7 edges** come from the waypoints' ``istio_requests_total`` (only
``reporter=waypoint``: every request is counted by exactly one waypoint, so
nothing is summed twice).  Its ``source_*`` labels name the original client and
``destination_*`` the backend that answered, so an L7 edge goes from client to
backend, beside the L4 hops client -> waypoint -> backend, as Kiali draws an
ambient mesh.  A request the waypoint answered itself (an RBAC 403, a fault
abort) has ``destination_workload="unknown"``; its edge goes to the Service it
was sent to, which is what the client asked for, rather than to ``unknown``.

The request series do not say *which* waypoint counted them (one registry per
node serves all its waypoints).  The ztunnels do: the client's ztunnel reports
the tunnel to the waypoint (``reporter=source``, ``destination_workload`` the
waypoint, ``destination_service`` the Service the client dialled) and the
backend's reports the tunnel from it (``source_workload`` the waypoint).  So
the waypoint of an L7 edge is the one its client tunnelled to for that
Service, narrowed, when several fit (pod-addressed traffic has no Service), to
the one seen reaching that backend.  Which workloads are waypoints is not in
the metrics; the caller says, from the plan, as Kiali asks Kubernetes.

Counters are totals since each agent started (one scrape, no rates).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from dataplane.mesh.metrics import MUTUAL_TLS, OPENED, RECEIVED, SENT, UNKNOWN
from dataplane.mesh.promtext import Sample

# requestmetrics' series names: this module sits below it in the layers contract, so they are spelled out here
# (the unit tests check that they agree).
REQUESTS = "istio_requests_total"
DURATION_BUCKET = "istio_request_duration_milliseconds_bucket"
REQUEST_BYTES_SUM = "istio_request_bytes_sum"
RESPONSE_BYTES_SUM = "istio_response_bytes_sum"
WAYPOINT = "waypoint"


@dataclass(frozen=True, order=True)
class Workload:
    """A graph node: a workload in its namespace, or ``unknown`` for a peer outside the mesh's knowledge."""

    namespace: str
    name: str

    @property
    def key(self) -> str:
        return UNKNOWN if self.is_unknown else f"{self.namespace}/{self.name}"

    @property
    def is_unknown(self) -> bool:
        return self.name == UNKNOWN


OUTSIDE = Workload(UNKNOWN, UNKNOWN)


@dataclass(frozen=True, order=True)
class ServiceNode:
    """A Service as a graph node: where requests went that no workload received (the waypoint answered)."""

    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"svc:{self.namespace}/{self.name}"  # never a workload's key, though the names often match


@dataclass(frozen=True)
class Edge:
    """Traffic from one workload to another; bytes are from the client's side."""

    source: Workload
    destination: Workload
    mtls: bool
    connections: int = 0
    bytes_sent: int = 0  # client -> server (Istio's istio_tcp_received_bytes_total)
    bytes_received: int = 0  # server -> client (istio_tcp_sent_bytes_total)


@dataclass(frozen=True)
class RequestEdge:
    """HTTP or gRPC requests from a client to the backend that answered (or to the Service, if none did)."""

    source: Workload
    destination: Workload | ServiceNode
    protocol: str  # request_protocol: http | grpc
    services: tuple[str, ...]  # the destination_service FQDNs the requests were sent to
    waypoints: tuple[Workload, ...]  # the waypoint(s) in between, from the ztunnels' hops; () if none was seen
    codes: tuple[tuple[int, int], ...]  # (HTTP response code, requests), by code
    grpc_statuses: tuple[tuple[str, int], ...] = ()  # (grpc-status, requests), gRPC only
    durations: tuple[tuple[float, int], ...] = ()  # cumulative histogram (upper bound in ms, count), +Inf last
    request_bytes: int = 0
    response_bytes: int = 0

    @property
    def requests(self) -> int:
        return sum(n for _, n in self.codes)

    def share(self, hundreds: int) -> float:
        """The fraction of requests answered with a ``hundreds``xx code (5 for 5xx)."""
        total = self.requests
        return sum(n for code, n in self.codes if code // 100 == hundreds) / total if total else 0.0

    @property
    def grpc_errors(self) -> int:
        return sum(n for status, n in self.grpc_statuses if status != "0")

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile of the duration in ms, interpolated in its bucket as ``histogram_quantile`` does."""
        if not self.durations or self.durations[-1][1] == 0:
            return None
        rank = q * self.durations[-1][1]
        lower, below = 0.0, 0
        for bound, count in self.durations:
            if count >= rank:
                if math.isinf(bound):
                    return lower  # Prometheus answers the highest finite bound
                return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
            lower, below = bound, count
        return lower


@dataclass(frozen=True)
class TrafficGraph:
    nodes: tuple[Workload, ...]
    edges: tuple[Edge, ...]
    requests: tuple[RequestEdge, ...] = ()
    services: tuple[ServiceNode, ...] = ()
    waypoints: tuple[Workload, ...] = ()  # the nodes that are waypoint proxies (drawn as such)


_EdgeKey = tuple[Workload, Workload, bool]
_RequestKey = tuple[Workload, Workload | ServiceNode, str, str]  # source, destination, service, protocol


def _workload(labels: dict[str, str], side: str) -> Workload:
    name = labels.get(f"{side}_workload", UNKNOWN)
    return OUTSIDE if name == UNKNOWN else Workload(labels.get(f"{side}_workload_namespace", UNKNOWN), name)


def _key(labels: dict[str, str]) -> _EdgeKey:
    secure = labels.get("connection_security_policy") == MUTUAL_TLS
    return _workload(labels, "source"), _workload(labels, "destination"), secure


def _tcp_edges(samples: Iterable[Sample]) -> tuple[Edge, ...]:
    fields = {OPENED: "connections", RECEIVED: "bytes_sent", SENT: "bytes_received"}
    totals: dict[str, dict[_EdgeKey, dict[str, float]]] = {"source": {}, "destination": {}}
    for sample in samples:
        reporter = sample.labels.get("reporter")
        if sample.name not in fields or reporter not in totals:
            continue
        counts = totals[reporter].setdefault(_key(sample.labels), dict.fromkeys(fields.values(), 0))
        counts[fields[sample.name]] += sample.value
    chosen = totals["source"] | totals["destination"]  # destination wins where both reported
    return tuple(
        Edge(src, dst, mtls, **{name: int(value) for name, value in counts.items()})
        for (src, dst, mtls), counts in sorted(chosen.items())
    )


class _Hops:
    """The tunnels into and out of waypoints the ztunnels reported, to name the waypoint of each L7 edge."""

    def __init__(self, samples: Iterable[Sample], waypoints: frozenset[Workload]):
        self.into: dict[tuple[Workload, str], set[Workload]] = {}  # (client, service) -> waypoints tunnelled to
        self.out: set[tuple[Workload, Workload]] = set()  # (waypoint, backend)
        for sample in samples:
            if sample.name != OPENED or not sample.value:
                continue
            source, destination = _workload(sample.labels, "source"), _workload(sample.labels, "destination")
            if destination in waypoints and sample.labels.get("reporter") == "source":
                self.into.setdefault((source, sample.labels.get("destination_service", UNKNOWN)), set()).add(destination)
            if source in waypoints:
                self.out.add((source, destination))

    def between(self, client: Workload, service: str, backend: Workload | ServiceNode) -> tuple[Workload, ...]:
        candidates = self.into.get((client, service), set())
        reaching = {w for w in candidates if (w, backend) in self.out}
        return tuple(sorted(reaching or candidates))


@dataclass
class _Tally:
    codes: Counter[int] = field(default_factory=Counter)
    grpc: Counter[str] = field(default_factory=Counter)
    durations: Counter[float] = field(default_factory=Counter)
    request_bytes: float = 0
    response_bytes: float = 0


def _code(labels: dict[str, str]) -> int:
    code = labels.get("response_code", "0")
    return int(code) if code.isdigit() else 0


def _request_destination(labels: dict[str, str]) -> Workload | ServiceNode:
    """The backend that answered; the Service for a request the waypoint answered itself."""
    backend = _workload(labels, "destination")
    fqdn = labels.get("destination_service", UNKNOWN)
    if backend != OUTSIDE or fqdn == UNKNOWN:
        return backend
    name, _, rest = fqdn.partition(".")
    return ServiceNode(
        labels.get("destination_service_namespace", rest.partition(".")[0]),
        labels.get("destination_service_name", name),
    )


def _request_edges(samples: Iterable[Sample], hops: _Hops) -> tuple[RequestEdge, ...]:
    tallies: dict[_RequestKey, _Tally] = {}
    for sample in samples:
        labels = sample.labels
        if labels.get("reporter") != WAYPOINT or sample.name not in (
            REQUESTS, DURATION_BUCKET, REQUEST_BYTES_SUM, RESPONSE_BYTES_SUM
        ):
            continue
        key = (_workload(labels, "source"), _request_destination(labels), labels.get("destination_service", UNKNOWN),
               labels.get("request_protocol", "http"))
        tally = tallies.setdefault(key, _Tally())
        if sample.name == REQUESTS:
            tally.codes[_code(labels)] += int(sample.value)
            if labels.get("grpc_response_status") not in (None, "", UNKNOWN):
                tally.grpc[labels["grpc_response_status"]] += int(sample.value)
        elif sample.name == DURATION_BUCKET:
            tally.durations[float(labels["le"])] += int(sample.value)
        elif sample.name == REQUEST_BYTES_SUM:
            tally.request_bytes += sample.value
        else:
            tally.response_bytes += sample.value
    return tuple(
        RequestEdge(
            source, destination, protocol, (service,), hops.between(source, service, destination),
            tuple(sorted(t.codes.items())), tuple(sorted(t.grpc.items())), tuple(sorted(t.durations.items())),
            int(t.request_bytes), int(t.response_bytes),
        )
        for (source, destination, service, protocol), t in sorted(tallies.items(), key=_sort_key)
        if t.codes  # histograms without a request count are not an edge
    )


def _sort_key(item: tuple[_RequestKey, object]) -> tuple[str, str, str, str]:
    source, destination, service, protocol = item[0]
    return source.key, destination.key, service, protocol


def build_graph(samples: Iterable[Sample], waypoints: Iterable[Workload] = ()) -> TrafficGraph:
    """Aggregate the samples scraped from all nodes into one graph.

    ``waypoints`` are the workloads that are waypoint proxies (from the plan);
    without them L7 edges are still drawn, only without their waypoint.
    """
    samples = tuple(samples)
    known = frozenset(waypoints)
    edges = _tcp_edges(samples)
    requests = _request_edges(samples, _Hops(samples, known))
    nodes = {edge.source for edge in edges} | {edge.destination for edge in edges}
    nodes |= {r.source for r in requests} | {r.destination for r in requests if isinstance(r.destination, Workload)}
    nodes |= {w for r in requests for w in r.waypoints}
    services = {r.destination for r in requests if isinstance(r.destination, ServiceNode)}
    return TrafficGraph(
        tuple(sorted(nodes)), edges, requests, tuple(sorted(services)), tuple(sorted(nodes & known))
    )


def through_waypoints(graph: TrafficGraph) -> TrafficGraph:
    """The graph with every L7 edge that has one waypoint drawn as two hops through it.

    Kiali's "Waypoint proxies" display option: client -> waypoint carries all
    the client's requests through it, waypoint -> backend all the backend's
    requests from it.  An edge whose waypoint is unknown or ambiguous stays direct.
    """
    merged: dict[tuple[Workload, Workload | ServiceNode, str], list[RequestEdge]] = {}
    for edge in graph.requests:
        if len(edge.waypoints) != 1:
            merged.setdefault((edge.source, edge.destination, edge.protocol), []).append(edge)
            continue
        (waypoint,) = edge.waypoints
        for hop in (dataclasses.replace(edge, destination=waypoint, waypoints=()),
                    dataclasses.replace(edge, source=waypoint, waypoints=())):
            merged.setdefault((hop.source, hop.destination, hop.protocol), []).append(hop)
    ordered = sorted(merged.items(), key=lambda item: (item[0][0].key, item[0][1].key, item[0][2]))
    return dataclasses.replace(graph, requests=tuple(_merge(parts) for _, parts in ordered))


def _merge(parts: list[RequestEdge]) -> RequestEdge:
    """One edge summing ``parts`` (same ends and protocol)."""
    first = parts[0]
    codes: Counter[int] = Counter()
    grpc: Counter[str] = Counter()
    durations: Counter[float] = Counter()
    for part in parts:
        codes.update(dict(part.codes))
        grpc.update(dict(part.grpc_statuses))
        durations.update(dict(part.durations))
    return dataclasses.replace(
        first,
        services=tuple(sorted({s for p in parts for s in p.services})),
        waypoints=tuple(sorted({w for p in parts for w in p.waypoints})),
        codes=tuple(sorted(codes.items())),
        grpc_statuses=tuple(sorted(grpc.items())),
        durations=tuple(sorted(durations.items())),
        request_bytes=sum(p.request_bytes for p in parts),
        response_bytes=sum(p.response_bytes for p in parts),
    )
