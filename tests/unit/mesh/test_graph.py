"""The traffic graph: which reporter counts, edge totals, L7 edges and their waypoint, DOT output and drawing."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from dataplane.errors import DpctlError
from dataplane.mesh import graph as graph_module
from dataplane.mesh import requestmetrics
from dataplane.mesh.graph import OUTSIDE, Edge, ServiceNode, Workload, build_graph, through_waypoints
from dataplane.mesh.graphdot import render, to_dot
from dataplane.mesh.metrics import ConnectionLabels, MeshMetrics
from dataplane.mesh.promtext import Sample, parse
from dataplane.mesh.requestmetrics import RequestLabels, RequestMetrics

GOLDEN = Path(__file__).parent / "golden" / "graph.dot"
GOLDEN_L7 = Path(__file__).parent / "golden" / "graph-l7.dot"
GOLDEN_WAYPOINTS = Path(__file__).parent / "golden" / "graph-waypoints.dot"
UI, WEB, DB = Workload("front", "ui"), Workload("shop", "web"), Workload("shop", "db")


def labels(
    reporter: str, source: Workload, destination: Workload, *, mtls: bool, service: str | None = None
) -> ConnectionLabels:
    def name(w: Workload) -> str | None:
        return None if w == OUTSIDE else w.name

    def namespace(w: Workload) -> str | None:
        return None if w == OUTSIDE else w.namespace

    return ConnectionLabels(
        reporter=reporter,
        source_workload=name(source),
        source_workload_namespace=namespace(source),
        destination_workload=name(destination),
        destination_workload_namespace=namespace(destination),
        destination_service=f"{service}.shop.svc.cluster.local" if service else None,
        destination_service_namespace="shop" if service else None,
        destination_service_name=service,
        connection_security_policy="mutual_tls" if mtls else "unknown",
    )


def connect(ztunnel: MeshMetrics, tl: ConnectionLabels, times: int, sent: int, received: int) -> None:
    for _ in range(times):
        ztunnel.opened(tl)
        ztunnel.add_bytes(tl, sent, received)
        ztunnel.closed(tl)


def scrape() -> list[Sample]:
    """Three nodes' ztunnels: ui -> web meshed (both report), web -> db to an unenrolled db
    (source only), an outside plaintext client captured inbound at web (destination only)."""
    node_a, node_b, node_c = MeshMetrics("1.27.0"), MeshMetrics("1.27.0"), MeshMetrics("1.27.0")
    connect(node_a, labels("source", UI, WEB, mtls=True), 3, 1024, 2048)
    connect(node_b, labels("destination", UI, WEB, mtls=True), 3, 1024, 2048)
    connect(node_b, labels("source", WEB, DB, mtls=False), 2, 512, 0)
    connect(node_c, labels("destination", OUTSIDE, WEB, mtls=False), 1, 100, 0)
    return [sample for ztunnel in (node_a, node_b, node_c) for sample in parse(ztunnel.exposition())]


def test_destination_preferred_without_double_count() -> None:
    graph = build_graph(scrape())
    assert graph.nodes == (UI, DB, WEB, OUTSIDE)  # sorted by namespace, then name
    edges = {(e.source, e.destination): e for e in graph.edges}
    assert edges[(UI, WEB)] == Edge(UI, WEB, True, connections=3, bytes_sent=3072, bytes_received=6144)
    assert edges[(WEB, DB)] == Edge(WEB, DB, False, connections=2, bytes_sent=1024, bytes_received=0)
    assert edges[(OUTSIDE, WEB)] == Edge(OUTSIDE, WEB, False, connections=1, bytes_sent=100, bytes_received=0)
    assert len(graph.edges) == 3


def test_destination_report_wins_even_when_source_differs() -> None:
    source, destination = MeshMetrics("1"), MeshMetrics("1")
    connect(source, labels("source", UI, WEB, mtls=True), 5, 10, 10)  # e.g. the destination restarted
    connect(destination, labels("destination", UI, WEB, mtls=True), 2, 10, 10)
    samples = parse(source.exposition()) + parse(destination.exposition())
    (edge,) = build_graph(samples).edges
    assert edge.connections == 2


def test_plaintext_and_mtls_between_one_pair_stay_apart() -> None:
    ztunnel = MeshMetrics("1")
    connect(ztunnel, labels("source", UI, WEB, mtls=False), 1, 1, 1)  # before web's namespace was enrolled
    connect(ztunnel, labels("destination", UI, WEB, mtls=True), 4, 1, 1)
    graph = build_graph(parse(ztunnel.exposition()))
    assert [(e.mtls, e.connections) for e in graph.edges] == [(False, 1), (True, 4)]


def test_other_metrics_are_ignored() -> None:
    text = '# TYPE istio_tcp_sockets_open gauge\nistio_tcp_sockets_open{reporter="source"} 4\n'
    assert build_graph(parse(text)).edges == ()


def test_dot_matches_golden() -> None:
    dot = to_dot(build_graph(scrape()))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(dot, encoding="utf-8")
    assert dot == GOLDEN.read_text(encoding="utf-8")


# -- L7 edges from the waypoints ------------------------------------------------------------------------------

CURL, WAYPOINT = Workload("shop", "curl"), Workload("shop", "waypoint")
V1, V2 = Workload("shop", "reviews-v1"), Workload("shop", "reviews-v2")
REVIEWS = ServiceNode("shop", "reviews")
REVIEWS_FQDN = "reviews.shop.svc.cluster.local"


def request(
    waypoint: RequestMetrics, backend: Workload | None, code: int, times: int, *,
    ms: float = 3.0, protocol: str = "http", grpc: str | None = None, client: Workload = CURL,
) -> None:
    """``times`` requests the waypoint counted; ``backend`` None: it answered them itself (403, abort)."""
    tl = labels("waypoint", client, backend or OUTSIDE, mtls=True, service="reviews")
    tl = dataclasses.replace(tl, request_protocol=protocol)
    for _ in range(times):
        waypoint.record(RequestLabels(tl, code, grpc), ms, 10, 100)


def l7_scrape() -> list[Sample]:
    """curl -> Service reviews through the waypoint: 20 OK and one 503 from v1, 3 OK from v2 (slower), two
    403s the waypoint answered; the ztunnels saw curl -> waypoint (n1) and waypoint -> v1, v2 (n2)."""
    n1, n2, requests = MeshMetrics("1"), MeshMetrics("1"), RequestMetrics()
    connect(n1, labels("source", CURL, WAYPOINT, mtls=True, service="reviews"), 2, 3000, 9000)
    connect(n2, labels("destination", WAYPOINT, V1, mtls=True), 1, 2000, 6000)
    connect(n2, labels("destination", WAYPOINT, V2, mtls=True), 1, 300, 900)
    request(requests, V1, 200, 20)
    request(requests, V1, 503, 1)
    request(requests, V2, 200, 3, ms=30.0)
    request(requests, None, 403, 2, ms=0.2)
    return [s for text in (n1.exposition(), n2.exposition(), requests.exposition()) for s in parse(text)]


def test_series_names_agree_with_the_waypoints_metrics() -> None:
    assert graph_module.REQUESTS == requestmetrics.REQUESTS
    assert graph_module.DURATION_BUCKET == f"{requestmetrics.DURATION}_bucket"
    assert graph_module.REQUEST_BYTES_SUM == f"{requestmetrics.REQUEST_BYTES}_sum"
    assert graph_module.RESPONSE_BYTES_SUM == f"{requestmetrics.RESPONSE_BYTES}_sum"


def test_l7_edges_count_requests_codes_and_errors_per_backend() -> None:
    graph = build_graph(l7_scrape(), {WAYPOINT})
    edges = {e.destination: e for e in graph.requests}
    v1 = edges[V1]
    assert (v1.source, v1.protocol, v1.services, v1.waypoints) == (CURL, "http", (REVIEWS_FQDN,), (WAYPOINT,))
    assert v1.requests == 21 and v1.codes == ((200, 20), (503, 1))
    assert v1.share(5) == pytest.approx(1 / 21) and v1.share(4) == 0
    assert (v1.request_bytes, v1.response_bytes) == (210, 2100)
    assert edges[V2].codes == ((200, 3),) and edges[V2].share(5) == 0


def test_locally_rejected_requests_go_to_the_service_not_unknown() -> None:
    graph = build_graph(l7_scrape(), {WAYPOINT})
    rejected = next(e for e in graph.requests if e.destination == REVIEWS)
    assert rejected.codes == ((403, 2),) and rejected.share(4) == 1.0
    assert rejected.waypoints == (WAYPOINT,)  # curl tunnelled to it for reviews
    assert graph.services == (REVIEWS,)
    assert OUTSIDE not in graph.nodes and all(e.destination != OUTSIDE for e in graph.requests)


def test_requests_are_counted_once_and_l4_edges_stay_as_they_were() -> None:
    samples = l7_scrape()
    graph = build_graph(samples, {WAYPOINT})
    assert sum(e.requests for e in graph.requests) == 26  # not the histograms' _count or _bucket series again
    assert len(graph.requests) == 3
    l4_only = [s for s in samples if not s.name.startswith(("istio_request", "istio_response"))]
    assert graph.edges == build_graph(l4_only).edges  # client -> waypoint -> backend, mTLS, from the ztunnels
    assert {(e.source, e.destination) for e in graph.edges} == {(CURL, WAYPOINT), (WAYPOINT, V1), (WAYPOINT, V2)}
    assert graph.waypoints == (WAYPOINT,) and graph.nodes == (CURL, V1, V2, WAYPOINT)


def test_other_reporters_request_series_are_not_l7_edges() -> None:
    text = (
        "# TYPE istio_requests_total counter\n"
        'istio_requests_total{reporter="source",source_workload="a",destination_workload="b",response_code="200"} 7\n'
    )
    assert build_graph(parse(text)).requests == ()


def test_durations_are_quantiles_of_the_histogram() -> None:
    edges = {e.destination: e for e in build_graph(l7_scrape(), {WAYPOINT}).requests}
    # 21 requests of 3 ms, all in the (1, 5] bucket: interpolated as Prometheus' histogram_quantile does
    assert edges[V1].quantile(0.5) == pytest.approx(1 + 4 * 0.5)
    assert edges[V1].quantile(0.99) == pytest.approx(1 + 4 * 0.99)
    assert edges[V2].quantile(0.5) == pytest.approx(25 + 25 * 0.5)
    assert edges[REVIEWS].quantile(0.5) == pytest.approx(0.5 * 0.5)  # 0.2 ms, in the first bucket [0, 0.5]


def test_without_the_plans_waypoints_the_edges_have_no_waypoint() -> None:
    graph = build_graph(l7_scrape())
    assert [e.requests for e in graph.requests] == [21, 3, 2] and all(not e.waypoints for e in graph.requests)
    assert graph.waypoints == ()


def test_a_waypoint_is_narrowed_to_the_one_seen_reaching_the_backend() -> None:
    """Pod-addressed traffic has no Service to tell two waypoints the client used apart."""
    other = Workload("shop", "other-waypoint")
    n1, n2, requests = MeshMetrics("1"), MeshMetrics("1"), RequestMetrics()
    connect(n1, labels("source", CURL, WAYPOINT, mtls=True), 1, 1, 1)
    connect(n1, labels("source", CURL, other, mtls=True), 1, 1, 1)
    connect(n2, labels("destination", WAYPOINT, V1, mtls=True), 1, 1, 1)
    connect(n2, labels("destination", other, V2, mtls=True), 1, 1, 1)
    for backend in (V1, V2):
        tl = labels("waypoint", CURL, backend, mtls=True)
        requests.record(RequestLabels(dataclasses.replace(tl, request_protocol="http"), 200), 1, 0, 0)
    samples = [s for m in (n1, n2, requests) for s in parse(m.exposition())]
    graph = build_graph(samples, {WAYPOINT, other})
    assert {e.destination: e.waypoints for e in graph.requests} == {V1: (WAYPOINT,), V2: (other,)}


def test_grpc_edges_count_grpc_statuses() -> None:
    requests = RequestMetrics()
    request(requests, V1, 200, 3, protocol="grpc", grpc="0")
    request(requests, V1, 200, 1, protocol="grpc", grpc="14")
    (edge,) = build_graph(parse(requests.exposition())).requests
    assert (edge.protocol, edge.requests, edge.grpc_statuses, edge.grpc_errors) == ("grpc", 4, (("0", 3), ("14", 1)), 1)
    assert "gRPC 4 req, 25% gRPC errors" in to_dot(build_graph(parse(requests.exposition())))


def test_waypoints_option_draws_the_l7_edges_through_the_waypoint() -> None:
    graph = through_waypoints(build_graph(l7_scrape(), {WAYPOINT}))
    hops = {(e.source, e.destination): e for e in graph.requests}
    assert set(hops) == {(CURL, WAYPOINT), (WAYPOINT, V1), (WAYPOINT, V2), (WAYPOINT, REVIEWS)}
    assert hops[(CURL, WAYPOINT)].codes == ((200, 23), (403, 2), (503, 1))  # every request curl sent through it
    assert hops[(CURL, WAYPOINT)].quantile(1.0) == 50  # the merged histogram: the slowest were in (25, 50]
    assert hops[(WAYPOINT, V1)].requests == 21 and all(not e.waypoints for e in graph.requests)


def test_l7_dot_matches_golden() -> None:
    graph = build_graph(l7_scrape(), {WAYPOINT})
    for dot, golden in ((to_dot(graph), GOLDEN_L7), (to_dot(through_waypoints(graph)), GOLDEN_WAYPOINTS)):
        if os.environ.get("UPDATE_GOLDEN"):
            golden.write_text(dot, encoding="utf-8")
        assert dot == golden.read_text(encoding="utf-8")
    dot = to_dot(graph)
    assert '"shop/curl" -> "shop/reviews-v1" [label="HTTP 21 req, 4.76% 5xx\\n200:20 503:1\\n' in dot
    assert '"svc:shop/reviews" [label="reviews", shape=triangle' in dot
    assert '"shop/waypoint" [label="waypoint", shape=hexagon' in dot


def test_a_graph_without_waypoints_has_no_l7_part() -> None:
    graph = build_graph(scrape())
    assert (graph.requests, graph.services, graph.waypoints) == ((), (), ())
    assert through_waypoints(graph) == graph


def test_render_refuses_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(DpctlError, match=r"\.svg or \.png"):
        render("digraph {}", tmp_path / "graph.pdf")


def test_render_without_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(DpctlError, match="Graphviz"):
        render("digraph {}", tmp_path / "graph.svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_render_svg_and_png(tmp_path: Path) -> None:
    dot = to_dot(build_graph(scrape()))
    render(dot, tmp_path / "graph.svg")
    svg = (tmp_path / "graph.svg").read_text(encoding="utf-8")
    for name in ("ui", "web", "db", "unknown", "front", "shop", "mTLS", "3 conns, 9.0 KiB"):
        assert name in svg
    render(to_dot(build_graph(l7_scrape(), {WAYPOINT})), tmp_path / "l7.svg")
    assert "HTTP 21 req" in (tmp_path / "l7.svg").read_text(encoding="utf-8")
    render(dot, tmp_path / "graph.png")
    assert (tmp_path / "graph.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_render_reports_dot_errors(tmp_path: Path) -> None:
    with pytest.raises(DpctlError, match="dot failed"):
        render("digraph { -> }", tmp_path / "graph.svg")
