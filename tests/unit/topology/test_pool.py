from __future__ import annotations

import hashlib
import random
import time

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


def test_a_full_pool_answers_at_once() -> None:
    pool = Pool(0, 65533)
    for i in range(65534):
        assert pool.hashed(f"svc-{i}", f"svc-{i}") is not None
    started = time.perf_counter()
    assert all(pool.hashed(f"late-{i}", "late") is None for i in range(20_000))
    assert time.perf_counter() - started < 1.0


def test_hashed_takes_the_first_free_value_at_or_after_the_hash_wrapping_around() -> None:
    """The skip pointers give exactly what probing one value at a time gives."""
    rng = random.Random(4)
    for _ in range(50):
        first, last = 100, 100 + rng.randint(0, 40)
        pool, naive = Pool(first, last), {}
        for value in rng.sample(range(first, last + 1), rng.randint(0, last - first)):
            pool.claim(value, "explicit")
            naive[value] = "explicit"
        for i in range(last - first + 3):
            key = f"k{i}"
            got = pool.hashed(key, key)
            span = last - first + 1
            start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % span
            expected = next((first + (start + s) % span for s in range(span) if first + (start + s) % span not in naive), None)
            assert got == expected
            if expected is not None:
                naive[expected] = key
