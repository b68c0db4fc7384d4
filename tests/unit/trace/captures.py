"""Real ``nft monitor trace`` output captured from live emulations.

Each ``captures/<case>.json`` holds what one ``dpctl trace`` run saw: the
command, the probe (source namespace and port, destination and its peers,
outcome) and every monitor line by namespace, plus the plan's names for those
namespaces.  They were recorded once from ``tests/integration/topologies/
services.yaml`` brought up in vpc mode (``trdev``) and overlay mode
(``trov``); the tests rebuild the report from the lines alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dataplane.trace import report
from dataplane.trace.targets import Destination

CAPTURES = Path(__file__).resolve().parent / "captures"
CASES = sorted(p.stem for p in CAPTURES.glob("*.json"))


def load(case: str) -> dict[str, Any]:
    return dict(json.loads((CAPTURES / f"{case}.json").read_text()))


def rebuild(case: str) -> report.Report:
    """The report ``dpctl trace`` makes from this capture's monitor lines."""
    data = load(case)
    dest = data["destination"]
    destination = Destination(
        ip=dest["ip"],
        port=dest["port"],
        proto=dest["protocol"],
        label=dest["label"],
        peers=frozenset((ip, port) for ip, port in dest["peers"]),
        pod_netns=(),
    )
    probe = data["probe"]
    return report.build(
        source=data["source"],
        source_netns=data["sourceNetns"],
        destination=destination,
        sport=data["sourcePort"],
        probe=(probe["outcome"], probe["detail"], probe["seconds"]),
        raw=data["raw"],
        labels=data["labels"],
    )
