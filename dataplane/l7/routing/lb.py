"""Envoy's load balancers, picking one endpoint per request.

A waypoint balances per HTTP request, not per connection, so one
keep-alive client reaches several pods.  ``LEAST_REQUEST`` (Istio's
default, and what ``UNSPECIFIED`` and the deprecated ``LEAST_CONN`` mean) is
Envoy's power of two choices: two endpoints drawn at random, with
replacement, and the one with fewer requests in flight wins (the first
drawn on a tie).  ``ROUND_ROBIN`` walks the endpoints in order, ``RANDOM``
draws one uniformly.  ``PASSTHROUGH`` (forward to the address the client
asked for) has no meaning for Service traffic through a waypoint; the
DestinationRule translation warns and balances it as LEAST_REQUEST.
Endpoints are any hashable values; the caller passes the healthy ones
(``outlier.OutlierDetector.available``) and the counts of requests in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Sequence
from random import Random
from typing import Protocol, TypeVar

H = TypeVar("H", bound=Hashable)
Active = Callable[[H], int]  # requests in flight on an endpoint
HOST_SELECTION_ATTEMPTS = 5


class Balancer(Protocol):
    def pick(self, hosts: Sequence[H], active: Active[H], rng: Random) -> H: ...


class RoundRobin:
    """Stateful: the next endpoint after the one picked last time."""

    def __init__(self) -> None:
        self._next = 0

    def pick(self, hosts: Sequence[H], active: Active[H], rng: Random) -> H:
        host = hosts[self._next % len(hosts)]
        self._next = (self._next + 1) % len(hosts)
        return host


class RandomPick:
    def pick(self, hosts: Sequence[H], active: Active[H], rng: Random) -> H:
        return hosts[rng.randrange(len(hosts))]


class LeastRequest:
    """Power of two choices on requests in flight."""

    choices = 2

    def pick(self, hosts: Sequence[H], active: Active[H], rng: Random) -> H:
        best = hosts[rng.randrange(len(hosts))]
        for _ in range(self.choices - 1):
            other = hosts[rng.randrange(len(hosts))]
            if active(other) < active(best):
                best = other
        return best


def balancer(algorithm: str) -> Balancer:
    """A new balancer for a TrafficPolicy's ``load_balancer`` (one per
    endpoint set: round robin keeps its place)."""
    if algorithm == "ROUND_ROBIN":
        return RoundRobin()
    if algorithm == "RANDOM":
        return RandomPick()
    if algorithm in ("LEAST_REQUEST", "LEAST_CONN", "UNSPECIFIED"):
        return LeastRequest()
    raise ValueError(f"unknown load balancer {algorithm!r}")


def choose(
    chooser: Balancer, hosts: Sequence[H], active: Active[H], rng: Random, avoid: Collection[H] = (),
    attempts: int = HOST_SELECTION_ATTEMPTS,
) -> H:
    """A pick that avoids endpoints already tried (Istio's retry host
    predicate): up to 1 + ``attempts`` picks, the last one kept whatever it is."""
    host = chooser.pick(hosts, active, rng)
    for _ in range(attempts):
        if host not in avoid:
            break
        host = chooser.pick(hosts, active, rng)
    return host
