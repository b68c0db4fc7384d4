from __future__ import annotations

from dataplane.topology.pool import Pool


def test_next_hands_out_the_lowest_free_value() -> None:
    pool = Pool(10, 14, reserved={11: "router"})
    assert pool.size == 4
    assert pool.claim(12, "explicit") is None
    assert [pool.next("a"), pool.next("b"), pool.next("c"), pool.next("d")] == [10, 13, 14, None]


def test_claim_says_who_holds_a_value() -> None:
    pool = Pool(1, 5)
    assert pool.claim(3, "node-a") is None
    assert pool.claim(3, "node-b") == "node-a"


def test_keep_refuses_values_out_of_range_or_taken() -> None:
    pool = Pool(1, 5)
    assert pool.keep(2, "a")
    assert not pool.keep(2, "b")
    assert not pool.keep(9, "c")


def test_hashed_is_stable_and_probes_past_collisions() -> None:
    first = Pool(30000, 32767).hashed("default/web:80/TCP", "web")
    assert first is not None
    assert first == Pool(30000, 32767).hashed("default/web:80/TCP", "web")
    taken = Pool(30000, 32767, reserved={first: "someone"})
    assert taken.hashed("default/web:80/TCP", "web") == (30000 if first == 32767 else first + 1)
    full = Pool(1, 2, reserved={1: "x", 2: "y"})
    assert full.hashed("k", "z") is None


def test_values_set_aside_go_last() -> None:
    pool = Pool(1, 5)
    for value in (2, 4, 9):  # 9 is out of range: never handed out
        pool.set_aside(value)
    assert pool.keep(4, "survivor")
    assert [pool.next(k) for k in "abcd"] == [1, 3, 5, 2]
    assert pool.next("e") is None
    assert pool.size == 5  # set aside still counts as room
