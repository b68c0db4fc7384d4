"""Every topology the repository ships builds a plan: a user's first `dpctl up` never meets an input error."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.topology import plan_from_text

SHIPPED = sorted((Path(__file__).resolve().parents[3] / "topologies").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_topology_builds_a_plan(path: Path) -> None:
    plan = plan_from_text(path.read_text(), str(path))
    assert plan.nodes and plan.pods


def test_the_vpc_example_has_two_vpcs_a_peering_and_a_site() -> None:
    path = SHIPPED[[p.name for p in SHIPPED].index("vpc.yaml")]
    raw = plan_from_text(path.read_text(), str(path)).vpc_network
    assert [v["name"] for v in raw["vpcs"]] == ["prod", "shared"]
    assert {s["zone"] for v in raw["vpcs"] for s in v["subnets"]} == {"a", "b", "c"}
    assert [p["name"] for p in raw["peeringConnections"]] == ["prod-shared"] and raw["onPremises"]["name"] == "dc"
