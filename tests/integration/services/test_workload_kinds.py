"""StatefulSet, DaemonSet and ReplicaSet make their pods as Kubernetes' controllers
do, and the kinds that do not shape the data plane are accepted and counted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan
from tests.integration.support import dpctl, unique_name, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(240)]


@pytest.fixture(scope="module", params=["vpc", "overlay"])
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Plan, str]]:
    name = unique_name("kinds")
    path = write_topology(tmp_path_factory.mktemp("kinds"), "workloads.yaml", name, CNI=request.param)
    result = dpctl("up", "-q", str(path))
    try:
        assert result.returncode == 0, result.stderr
        yield StateDir(name).load_plan(), result.stderr
    finally:
        dpctl("down", name)


def _pods(plan: Plan, owner: str) -> list[str]:
    return sorted(p.name for p in plan.pods if p.owner == owner)


def test_each_controller_makes_its_pods(shop: tuple[Plan, str]) -> None:
    plan, _ = shop
    assert _pods(plan, "StatefulSet/db") == ["db-0", "db-1", "db-2"]
    assert _pods(plan, "ReplicaSet/web") == ["web-0", "web-1"]
    # one DaemonSet pod on each node of zone a, pinned there, none in zone b
    agents = {p.name: p.node for p in plan.pods if p.owner == "DaemonSet/agent"}
    assert agents == {"agent-a1": "a1", "agent-a2": "a2"}


def test_ignored_and_not_yet_enforced_kinds_are_counted_in_one_line_each(shop: tuple[Plan, str]) -> None:
    _, stderr = shop
    assert (
        "ignored: 1 ConfigMap, 1 HorizontalPodAutoscaler, 1 PodDisruptionBudget, 1 Secret, 1 ServiceMonitor "
        "(-v lists them)" in stderr
    )
    assert "not yet enforced: 1 PeerAuthentication (-v lists them)" in stderr


def test_statefulset_pods_have_their_own_dns_names(shop: tuple[Plan, str]) -> None:
    plan, _ = shop
    for pod in ("db-0", "db-2"):
        answer = dpctl("exec", "-t", plan.name, "shop/web-0", "--", "getent", "hosts", f"{pod}.db.shop.svc.cluster.local")
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.split()[0] == plan.pod("shop", pod).ip
    hosts = dpctl("exec", "-t", plan.name, "shop/db-1", "--", "cat", "/etc/hosts", check=True).stdout
    assert f"{plan.pod('shop', 'db-1').ip}\tdb-1.db.shop.svc.cluster.local\tdb-1" in hosts


def test_statefulset_scales_by_its_highest_ordinal_and_keeps_names(shop: tuple[Plan, str]) -> None:
    plan, _ = shop
    before = {p.name: p.ip for p in plan.pods}
    dpctl("scale", "-t", plan.name, "shop/db", "2", check=True)
    assert _pods(StateDir(plan.name).load_plan(), "StatefulSet/db") == ["db-0", "db-1"]
    dpctl("scale", "-t", plan.name, "shop/db", "3", check=True)
    after = StateDir(plan.name).load_plan()
    assert _pods(after, "StatefulSet/db") == ["db-0", "db-1", "db-2"]
    assert {n: after.pod("shop", n).ip for n in ("db-0", "db-1")} == {n: before[n] for n in ("db-0", "db-1")}


def test_daemonset_and_statefulset_pods_are_not_deleted_as_replicas(shop: tuple[Plan, str]) -> None:
    plan, _ = shop
    for pod in ("shop/db-0", "shop/agent-a1"):
        result = dpctl("delete", "pod", "-t", plan.name, pod)
        assert result.returncode == 1 and "same name" in result.stderr
    refused = dpctl("scale", "-t", plan.name, "shop/agent", "3")
    assert refused.returncode == 2 and "cannot be scaled" in refused.stderr


def test_get_pods_names_the_owners(shop: tuple[Plan, str]) -> None:
    plan, _ = shop
    listed = json.loads(dpctl("get", "pods", "-t", plan.name, "-n", "shop", "-o", "json", check=True).stdout)
    owners = {p["name"]: p["owner"] for p in listed}
    assert owners["db-0"] == "StatefulSet/db" and owners["agent-a2"] == "DaemonSet/agent"
    assert owners["web-1"] == "ReplicaSet/web"


def test_a_directory_a_json_list_and_stdin_come_up_together(tmp_path: Path) -> None:
    """``helm template ... | dpctl up -f manifests/ -f -``: the Topology and a
    chart's output in a directory (YAML with comments, a JSON List), one more
    app on standard input; a live change afterwards recomputes from all of them."""
    name = unique_name("inputs")
    text = write_topology(tmp_path, "workloads.yaml", name, CNI="vpc").read_text()
    topology, _, chart = text.partition("\n---\n# Source: shop/templates/namespace.yaml\n")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "00-topology.yaml").write_text(topology)
    (manifests / "10-shop.yaml").write_text("# Source: shop/templates/namespace.yaml\n" + chart)
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "blog"}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "blog", "namespace": "blog"},
             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "blog"}},
                      "template": {"metadata": {"labels": {"app": "blog"}},
                                   "spec": {"containers": [{"name": "blog", "ports": [{"name": "http", "containerPort": 8080}]}]}}}},
        ],
    }
    (manifests / "20-blog.json").write_text(json.dumps(listing, indent=2))
    stdin_app = (
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: wiki}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: wiki, namespace: wiki}\nspec: {containers: [{name: wiki}]}\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-m", "dataplane.cli", "up", "-q", "-f", str(manifests), "-f", "-"],
            input=stdin_app, capture_output=True, text=True, timeout=120, check=False,
        )
        assert result.returncode == 0, result.stderr
        plan = StateDir(name).load_plan()
        assert {"shop/db-0", "blog/blog-1", "wiki/wiki"} <= {p.key for p in plan.pods}
        assert "<stdin>" in plan.source and "20-blog.json" in plan.source
        dpctl("scale", "-t", name, "blog/blog", "3", check=True)  # recomputed from every input, stdin included
        assert "blog/blog-2" in {p.key for p in StateDir(name).load_plan().pods}
        assert "wiki/wiki" in {p.key for p in StateDir(name).load_plan().pods}
    finally:
        dpctl("down", name)


def _statuses(plan: Plan, want: dict[str, str], timeout: float = 15.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        listed = json.loads(dpctl("get", "pods", "-t", plan.name, "-n", "shop", "-o", "json", check=True).stdout)
        found = {p["name"]: p["status"] for p in listed}
        if all(found.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_job_runs_its_command_once_and_completes(shop: tuple[Plan, str]) -> None:
    plan, _ = shop
    found = _statuses(plan, {"migrate-0": "Completed", "broken-0": "Error"})
    assert (found.get("migrate-0"), found.get("broken-0")) == ("Completed", "Error")
    table = dpctl("get", "pods", "-t", plan.name, "-n", "shop", check=True).stdout
    assert any(line.split()[1:4] == ["migrate-0", "0/1", "Completed"] for line in table.splitlines())


def test_a_cronjob_makes_a_job_only_when_triggered(shop: tuple[Plan, str]) -> None:
    plan, _ = shop
    assert not [p for p in plan.pods if p.name.startswith("report")]
    listed = dpctl("get", "cronjobs", "-t", plan.name, check=True).stdout
    assert "report" in listed and "*/5 * * * *" in listed
    dpctl("create", "job", "-t", plan.name, "-n", "shop", "report-now", "--from=cronjob/report", check=True)
    assert _statuses(plan, {"report-now-0": "Completed"}).get("report-now-0") == "Completed"
    again = dpctl("create", "job", "-t", plan.name, "-n", "shop", "report-now", "--from=cronjob/report")
    assert again.returncode == 2 and "exists already" in again.stderr
