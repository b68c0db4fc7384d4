"""What a reconcile opens and closes, and what the ready file then says."""

from __future__ import annotations

from dataplane.agent import reconcile
from dataplane.agent.ready import Ready
from dataplane.agent.reconcile import Changes, Served
from dataplane.topology.plan import Container
from tests.unit.agent.samples import HTTP, UDP_ECHO, pod

A, B, C = pod("a", "192.168.10.5"), pod("b", "192.168.10.6"), pod("c", "192.168.10.7")


def test_start_up_opens_every_pod_in_plan_order() -> None:
    assert reconcile.changes({}, [B, A]) == Changes(closing=(), opening=(B, A))


def test_a_pod_gone_from_the_plan_is_closed_and_a_new_one_opened() -> None:
    assert reconcile.changes({"shop/a": A, "shop/b": B}, [B, C]) == Changes(closing=("shop/a",), opening=(C,))


def test_unchanged_pods_are_left_alone() -> None:
    assert reconcile.changes({"shop/a": A, "shop/b": B}, [A, B]) == Changes((), ())


def test_labels_annotations_and_readiness_keep_the_sockets() -> None:
    relabelled = pod("a", labels={"istio.io/dataplane-mode": "ambient"}, annotations={"x": "y"}, ready=False)
    assert reconcile.changes({"shop/a": A}, [relabelled]) == Changes((), ())


def test_a_pod_whose_shape_changed_is_reopened() -> None:
    moved = pod("a", "192.168.10.9")
    more_ports = pod("a", containers=(Container("app", (HTTP, UDP_ECHO)),))
    with_command = pod("a", containers=(Container("app", (HTTP,), ("sleep", "1")),))
    for new in (moved, more_ports, with_command, pod("a", netns="dp-t.shop.a2")):
        assert reconcile.changes({"shop/a": A}, [new]) == Changes(("shop/a",), (new,))


def test_a_pod_that_failed_to_open_is_tried_again() -> None:
    # it never made it into the served pods, so it is still wanted and not served
    assert reconcile.changes({"shop/a": A}, [A, B]) == Changes((), (B,))


def test_closing_keeps_the_served_order() -> None:
    assert reconcile.changes({"shop/c": C, "shop/a": A, "shop/b": B}, []).closing == ("shop/c", "shop/a", "shop/b")


def test_served_shape() -> None:
    assert reconcile.served_shape(None) is None
    assert reconcile.served_shape(A) == ("dp-t.shop.a", "192.168.10.5", A.containers)


def test_ready_state_sums_up_every_served_pod() -> None:
    state = reconcile.ready_state(
        pid=4242,
        node="a1",
        generation=3,
        plan_digest="ab12",
        served={
            "shop/b": Served(sockets=2, workloads={"shop/b/app": 101}, exited={}),
            "shop/a": Served(sockets=1, workloads={}, exited={"shop/a/job": 0}),
        },
        errors=["shop/c: bind 0.0.0.0:80/TCP: Address already in use"],
    )
    assert state == Ready(
        pid=4242,
        node="a1",
        generation=3,
        plan="ab12",
        pods=["shop/a", "shop/b"],
        sockets=3,
        workloads={"shop/b/app": 101},
        errors=["shop/c: bind 0.0.0.0:80/TCP: Address already in use"],
        exited={"shop/a/job": 0},
    )


def test_ready_state_of_a_node_without_pods() -> None:
    state = reconcile.ready_state(pid=1, node="b1", generation=0, plan_digest="", served={}, errors=[])
    assert state == Ready(pid=1, node="b1", generation=0, plan="", pods=[], sockets=0)
