"""Istio's request metrics, as a waypoint exports them (``waypoint-l7.md`` §5).

``istio_requests_total`` (counter), ``istio_request_duration_milliseconds``,
``istio_request_bytes`` and ``istio_response_bytes`` (histograms) with
``reporter="waypoint"`` and the standard labels: ``source_*`` the original
client, ``destination_*`` the backend pod that answered (``unknown`` for a
request the waypoint answered itself), ``destination_service`` the called
Service, then ``request_protocol``, ``response_code``,
``grpc_response_status``, ``response_flags`` and
``connection_security_policy``.  The labels are ztunnel's ``ConnectionLabels``
(same names, same order) with the two HTTP-only ones inserted after
``request_protocol``, where Istio's stats filter puts them.

The histograms use Envoy's default buckets, the ones the reference lists for
durations; Istio's byte histograms use the same default, so they do here too
(a choice: the reference gives no separate byte buckets).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field

from dataplane.mesh.metrics import ConnectionLabels, escape_label_value

REQUESTS = "istio_requests_total"
DURATION = "istio_request_duration_milliseconds"
REQUEST_BYTES = "istio_request_bytes"
RESPONSE_BYTES = "istio_response_bytes"
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
           3600000)
_HELP = {
    REQUESTS: "Total requests",
    DURATION: "Request duration in milliseconds",
    REQUEST_BYTES: "Request size in bytes",
    RESPONSE_BYTES: "Response size in bytes",
}


@dataclass(frozen=True)
class RequestLabels:
    connection: ConnectionLabels  # reporter, peers, destination_service, protocol, flags, security policy
    response_code: int
    grpc_response_status: str | None = None

    def items(self) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for name, value in self.connection.items():
            out.append((name, value))
            if name == "request_protocol":
                out.append(("response_code", str(self.response_code)))
                out.append(("grpc_response_status", self.grpc_response_status or ""))
        return tuple(out)


@dataclass
class _Histogram:
    """Counts per bucket (not cumulative: one increment per observation, on
    every request); ``cumulative`` adds them up for the exposition."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(BUCKETS, value)
        if i < len(BUCKETS):
            self.buckets[i] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[int]:
        return list(itertools.accumulate(self.buckets))


@dataclass
class _Series:
    """Everything recorded under one label set: one lookup per request."""

    requests: int = 0
    histograms: tuple[_Histogram, _Histogram, _Histogram] = field(
        default_factory=lambda: (_Histogram(), _Histogram(), _Histogram())
    )


def _sample(name: str, labels: tuple[tuple[str, str], ...], value: float) -> str:
    rendered = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
    number = int(value) if float(value).is_integer() else value
    return f"{name}{{{rendered}}} {number}"


class RequestMetrics:
    """One waypoint's request series; lives as long as the waypoint is served."""

    def __init__(self) -> None:
        self._series: dict[RequestLabels, _Series] = {}

    def record(self, labels: RequestLabels, duration_ms: float, request_bytes: int, response_bytes: int) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = _Series()
        series.requests += 1
        duration, request, response = series.histograms
        duration.observe(duration_ms)
        request.observe(request_bytes)
        response.observe(response_bytes)

    def requests(self, labels: RequestLabels) -> int:
        series = self._series.get(labels)
        return 0 if series is None else series.requests

    def exposition(self) -> str:
        """Prometheus text format 0.0.4, series sorted so equal state gives equal text."""
        ordered = sorted(((k.items(), v) for k, v in self._series.items()), key=lambda pair: pair[0])
        lines = [f"# HELP {REQUESTS} {_HELP[REQUESTS]}", f"# TYPE {REQUESTS} counter"]
        lines += [_sample(REQUESTS, items, series.requests) for items, series in ordered]
        for index, name in enumerate((DURATION, REQUEST_BYTES, RESPONSE_BYTES)):
            lines += [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} histogram"]
            for items, series in ordered:
                histogram = series.histograms[index]
                for bound, count in zip(BUCKETS, histogram.cumulative()):
                    lines.append(_sample(f"{name}_bucket", (*items, ("le", _bound(bound))), count))
                lines.append(_sample(f"{name}_bucket", (*items, ("le", "+Inf")), histogram.count))
                lines.append(_sample(f"{name}_sum", items, histogram.total))
                lines.append(_sample(f"{name}_count", items, histogram.count))
        return "\n".join(lines) + "\n"


def _bound(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and float(value).is_integer() else str(value)
