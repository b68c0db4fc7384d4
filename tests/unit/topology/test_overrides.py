"""Live changes: scale, delete, readiness and termination, replayed on a file."""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import Overrides, plan_from_text
from dataplane.topology.plan import Plan

from .conftest import user_pods

BARE = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: client}\nspec:\n  containers: [{name: c}]\n"


def plan(
    text: str,
    previous: Plan | None = None,
    *,
    replicas: dict[str, int] | None = None,
    deleted: frozenset[str] = frozenset(),
    ready: dict[str, bool] | None = None,
    terminating: frozenset[str] = frozenset(),
) -> Plan:
    return plan_from_text(text, "t.yaml", previous, Overrides(replicas or {}, deleted, ready or {}, terminating))


def where(p: Plan) -> dict[str, tuple[str, str]]:
    """Each user pod's (node, address), by name."""
    return {pod.name: (pod.node, pod.ip) for pod in user_pods(p)}


def test_json_round_trip() -> None:
    overrides = Overrides(
        replicas={"default/web": 5},
        deleted=frozenset({"default/web-1", "default/client"}),
        ready={"default/web-0": False},
        terminating=frozenset({"default/web-2"}),
        cordoned=frozenset({"n1"}),
        shifted_zones=frozenset({"a"}),
    )
    assert Overrides.from_json(overrides.to_json()) == overrides
    assert Overrides.from_json(Overrides().to_json()) == Overrides()
    assert Overrides.from_json("{}") == Overrides()


@pytest.mark.parametrize(
    "text",
    ["[]", '{"replicas": {"default/web": "5"}}', '{"replicas": {"default/web": true}}', '{"deleted": "x"}', "{"],
)
def test_a_damaged_overrides_file_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        Overrides.from_json(text)


