"""Load balancers with a seeded Random and explicit in-flight counts."""

from __future__ import annotations

from collections import Counter
from random import Random

import pytest

from dataplane.l7.routing.lb import LeastRequest, RandomPick, RoundRobin, balancer, choose

HOSTS = ("a", "b", "c")


def idle(host: str) -> int:
    return 0


def test_round_robin_walks_in_order() -> None:
    picker = RoundRobin()
    assert [picker.pick(HOSTS, idle, Random(0)) for _ in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]


def test_round_robin_survives_a_shrinking_set() -> None:
    picker = RoundRobin()
    picker.pick(HOSTS, idle, Random(0))
    picker.pick(HOSTS, idle, Random(0))
    assert picker.pick(("a", "b"), idle, Random(0)) in ("a", "b")


def test_random_is_roughly_uniform() -> None:
    rng, picker = Random(5), RandomPick()
    seen = Counter(picker.pick(HOSTS, idle, rng) for _ in range(3000))
    assert all(900 < seen[h] < 1100 for h in HOSTS)


def test_least_request_prefers_the_less_busy_of_two_draws() -> None:
    busy = {"a": 10, "b": 0, "c": 10}
    rng, picker = Random(7), LeastRequest()
    seen = Counter(picker.pick(HOSTS, busy.__getitem__, rng) for _ in range(3000))
    # "b" loses only when both draws miss it: (2/3)^2 of the time
    assert 1 - 4 / 9 - 0.05 < seen["b"] / 3000 < 1 - 4 / 9 + 0.05


def test_least_request_with_equal_load_spreads_evenly() -> None:
    rng, picker = Random(9), LeastRequest()
    seen = Counter(picker.pick(HOSTS, idle, rng) for _ in range(3000))
    assert all(900 < seen[h] < 1100 for h in HOSTS)


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [("ROUND_ROBIN", RoundRobin), ("RANDOM", RandomPick), ("LEAST_REQUEST", LeastRequest),
     ("LEAST_CONN", LeastRequest), ("UNSPECIFIED", LeastRequest)],
)
def test_balancer_names(algorithm: str, kind: type) -> None:
    assert isinstance(balancer(algorithm), kind)


def test_an_unknown_balancer_is_an_error() -> None:
    with pytest.raises(ValueError):
        balancer("MAGLEV")


def test_retries_avoid_hosts_already_tried() -> None:
    rng = Random(1)
    picks = Counter(choose(RandomPick(), HOSTS, idle, rng, avoid={"a", "b"}) for _ in range(1000))
    assert picks["c"] > 900  # six draws all missing "c" is (2/3)^6, under 9 %


def test_with_every_host_tried_the_last_pick_is_kept() -> None:
    assert choose(RoundRobin(), ("a",), idle, Random(0), avoid={"a"}) == "a"
