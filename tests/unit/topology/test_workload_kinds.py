"""ReplicaSet, StatefulSet and DaemonSet documents, and the kinds read but not acted on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dataplane.clusterdns.zone import A, build_zone
from dataplane.errors import TopologyError
from dataplane.realize.podfiles import hosts
from dataplane.topology import Overrides, plan_from_text
from dataplane.topology.plan import Accepted

_TEMPLATE = """  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
{extra}      containers: [{{name: c, ports: [{{name: http, containerPort: 8080}}]}}]
"""


def controller(kind: str, name: str, spec: str = "", extra: str = "") -> str:
    return (
        f"---\napiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n{spec}"
        + _TEMPLATE.format(app=name, extra=extra)
    )


def test_a_statefulset_makes_ordinals_with_their_own_dns_names(topology: Callable[..., str]) -> None:
    text = (
        topology()
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  clusterIP: None\n  selector: {app: db}\n"
        "  ports: [{port: 5432}]\n"
        + controller("StatefulSet", "db", "  serviceName: db\n  replicas: 2\n")
    )
    plan = plan_from_text(text, "t.yaml")
    pods = [p for p in plan.pods if p.owner == "StatefulSet/db"]
    assert [(p.name, p.hostname, p.subdomain) for p in pods] == [("db-0", "db-0", "db"), ("db-1", "db-1", "db")]
    zone = build_zone(plan)
    assert zone.records["db-1.db.default.svc.cluster.local"] == (A(pods[1].ip),)
    assert f"{pods[0].ip}\tdb-0.db.default.svc.cluster.local\tdb-0" in hosts(plan, pods[0])


def test_a_statefulset_scaled_down_and_deleted_keeps_its_names(topology: Callable[..., str]) -> None:
    text = topology() + controller("StatefulSet", "db", "  replicas: 3\n")
    overrides = Overrides(replicas={"default/db": 2}, deleted=frozenset({"default/db-0"}))
    plan = plan_from_text(text, "t.yaml", overrides=overrides)
    assert [p.name for p in plan.pods if p.owner == "StatefulSet/db"] == ["db-0", "db-1"]


def test_a_daemonset_runs_one_pod_on_every_node_its_selector_matches(topology: Callable[..., str]) -> None:
    text = topology(zones="ab", per_zone=2) + controller(
        "DaemonSet", "agent", extra="      nodeSelector: {topology.kubernetes.io/zone: b}\n"
    )
    plan = plan_from_text(text, "t.yaml")
    assert [(p.name, p.node) for p in plan.pods if p.owner == "DaemonSet/agent"] == [
        ("agent-node-b", "node-b"),
        ("agent-node-b2", "node-b2"),
    ]
    assert plan_from_text(text, "t.yaml", overrides=Overrides(ready={"default/agent-node-b": False}))


def test_a_daemonset_cannot_be_scaled_or_given_replicas(topology: Callable[..., str]) -> None:
    with pytest.raises(TopologyError, match="a DaemonSet runs one pod on each node it selects; it cannot be scaled"):
        plan_from_text(topology() + controller("DaemonSet", "agent"), "t.yaml", overrides=Overrides(replicas={"default/agent": 3}))
    with pytest.raises(TopologyError, match=r"spec: unknown field 'replicas'"):
        plan_from_text(topology() + controller("DaemonSet", "agent", "  replicas: 2\n"), "t.yaml")


def test_a_replicaset_is_replicas_like_a_deployment(topology: Callable[..., str]) -> None:
    plan = plan_from_text(topology() + controller("ReplicaSet", "web", "  replicas: 2\n"), "t.yaml")
    assert [p.name for p in plan.pods if p.owner == "ReplicaSet/web"] == ["web-0", "web-1"]


def test_kinds_without_data_plane_effect_and_custom_resources_are_accepted(topology: Callable[..., str]) -> None:
    docs = [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata: {a: b}\n",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: []\n",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {anything: [1, 2]}\n",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: default}\nspec: {}\n",
        "apiVersion: gateway.networking.k8s.io/v1\nkind: TCPRoute\nmetadata: {name: h}\nspec: {}\n",
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: nginx}\n",
    ]
    plan = plan_from_text(topology() + "".join(f"---\n{d}" for d in docs), "t.yaml")
    assert plan.accepted_only == (
        Accepted("ConfigMap", "default/c", "ignored"),
        Accepted("ClusterRole", "r", "ignored"),
        Accepted("Widget", "w", "ignored"),
        Accepted("TCPRoute", "h", "not yet enforced"),
        Accepted("Ingress", "default/i", "not yet enforced"),  # no class: no ALB serves it
        Accepted("Gateway", "default/g", "not yet enforced"),  # a class no controller of the file serves
    )


def test_an_unknown_kind_of_a_kubernetes_group_is_still_an_error(topology: Callable[..., str]) -> None:
    with pytest.raises(TopologyError, match=r"unknown kind 'Statefulset' \(did you mean 'StatefulSet'\?\)"):
        plan_from_text(topology() + "---\napiVersion: apps/v1\nkind: Statefulset\nmetadata: {name: x}\n", "t.yaml")


def _job(spec: str, kind: str = "Job") -> str:
    return (
        f"---\napiVersion: batch/v1\nkind: {kind}\nmetadata: {{name: j}}\nspec:\n{spec}"
    )


_JOB_TEMPLATE = "  template:\n    spec: {restartPolicy: Never, containers: [{name: c, command: ['true']}]}\n"


def test_a_job_runs_parallelism_pods_but_no_more_than_completions(topology: Callable[..., str]) -> None:
    for spec, names in (("", ["j-0"]), ("  parallelism: 3\n", ["j-0", "j-1", "j-2"]), ("  parallelism: 3\n  completions: 2\n", ["j-0", "j-1"])):
        plan = plan_from_text(topology() + _job(spec + _JOB_TEMPLATE), "t.yaml")
        assert [p.name for p in plan.pods if p.owner == "Job/j"] == names


def test_a_cronjob_makes_no_pod_until_triggered(topology: Callable[..., str]) -> None:
    cron = "  schedule: '@hourly'\n  jobTemplate:\n    spec:\n" + _JOB_TEMPLATE.replace("  ", "      ", 1).replace("\n    spec", "\n        spec")
    text = topology() + _job(cron, "CronJob")
    plan = plan_from_text(text, "t.yaml")
    assert [(c.key, c.schedule) for c in plan.cron_jobs] == [("default/j", "@hourly")]
    assert not [p for p in plan.pods if p.namespace == "default"]
    triggered = plan_from_text(text, "t.yaml", overrides=Overrides(jobs={"default/now": "default/j"}))
    assert [p.name for p in triggered.pods if p.owner == "Job/now"] == ["now-0"]
    with pytest.raises(TopologyError, match="no CronJob default/gone in the file"):
        plan_from_text(text, "t.yaml", overrides=Overrides(jobs={"default/x": "default/gone"}))
    with pytest.raises(TopologyError, match="is not a cron schedule"):
        plan_from_text(text.replace("'@hourly'", "'every hour'"), "t.yaml")
