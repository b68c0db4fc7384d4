"""Retries: which outcomes are retried, how many tries (1 + attempts), and
Envoy's jittered back-off."""

from __future__ import annotations

from random import Random

import pytest

from dataplane.l7.routing import table
from dataplane.l7.routing.model import Attachment, RetryPolicy
from dataplane.l7.routing.retry import Outcome, RetryState, backoff, parse_retry_on, retriable, route_default

from .helpers import PARENT, REVIEWS, get, http_route, virtual_service


def hits_until_final(policy: RetryPolicy | None, responses: list[int]) -> tuple[int, int]:
    """Drive a RetryState against a backend answering ``responses`` in turn
    (the last one forever): (backend hits, final status)."""
    state, rng, hits = RetryState(policy), Random(0), 0
    while True:
        status = responses[min(hits, len(responses) - 1)]
        hits += 1
        if state.after(Outcome(status=status), rng) is None:
            return hits, status


def policy_of(attachments: tuple[Attachment, ...]) -> RetryPolicy | None:
    route = table.build(REVIEWS, 9080, attachments).select(get())
    assert route is not None
    return route.retry


def test_case_18_virtualservice_attempts_3_on_5xx_gives_503_after_4_hits() -> None:
    policy = policy_of(virtual_service("""
hosts: [reviews]
http: [{route: [{destination: {host: reviews-v1}}], retries: {attempts: 3, retryOn: 5xx}}]
"""))
    assert hits_until_final(policy, [503]) == (4, 503)


def test_case_18_httproute_attempts_2_codes_503_gives_200_on_the_third_hit() -> None:
    policy = policy_of(http_route(PARENT + """
rules: [{backendRefs: [{name: reviews-v1, port: 9080}], retry: {attempts: 2, codes: [503]}}]
"""))
    assert hits_until_final(policy, [503, 503, 200]) == (3, 200)


def test_the_route_default_never_retries_a_status() -> None:
    assert hits_until_final(route_default(), [503]) == (1, 503)


def test_the_limit_is_reported_for_urx() -> None:
    state = RetryState(RetryPolicy(1, ("5xx",)))
    rng = Random(0)
    assert state.after(Outcome(status=500), rng) is not None
    assert state.after(Outcome(status=500), rng) is None and state.limit_exceeded
    fresh = RetryState(RetryPolicy(1, ("5xx",)))
    assert fresh.after(Outcome(status=200), rng) is None and not fresh.limit_exceeded


@pytest.mark.parametrize(
    ("retry_on", "outcome", "expected"),
    [
        ("5xx", Outcome(status=500), True),
        ("5xx", Outcome(status=404), False),
        ("5xx", Outcome(reset="connect-failure"), True),
        ("5xx", Outcome(reset="timeout"), True),
        ("gateway-error", Outcome(status=500), False),
        ("gateway-error", Outcome(status=504), True),
        ("connect-failure", Outcome(reset="connect-failure"), True),
        ("connect-failure", Outcome(reset="reset"), False),
        ("refused-stream", Outcome(reset="refused-stream"), True),
        ("reset", Outcome(reset="reset"), True),
        ("reset", Outcome(reset="timeout"), True),
        ("reset-before-request", Outcome(reset="reset-before-request"), True),
        ("reset-before-request", Outcome(reset="connect-failure"), True),
        ("reset-before-request", Outcome(reset="reset"), False),
        ("5xx,reset,connect-failure", Outcome(reset="overflow"), False),
        ("retriable-4xx", Outcome(status=409), True),
        ("409", Outcome(status=409), True),
        ("unavailable", Outcome(status=200, grpc_status=14), True),
        ("cancelled", Outcome(status=200, grpc_status=14), False),
    ],
)
def test_retriable(retry_on: str, outcome: Outcome, expected: bool) -> None:
    conditions, codes, unknown = parse_retry_on(retry_on)
    assert unknown == ()
    assert retriable(RetryPolicy(2, conditions, codes), outcome) is expected


def test_retry_on_integers_are_status_codes() -> None:
    assert parse_retry_on("5xx, 503,bogus") == (("5xx", "retriable-status-codes"), (503,), ("bogus",))


def test_backoff_is_jittered_exponential_capped_at_ten_times_the_base() -> None:
    policy = RetryPolicy(10, ("5xx",))
    rng = Random(3)
    ceilings = {n: max(backoff(n, policy, rng) for _ in range(2000)) for n in range(1, 6)}
    assert 0.020 < ceilings[1] < 0.025
    assert 0.070 < ceilings[2] < 0.075
    assert 0.170 < ceilings[3] < 0.175
    assert ceilings[4] == ceilings[5] == 0.25  # (2^4 - 1) x 25 ms is past the cap
    assert min(backoff(1, policy, rng) for _ in range(2000)) == 0.0