def test_scale_3_5_2_keeps_the_survivors_where_they_were(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology(zones="abc") + make.deployment("web", 3)
    three = plan(text)
    five = plan(text, three, replicas={"default/web": 5})
    two = plan(text, five, replicas={"default/web": 2})
    assert list(where(five)) == ["web-0", "web-1", "web-2", "web-3", "web-4"]
    assert {k: v for k, v in where(five).items() if k in where(three)} == where(three)
    assert where(two) == {k: where(three)[k] for k in ("web-0", "web-1")}  # the highest ordinals went first
    dns = [(p.key, p.node, p.ip) for p in three.pods if p.namespace == "kube-system"]
    assert [(p.key, p.node, p.ip) for p in two.pods if p.namespace == "kube-system"] == dns


def test_new_replicas_spread_over_the_zones_the_survivors_leave_free(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    text = topology(zones="abc") + make.deployment("web", 1)
    one = plan(text)
    three = plan(text, one, replicas={"default/web": 3})
    assert sorted(node for node, _ in where(three).values()) == ["node-a", "node-b", "node-c"]


def test_a_deleted_replica_is_replaced_under_a_new_name_and_address(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    text = topology(zones="abc") + make.deployment("web", 3)
    before = plan(text)
    after = plan(text, before, deleted=frozenset({"default/web-1"}))
    assert list(where(after)) == ["web-0", "web-2", "web-3"]
    assert (where(after)["web-0"], where(after)["web-2"]) == (where(before)["web-0"], where(before)["web-2"])
    # web-3 runs where web-1 ran (the zone left free) but not on web-1's address,
    # which the old pod still holds while the change rolls out
    node, address = where(after)["web-3"]
    assert node == where(before)["web-1"][0]
    assert address not in {p.ip for p in before.pods}


def test_deleted_names_are_never_used_again(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology() + make.deployment("web", 3)
    deleted = frozenset({"default/web-0", "default/web-3"})
    assert list(where(plan(text, deleted=deleted))) == ["web-1", "web-2", "web-4"]
    assert list(where(plan(text, deleted=deleted, replicas={"default/web": 2}))) == ["web-1", "web-2"]


def test_a_deleted_bare_pod_is_gone(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology() + BARE + make.deployment("web", 1)
    assert list(where(plan(text, deleted=frozenset({"default/client"})))) == ["web-0"]


def test_ready_and_terminating_replace_the_status_and_keep_the_pod(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    text = topology() + make.deployment("web", 2)
    before = plan(text)
    after = plan(text, before, ready={"default/web-0": False}, terminating=frozenset({"default/web-1"}))
    assert [(p.name, p.ready, p.terminating) for p in user_pods(after)] == [
        ("web-0", False, False),
        ("web-1", True, True),  # still there, still on its address: it is only ending
    ]
    assert where(after) == where(before)
    again = plan(text, after, ready={"default/web-0": True}, terminating=frozenset({"default/web-1"}))
    assert [(p.ready, p.terminating) for p in user_pods(again)] == [(True, False), (True, True)]


def test_the_cluster_dns_deployment_scales_like_any_other(topology: Callable[..., str]) -> None:
    p = plan(topology(), replicas={"kube-system/coredns": 3}, deleted=frozenset({"kube-system/coredns-0"}))
    assert [pod.name for pod in p.pods] == ["coredns-1", "coredns-2", "coredns-3"]


def test_overrides_naming_nothing_are_problems(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology() + make.deployment("web", 1)
    with pytest.raises(TopologyError) as raised:
        plan(
            text,
            replicas={"default/nope": 1, "default/web": -1},
            deleted=frozenset({"default/ghost"}),
            ready={"shop/web-0": False},
            terminating=frozenset({"default/web-x"}),
        )
    assert [(p.file, p.line, p.message) for p in raised.value.problems] == [
        ("t.yaml", None, "live change 'scale default/nope': no Deployment, ReplicaSet or StatefulSet default/nope in the file"),
        ("t.yaml", None, "live change 'scale default/web': replicas must not be negative, got -1"),
        (
            "t.yaml",
            None,
            "live change 'delete pod default/ghost': no pod default/ghost in the file or made by one of its controllers",
        ),
        (
            "t.yaml",
            None,
            "live change 'set ready shop/web-0': no pod shop/web-0 in the file or made by one of its controllers",
        ),
        (
            "t.yaml",
            None,
            "live change 'set terminating default/web-x': no pod default/web-x in the file or made by one of its controllers",
        ),
    ]


def test_overrides_of_a_scaled_away_pod_are_stale_not_wrong(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    text = topology() + make.deployment("web", 3)
    overrides = Overrides(replicas={"default/web": 2}, ready={"default/web-2": False})
    scaled = plan_from_text(text, "t.yaml", overrides=overrides)
    assert [p.name for p in user_pods(scaled)] == ["web-0", "web-1"]
    # pruned, web-2 comes back as a new, ready pod when scaled up again
    pruned = overrides.pruned(scaled)
    assert pruned == Overrides(replicas={"default/web": 2})
    back = plan_from_text(text, "t.yaml", overrides=Overrides(replicas={"default/web": 3}, ready=pruned.ready))
    assert all(p.ready for p in back.pods)


def test_pruning_keeps_deleted_names(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology() + make.deployment("web", 2)
    overrides = Overrides(deleted=frozenset({"default/web-0"}), terminating=frozenset({"default/web-1"}))
    p = plan_from_text(text, "t.yaml", overrides=overrides)
    assert overrides.pruned(p) == overrides


def test_a_gone_pods_address_is_reused_when_nothing_else_is_left(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    text = topology(zones="a").replace("192.168.1.0/24", "192.168.1.0/28") + make.deployment("web", 8)  # full
    before = plan(text)
    after = plan(text, before, deleted=frozenset({"default/web-1"}))
    assert where(after)["web-8"] == where(before)["web-1"]


def test_namespace_labels_changed_live_are_laid_over_the_file(topology: Callable[..., str]) -> None:
    text = topology() + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: a, istio.io/dataplane-mode: ambient}}\n"
    mode = "istio.io/dataplane-mode"
    changed = Overrides(labels={"shop": {mode: None}, "default": {mode: "ambient"}})
    plan = plan_from_text(text, "t.yaml", overrides=changed)
    labels = {ns.name: ns.labels for ns in plan.namespaces}
    assert mode not in labels["shop"] and labels["shop"]["team"] == "a"
    assert labels["default"][mode] == "ambient"
    assert Overrides.from_json(changed.to_json()) == changed
    with pytest.raises(TopologyError, match=re.escape("live change 'mesh enroll|unenroll nope': no namespace nope")):
        plan_from_text(text, "t.yaml", overrides=Overrides(labels={"nope": {mode: "ambient"}}))
