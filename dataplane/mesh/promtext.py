"""Prometheus text format read back into flat samples.

``dpctl mesh graph`` scrapes every ztunnel and needs only (name, labels, value)
triples; the parsing itself (HELP/TYPE/comment lines, escaped quotes and
backslashes, ``+Inf``/``NaN``) is left to ``prometheus_client``'s parser, which
Prometheus' own Python client maintains against the format.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


class MetricsParseError(ValueError):
    """The text is not Prometheus exposition format."""


@dataclass(frozen=True)
class Sample:
    """One exposed series at scrape time: full sample name (``..._total`` included), labels, value."""

    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> list[Sample]:
    """Every sample of an exposition, in the order they appear."""
    try:
        return [
            Sample(sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
    except ValueError as error:  # the library reports malformed lines as bare ValueErrors
        raise MetricsParseError(f"malformed Prometheus text: {error}") from error
