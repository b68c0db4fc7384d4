"""Target health as one ALB node sees it (``aws-edge.md`` §1.5, T21), driven by a fake clock."""

from __future__ import annotations

from dataplane.edge.albmodel import HealthCheck
from dataplane.lb.health import DRAINING, HEALTHY, INITIAL, UNHEALTHY, TargetHealth

A, B, C = ("10.0.0.1", 8080), ("10.0.0.2", 8080), ("10.0.0.3", 8080)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _health(delay: float = 30.0, clock: Clock | None = None) -> TargetHealth:
    health = TargetHealth(HealthCheck(healthy_threshold=2, unhealthy_threshold=2), delay, clock or Clock())
    health.register((A, B, C))
    return health


def _round(health: TargetHealth, failing: set[tuple[str, int]]) -> None:
    for target in health.checked():
        health.record(target, target not in failing)


def test_new_targets_are_routed_to_until_the_first_verdict() -> None:
    health = _health()
    assert health.states() == {A: INITIAL, B: INITIAL, C: INITIAL}
    assert health.routing() == (A, B, C)
    _round(health, set())
    assert health.states()[A] == INITIAL  # one pass is not yet healthy_threshold
    _round(health, set())
    assert health.states() == {A: HEALTHY, B: HEALTHY, C: HEALTHY}


def test_consecutive_failures_take_a_target_out_and_passes_bring_it_back() -> None:
    health = _health()
    _round(health, set())
    _round(health, set())
    _round(health, {B})
    assert health.routing() == (A, B, C)  # one failure of two
    _round(health, {B})
    assert (health.states()[B], health.routing()) == (UNHEALTHY, (A, C))
    _round(health, set())
    _round(health, {B})  # a failure between passes starts the count over
    _round(health, set())
    assert health.routing() == (A, C)
    _round(health, set())
    assert (health.states()[B], health.routing()) == (HEALTHY, (A, B, C))


def test_a_failing_initial_target_goes_straight_to_unhealthy() -> None:
    health = _health()
    health.record(C, False)
    health.record(C, False)
    assert health.states() == {A: INITIAL, B: INITIAL, C: UNHEALTHY} and health.routing() == (A, B)


def test_fail_open_when_no_target_is_healthy() -> None:
    health = _health()
    for _ in range(2):
        _round(health, {A, B})
    assert health.routing() == (C,)
    for _ in range(2):
        _round(health, {A, B, C})
    assert set(health.states().values()) == {UNHEALTHY} and health.routing() == (A, B, C)


def test_a_deregistered_target_without_requests_is_gone_at_once() -> None:
    health = _health()
    assert health.register((A, C)) == ()
    assert health.states() == {A: INITIAL, C: INITIAL} and health.routing() == (A, C)


def test_draining_keeps_in_flight_requests_until_the_last_one_finishes() -> None:
    health = _health()
    health.begin(B)
    health.begin(B)
    assert health.register((A, C)) == (B,)
    assert health.states()[B] == DRAINING and health.routing() == (A, C) and health.checked() == (A, C)
    health.record(B, False)  # a check that was under way: ignored
    health.finish(B)
    assert health.states()[B] == DRAINING
    health.finish(B)
    assert B not in health.states()


def test_the_deregistration_delay_ends_a_drain_and_names_what_to_cut() -> None:
    clock = Clock()
    health = _health(delay=30.0, clock=clock)
    health.begin(B)
    health.register((A, C))
    clock.now += 29.9
    assert health.expire() == () and health.states()[B] == DRAINING
    clock.now += 0.1
    assert health.expire() == (B,) and B not in health.states()
    health.finish(B)  # the cut request ends later: nothing left to count
    assert health.states() == {A: INITIAL, C: INITIAL}


def test_fail_open_leaves_draining_targets_out() -> None:
    health = _health()
    health.begin(C)
    health.register((A, B))
    for _ in range(2):
        _round(health, {A, B})
    assert health.routing() == (A, B)


def test_a_draining_target_registered_again_starts_over_and_keeps_its_count() -> None:
    health = _health()
    for _ in range(2):
        _round(health, set())
    health.begin(B)
    health.register((A, C))
    health.register((A, B, C))
    assert health.states()[B] == INITIAL and health.routing() == (A, B, C)
    health.register((A, C))  # its request is still in flight: it drains again
    assert health.states()[B] == DRAINING
