"""The mesh traffic graph, built from every ztunnel's metrics as Kiali builds it.

Both ztunnels of a meshed connection report it (``reporter=source`` on the
client's node, ``reporter=destination`` on the server's), so summing everything
would count it twice.  Like Kiali, the graph trusts the destination's report and
falls back to the source's only for traffic no destination ztunnel saw (a meshed
client calling an unenrolled pod or something outside the mesh).  The choice is
made per (source, destination, security) edge, so plaintext connections a
client made before its peer was enrolled are not hidden by later mTLS ones.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dataplane.errors import DpctlError
from dataplane.mesh.metrics import MUTUAL_TLS, OPENED, RECEIVED, SENT, UNKNOWN
from dataplane.mesh.promtext import Sample

_FORMATS = {".svg": "svg", ".png": "png"}


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
class TrafficGraph:
    nodes: tuple[Workload, ...]
    edges: tuple[Edge, ...]


_EdgeKey = tuple[Workload, Workload, bool]


def _workload(labels: dict[str, str], side: str) -> Workload:
    name = labels.get(f"{side}_workload", UNKNOWN)
    return OUTSIDE if name == UNKNOWN else Workload(labels.get(f"{side}_workload_namespace", UNKNOWN), name)


def _key(labels: dict[str, str]) -> _EdgeKey:
    secure = labels.get("connection_security_policy") == MUTUAL_TLS
    return _workload(labels, "source"), _workload(labels, "destination"), secure


def build_graph(samples: Iterable[Sample]) -> TrafficGraph:
    """Aggregate the TCP samples scraped from all ztunnels into one graph."""
    fields = {OPENED: "connections", RECEIVED: "bytes_sent", SENT: "bytes_received"}
    totals: dict[str, dict[_EdgeKey, dict[str, float]]] = {"source": {}, "destination": {}}
    for sample in samples:
        reporter = sample.labels.get("reporter")
        if sample.name not in fields or reporter not in totals:
            continue
        counts = totals[reporter].setdefault(_key(sample.labels), dict.fromkeys(fields.values(), 0))
        counts[fields[sample.name]] += sample.value
    chosen = totals["source"] | totals["destination"]  # destination wins where both reported
    edges = tuple(
        Edge(src, dst, mtls, **{name: int(value) for name, value in counts.items()})
        for (src, dst, mtls), counts in sorted(chosen.items())
    )
    nodes = tuple(sorted({edge.source for edge in edges} | {edge.destination for edge in edges}))
    return TrafficGraph(nodes, edges)


def _quote(text: str) -> str:
    """A DOT string literal; a newline becomes DOT's centred line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _edge_label(edge: Edge) -> str:
    conns = f"{edge.connections} conn" + ("" if edge.connections == 1 else "s")
    kib = (edge.bytes_sent + edge.bytes_received) / 1024
    return f"{conns}, {kib:.1f} KiB" + ("\nmTLS" if edge.mtls else "")


def to_dot(graph: TrafficGraph) -> str:
    """Graphviz DOT: namespaces as boxes, mTLS edges solid and marked ``mTLS``, plaintext dashed.

    The mark is a word, not a lock emoji: Graphviz's default PNG fonts have no
    glyph for it and draw a box instead.
    """
    lines = [
        "digraph mesh {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#e7f0fb", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    namespaces = sorted({node.namespace for node in graph.nodes if not node.is_unknown})
    for namespace in namespaces:
        lines += [
            f"  subgraph {_quote('cluster_' + namespace)} {{",
            f'    label={_quote(namespace)}; style="rounded,dashed"; color="#7a8ba0";',
        ]
        lines += [
            f"    {_quote(node.key)} [label={_quote(node.name)}];"
            for node in graph.nodes
            if node.namespace == namespace and not node.is_unknown
        ]
        lines.append("  }")
    if OUTSIDE in graph.nodes:
        lines.append(f'  {_quote(OUTSIDE.key)} [label="unknown", shape=ellipse, fillcolor="#eeeeee"];')
    for edge in graph.edges:
        style = 'color="#2b8a3e", style=solid' if edge.mtls else 'color="#c92a2a", style=dashed'
        tooltip = f"{edge.bytes_sent} B sent, {edge.bytes_received} B received"
        lines.append(
            f"  {_quote(edge.source.key)} -> {_quote(edge.destination.key)}"
            f" [label={_quote(_edge_label(edge))}, {style}, tooltip={_quote(tooltip)}];"
        )
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
