"""``dpctl verify --only policy`` on the real kernel: the allow/deny matrix of
the AuthorizationPolicies holds on a healthy mesh, and a data plane whose
policy was loosened fails against the original expectations, naming the pair
and the port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataplane.testing.plugin import Emulations
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from dataplane.verify.checks import policy
from tests.integration.support import dpctl, write_topology

pytestmark = pytest.mark.dpctl_root


@pytest.fixture
def mesh_policy(tmp_path: Path, topology: Emulations) -> tuple[Plan, Path]:
    """The running emulation's plan, and its file (under its name) to edit and ``apply``."""
    plan = topology(write_topology(tmp_path, "mesh.yaml", "vfy-pol", CNI="vpc")).plan
    return plan, write_topology(tmp_path, "mesh.yaml", plan.name, CNI="vpc")


def test_policy_check_passes_with_the_deny_on_8081(mesh_policy: tuple[Plan, Path]) -> None:
    plan, _ = mesh_policy
    result = dpctl("verify", "-t", plan.name, "--only", "policy", "-o", "json", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    by_subject = {r["subject"]: r for r in json.loads(result.stdout)["results"]}
    server = next(p for p in plan.pods if p.namespace == "mesh" and p.name.startswith("server"))
    for src in ("mesh/client", "plain/outsider"):
        for port, want in ((8080, "A"), (8081, "D"), (9000, "A")):
            r = by_subject[f"{src} -> mesh/{server.name}:{port}"]
            assert r["status"] == "passed", r
            assert r["evidence"].startswith(f"expected {want}, observed {want}")
    assert all(r["status"] == "passed" for r in by_subject.values())
    # plain/outsider has no policy: not a column
    assert not any("plain/outsider:" in s for s in by_subject)

    table = dpctl("verify", "-t", plan.name, "--only", "policy", timeout=300)
    assert table.returncode == 0 and "policy: passed" in table.stdout
    assert "D/D" in table.stdout and "A/A" in table.stdout


def test_policy_check_fails_on_a_loosened_policy_naming_pair_and_port(mesh_policy: tuple[Plan, Path]) -> None:
    plan, path = mesh_policy
    server = next(p for p in plan.pods if p.namespace == "mesh" and p.name.startswith("server"))
    assert policy.run(plan) and all(r.ok for r in policy.run(plan))

    # loosen the data plane: the same topology without the AuthorizationPolicy
    docs = path.read_text().split("\n---\n")
    loose = path.with_name(f"{plan.name}-loose.yaml")
    loose.write_text("\n---\n".join(d for d in docs if "kind: AuthorizationPolicy" not in d))
    applied = dpctl("apply", str(loose), timeout=300)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    live = plan_from_text(loose.read_text(), str(loose))
    assert not live.authorization_policies

    # expectations from the plan saved before the change, probes on the live emulation
    results = policy.run(live, expected=plan)
    failed = [r for r in results if not r.ok]
    assert failed, [r.subject for r in results]
    subjects = {r.subject for r in failed}
    # every source (coredns included) is now let through to 8081, and only there
    assert all(s.endswith(f" -> mesh/{server.name}:8081") for s in subjects), subjects
    assert {f"mesh/client -> mesh/{server.name}:8081", f"plain/outsider -> mesh/{server.name}:8081"} <= subjects
    for r in failed:
        assert "expected denied" in r.reason and "deny-8081" in r.reason, r.reason
        assert r.evidence.startswith("expected D, observed A")
    # and the live plan's own expectations hold again (nothing to check: no policy left)
    assert all(r.skipped for r in policy.run(live))
