"""Plans for the verify tests, from the integration topologies (pure: no kernel)."""

from __future__ import annotations

from pathlib import Path

from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan

TOPOLOGIES = Path(__file__).resolve().parents[2] / "integration" / "topologies"


def plan(template: str, cni: str = "vpc", name: str = "t") -> Plan:
    text = (TOPOLOGIES / template).read_text().replace("NAME", name).replace("CNI", cni)
    return plan_from_text(text, str(TOPOLOGIES / template))
