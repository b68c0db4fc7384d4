"""Waypoint request metrics: Istio's names and label order, histograms Prometheus reads back."""

from __future__ import annotations

from dataplane.mesh.metrics import connection_labels
from dataplane.mesh.promtext import parse
from dataplane.mesh.requestmetrics import BUCKETS, DURATION, REQUESTS, RequestLabels, RequestMetrics


def _labels(code: int) -> RequestLabels:
    base = connection_labels("destination", source=None, destination=None, mtls=True)
    return RequestLabels(base, code)


def test_labels_put_the_http_ones_after_request_protocol() -> None:
    names = [name for name, _ in _labels(200).items()]
    at = names.index("request_protocol")
    assert names[at + 1 : at + 3] == ["response_code", "grpc_response_status"]
    assert names[at + 3] == "response_flags"


def test_counts_and_histograms_are_exposed_and_parse() -> None:
    metrics = RequestMetrics()
    for duration in (0.3, 7, 7, 20_000):
        metrics.record(_labels(200), duration, 10, 100)
    metrics.record(_labels(503), 1, 0, 19)
    assert metrics.requests(_labels(200)) == 4
    samples = parse(metrics.exposition())
    total = {s.labels["response_code"]: s.value for s in samples if s.name == REQUESTS}
    assert total == {"200": 4.0, "503": 1.0}
    buckets = {s.labels["le"]: s.value for s in samples if s.name == f"{DURATION}_bucket" and s.labels["response_code"] == "200"}
    assert buckets["0.5"] == 1 and buckets["10"] == 3 and buckets["10000"] == 3 and buckets["30000"] == 4
    assert buckets["+Inf"] == 4 and len(buckets) == len(BUCKETS) + 1
    assert metrics.exposition() == metrics.exposition()  # stable order
