"""``dpctl verify --only l7`` on the real kernel: every route rule and L7
policy decision of the waypoint topology holds, judged by counted answers;
expectations from a changed configuration, or a route changed live under the
check's feet, fail naming the rule and showing the counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from dataplane.topology import plan_from_text
from dataplane.verify.checks import l7
from dataplane.verify.evidence import Evidence
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(180)]

WEIGHTED = "HTTPRoute default/reviews rule[1] for default/reviews:9080 (weights reviews-v1 90, reviews-v2 10)"
FAULT = "VirtualService default/details http[0] for default/details:9080 (backend details, abort 503 at 75%)"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[tuple[Emulation, Path]]:
    """The waypoint topology (vpc mode) and its file, to edit and ``apply``."""
    folder = tmp_path_factory.mktemp("vfy-l7")
    emulation = module_topology(write_topology(folder, "waypoint.yaml", "vfy-l7", CNI="vpc"))
    yield emulation, write_topology(folder, "waypoint.yaml", emulation.name, CNI="vpc")


def test_the_l7_check_passes_rule_by_rule_with_counts(live: tuple[Emulation, Path]) -> None:
    emulation, _ = live
    result = dpctl("verify", "-t", emulation.name, "--only", "l7", "-o", "json", timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    by_subject = {r["subject"]: r for r in json.loads(result.stdout)["results"]}
    assert all(r["status"] == "passed" for r in by_subject.values()), by_subject
    assert "reviews-v2 " in by_subject[WEIGHTED]["evidence"] and "/545 (expected 10%, bound" in by_subject[WEIGHTED]["evidence"]
    assert "503 'fault filter abort'" in by_subject[FAULT]["evidence"]
    decisions = [s for s in by_subject if s.startswith("AuthorizationPolicy default/reviews-get")]
    assert [s.rsplit(" ", 1)[1] for s in decisions] == ["allowed", "denied"]


def test_expectations_from_other_weights_and_percentages_fail_naming_the_rule(
    live: tuple[Emulation, Path], tmp_path: Path
) -> None:
    emulation, path = live
    changed = path.read_text().replace("weight: 90", "weight: 50").replace("weight: 10}", "weight: 50}")
    changed = changed.replace("value: 75", "value: 25")
    expected = plan_from_text(changed, str(path))
    results = {r.subject: r for r in l7.run(emulation.plan, expected=expected, evidence=Evidence(tmp_path))}
    failed = {s for s, r in results.items() if not r.ok}
    weighted = WEIGHTED.replace("reviews-v1 90, reviews-v2 10", "reviews-v1 50, reviews-v2 50")
    fault = FAULT.replace("75%", "25%")
    assert failed == {weighted, fault}, failed
    assert results[weighted].reason.startswith("reviews-v1 ") and "expected 50% (bound" in results[weighted].reason
    assert "503 'fault filter abort'" in results[fault].reason and "expected 25%" in results[fault].reason
    assert Path(results[weighted].capture).is_file()  # a few requests again, captured in the client's namespace


def test_a_route_changed_live_fails_the_check_planned_before(live: tuple[Emulation, Path]) -> None:
    emulation, path = live
    before = emulation.plan
    swapped = path.with_name(f"{emulation.name}-swapped.yaml")
    swapped.write_text(path.read_text().replace("weight: 90", "weight: 10").replace("weight: 10}", "weight: 90}"))
    applied = dpctl("apply", str(swapped), timeout=120)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    results = l7.run(before)
    failed = [r for r in results if not r.ok]
    assert [r.subject for r in failed] == [WEIGHTED], [(r.subject, r.reason) for r in failed]
    assert failed[0].reason.startswith("reviews-v1 ") and "expected 90%" in failed[0].reason
    table = dpctl("verify", "-t", emulation.name, "--only", "l7", timeout=120)
    assert table.returncode == 0 and "l7: passed" in table.stdout  # the live plan's own expectations hold
