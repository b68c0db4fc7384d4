"""The traffic graph: which reporter counts, edge totals, DOT output and drawing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dataplane.errors import DpctlError
from dataplane.mesh.graph import OUTSIDE, Edge, Workload, build_graph, render, to_dot
from dataplane.mesh.metrics import ConnectionLabels, MeshMetrics
from dataplane.mesh.promtext import Sample, parse

GOLDEN = Path(__file__).parent / "golden" / "graph.dot"
UI, WEB, DB = Workload("front", "ui"), Workload("shop", "web"), Workload("shop", "db")


def labels(reporter: str, source: Workload, destination: Workload, *, mtls: bool) -> ConnectionLabels:
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
    render(dot, tmp_path / "graph.png")
    assert (tmp_path / "graph.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_render_reports_dot_errors(tmp_path: Path) -> None:
    with pytest.raises(DpctlError, match="dot failed"):
        render("digraph { -> }", tmp_path / "graph.svg")
