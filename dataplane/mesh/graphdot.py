"""The traffic graph as Graphviz DOT text, and drawn by Graphviz.

Kept apart from ``graph`` so that what the graph *is* (which report counts,
which waypoint an L7 edge crossed) can be read without how it looks.  Nodes
and edges come out in the graph's sorted order, so equal metrics give equal
text.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from dataplane.errors import DpctlError
from dataplane.mesh.graph import OUTSIDE, Edge, RequestEdge, TrafficGraph

_FORMATS = {".svg": "svg", ".png": "png"}
_OK, _DEGRADED, _FAILING = "#1864ab", "#e8590c", "#c92a2a"
_FAILING_SHARE = 0.2  # red from 20 % failed requests, orange below, as Kiali colours degraded and failing edges


def _quote(text: str) -> str:
    """A DOT string literal; a newline becomes DOT's centred line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _edge_label(edge: Edge) -> str:
    conns = f"{edge.connections} conn" + ("" if edge.connections == 1 else "s")
    kib = (edge.bytes_sent + edge.bytes_received) / 1024
    return f"{conns}, {kib:.1f} KiB" + ("\nmTLS" if edge.mtls else "")


def _percent(share: float) -> str:
    return f"{share * 100:.3g}%"


def _failed(edge: RequestEdge) -> float:
    """The share of failed requests: 5xx, or for gRPC a non-OK grpc-status, whichever is larger."""
    grpc = edge.grpc_errors / edge.requests if edge.requests else 0.0
    return max(edge.share(5), grpc)


def _request_label(edge: RequestEdge) -> str:
    """``HTTP 25 req, 4% 5xx`` / codes / latency / ``via`` the waypoint: Kiali's edge, as counts."""
    head = [f"{'gRPC' if edge.protocol == 'grpc' else edge.protocol.upper()} {edge.requests} req"]
    head += [f"{_percent(edge.share(n))} {n}xx" for n in (5, 4) if edge.share(n)]
    if edge.grpc_errors:
        head.append(f"{_percent(edge.grpc_errors / edge.requests)} gRPC errors")
    lines = [", ".join(head), " ".join(f"{code}:{n}" for code, n in edge.codes)]
    if edge.grpc_statuses:
        lines.append("grpc-status " + " ".join(f"{status}:{n}" for status, n in edge.grpc_statuses))
    p50, p99 = edge.quantile(0.5), edge.quantile(0.99)
    if p50 is not None and p99 is not None:
        lines.append(f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    if edge.waypoints:
        lines.append("via " + ", ".join(w.key for w in edge.waypoints))
    return "\n".join(lines)


def _request_line(edge: RequestEdge) -> str:
    failed = _failed(edge)
    color = _OK if not failed else _DEGRADED if failed < _FAILING_SHARE else _FAILING
    tooltip = (
        f"{', '.join(edge.services)}: {edge.request_bytes} B in requests, {edge.response_bytes} B in responses"
        " (counts since the agents started)"
    )
    return (
        f"  {_quote(edge.source.key)} -> {_quote(edge.destination.key)} [label={_quote(_request_label(edge))},"
        f' color="{color}", fontcolor="{color}", style=bold, penwidth=2, arrowhead=vee, tooltip={_quote(tooltip)}];'
    )


def _node_lines(graph: TrafficGraph, namespace: str) -> list[str]:
    """One namespace's nodes: workloads as boxes, waypoints as hexagons, Services as triangles (as Kiali)."""
    lines = []
    for node in graph.nodes:
        if node.namespace != namespace or node.is_unknown:
            continue
        shape = ', shape=hexagon, fillcolor="#fff3bf"' if node in graph.waypoints else ""
        lines.append(f"    {_quote(node.key)} [label={_quote(node.name)}{shape}];")
    lines += [
        f'    {_quote(s.key)} [label={_quote(s.name)}, shape=triangle, fillcolor="#e6fcf5"];'
        for s in graph.services
        if s.namespace == namespace
    ]
    return lines


def to_dot(graph: TrafficGraph) -> str:
    """Graphviz DOT: namespaces as boxes; L4 edges mTLS solid and marked ``mTLS``, plaintext dashed;
    L7 edges bold, coloured by their failed requests.

    The mark is a word, not a lock emoji: Graphviz's default PNG fonts have no
    glyph for it and draw a box instead.
    """
    lines = [
        "digraph mesh {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#e7f0fb", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    namespaces = {node.namespace for node in graph.nodes if not node.is_unknown}
    for namespace in sorted(namespaces | {s.namespace for s in graph.services}):
        lines += [
            f"  subgraph {_quote('cluster_' + namespace)} {{",
            f'    label={_quote(namespace)}; style="rounded,dashed"; color="#7a8ba0";',
            *_node_lines(graph, namespace),
            "  }",
        ]
    if OUTSIDE in graph.nodes:
        lines.append(f'  {_quote(OUTSIDE.key)} [label="unknown", shape=ellipse, fillcolor="#eeeeee"];')
    for edge in graph.edges:
        style = 'color="#2b8a3e", style=solid' if edge.mtls else 'color="#c92a2a", style=dashed'
        tooltip = f"{edge.bytes_sent} B sent, {edge.bytes_received} B received"
        lines.append(
            f"  {_quote(edge.source.key)} -> {_quote(edge.destination.key)}"
            f" [label={_quote(_edge_label(edge))}, {style}, tooltip={_quote(tooltip)}];"
        )
    lines += [_request_line(edge) for edge in graph.requests]
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, path: str | Path) -> None:
    """Draw DOT text to ``path`` with Graphviz, the format taken from its extension (.svg or .png)."""
    target = Path(path)
    fmt = _FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise DpctlError(f"cannot draw {target.name}: the file name must end in .svg or .png")
    dot = shutil.which("dot")
    if dot is None:
        raise DpctlError("drawing the graph needs Graphviz's 'dot' (apt-get install graphviz)")
    result = subprocess.run(
        [dot, f"-T{fmt}", "-o", str(target)], input=dot_text.encode(), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise DpctlError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
