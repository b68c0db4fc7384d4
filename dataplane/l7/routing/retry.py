"""Retries as Envoy runs them with the policies Istio writes.

Policies: a configured route without ``retries`` gets Istio's default (2
retries on connect-failure, refused-stream, unavailable, cancelled and
retriable-status-codes with no codes, so no status is retried); a Service
with no route at all gets the waypoint's inbound default (2 retries on
reset-before-request, none for gRPC).  ``attempts`` counts retries, so a
request is sent at most 1 + attempts times, and ``attempts: 0`` disables.

Decisions: whether one try's outcome is retried (``retriable``), the wait
before retry *n* (``backoff``: Envoy's fully jittered exponential back-off,
uniform in [0, (2^n - 1) x base) milliseconds, capped at 10 x base), and
``RetryState``, which a runtime loop asks after every try.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from .model import RetryPolicy

ROUTE_DEFAULT_ON = ("connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes")
CONDITIONS = frozenset(
    {
        "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
        "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
        "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted",
        "unavailable",
    }
)
GRPC_CONDITIONS = {"cancelled": 1, "deadline-exceeded": 4, "resource-exhausted": 8, "internal": 13, "unavailable": 14}
GATEWAY_ERRORS = (502, 503, 504)
MAX_BACKOFF_FACTOR = 10  # Envoy: max interval defaults to 10 x base

# which retryOn conditions retry each kind of reset (per-try timeouts count as resets)
_RESET_RETRIED_BY = {
    "connect-failure": {"connect-failure", "reset", "reset-before-request", "5xx", "gateway-error"},
    "reset-before-request": {"reset", "reset-before-request", "5xx", "gateway-error"},
    "refused-stream": {"refused-stream", "reset", "5xx", "gateway-error"},
    "reset": {"reset", "5xx", "gateway-error"},
    "timeout": {"reset", "5xx", "gateway-error"},
    "overflow": set(),  # Envoy never retries a circuit-breaker overflow
}
RESETS = tuple(_RESET_RETRIED_BY)


def route_default() -> RetryPolicy:
    return RetryPolicy(attempts=2, retry_on=ROUTE_DEFAULT_ON)


def inbound_default(grpc: bool) -> RetryPolicy | None:
    return None if grpc else RetryPolicy(attempts=2, retry_on=("reset-before-request",))


def parse_retry_on(text: str) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
    """(conditions, status codes, unknown words) of a retryOn string.  As in
    Istio, integers are status codes, and listing one adds
    ``retriable-status-codes`` when missing."""
    conditions: list[str] = []
    codes: list[int] = []
    unknown: list[str] = []
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        if word.isdigit() and 100 <= int(word) <= 599:
            codes.append(int(word))
        elif word in CONDITIONS:
            conditions.append(word)
        else:
            unknown.append(word)
    if codes and "retriable-status-codes" not in conditions:
        conditions.append("retriable-status-codes")
    return tuple(conditions), tuple(codes), tuple(unknown)


@dataclass(frozen=True)
class Outcome:
    """What one try ended with: a response ``status`` (and its gRPC status,
    if any), or a ``reset`` -- one of ``RESETS``."""

    status: int | None = None
    reset: str | None = None
    grpc_status: int | None = None


def retriable(policy: RetryPolicy, outcome: Outcome) -> bool:
    """Would Envoy retry this outcome under ``policy`` (attempts aside)?"""
    on = set(policy.retry_on)
    if outcome.reset is not None:
        return bool(on & _RESET_RETRIED_BY[outcome.reset])
    status = outcome.status
    if status is None:
        return False
    if "5xx" in on and status >= 500:
        return True
    if "gateway-error" in on and status in GATEWAY_ERRORS:
        return True
    if "retriable-4xx" in on and status == 409:
        return True
    if "retriable-status-codes" in on and status in policy.status_codes:
        return True
    return outcome.grpc_status is not None and any(
        GRPC_CONDITIONS.get(condition) == outcome.grpc_status for condition in on
    )


def backoff(retry: int, policy: RetryPolicy, rng: Random) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first).

    Envoy keeps raising the exponent only while (2^n - 1) x base stays
    within the cap, then draws ``random % ceiling`` milliseconds and caps
    the draw, exactly as its JitteredExponentialBackOffStrategy does."""
    base = max(1, round(policy.backoff_base * 1000))
    cap = MAX_BACKOFF_FACTOR * base
    exponent = 1
    for _ in range(retry - 1):
        if ((1 << exponent) - 1) * base <= cap:
            exponent += 1
    ceiling = ((1 << exponent) - 1) * base
    return min(rng.randrange(ceiling), cap) / 1000


class RetryState:
    """One request's retries.  After each try, ``after(outcome)`` answers
    the seconds to wait before trying again, or None: the outcome is final.
    ``limit_exceeded`` then tells whether a retry was wanted but none was
    left (Envoy's ``URX`` flag)."""

    def __init__(self, policy: RetryPolicy | None):
        self.policy = policy
        self.retries = 0
        self.limit_exceeded = False

    def after(self, outcome: Outcome, rng: Random) -> float | None:
        if self.policy is None or not retriable(self.policy, outcome):
            return None
        if self.retries >= self.policy.attempts:
            self.limit_exceeded = True
            return None
        self.retries += 1
        return backoff(self.retries, self.policy, rng)
