"""Envoy's outlier detection (consecutive 5xx and gateway errors), on an
injected clock.

Every response is recorded against its endpoint; a locally originated
failure (connect failure, reset, timeout -- ``status`` None) counts as a 5xx
and as a gateway error, Envoy's default when local and external errors are
not split.  Reaching a threshold ejects the endpoint at once, unless that
would eject more than ``max_ejection_percent`` of the endpoints -- the first
ejection is always allowed.  An ejection lasts ``base_ejection_time`` times
the endpoint's ejection multiplier (raised by each ejection, lowered by one
at every interval the endpoint spends healthy, capped at Envoy's 300 s), and
ends at the first interval tick after that: with the 10 s interval and 30 s
base, an endpoint comes back 30 to 40 s after its ejection.  Below
``min_health_percent`` healthy endpoints the pool panics and uses them all;
Istio's 0 means never, so with every endpoint ejected there is none
(``503 no healthy upstream``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .model import OutlierPolicy

H = TypeVar("H", bound=Hashable)
MAX_EJECTION_TIME = 300.0  # Envoy's max_ejection_time default; Istio leaves it
GATEWAY_ERRORS = (502, 503, 504)


@dataclass
class _Monitor:
    consecutive_5xx: int = 0
    consecutive_gateway: int = 0
    multiplier: int = 0
    ejected_at: float | None = None


class OutlierDetector(Generic[H]):
    """The outlier state of one endpoint set (one Envoy cluster)."""

    def __init__(self, policy: OutlierPolicy, hosts: Iterable[H], now: float):
        self.policy = policy
        self._monitors: dict[H, _Monitor] = {host: _Monitor() for host in hosts}
        self._next_tick = now + policy.interval

    def set_hosts(self, hosts: Iterable[H]) -> None:
        """The endpoint set changed: survivors keep their state."""
        self._monitors = {host: self._monitors.get(host, _Monitor()) for host in hosts}

    def record(self, host: H, status: int | None, now: float) -> bool:
        """One response (``status``) or local failure (None) of ``host``;
        True when it ejected the host."""
        self._tick(now)
        monitor = self._monitors.get(host)
        if monitor is None:
            return False
        if status is not None and status < 500:
            monitor.consecutive_5xx = monitor.consecutive_gateway = 0
            return False
        gateway = status is None or status in GATEWAY_ERRORS
        monitor.consecutive_gateway = monitor.consecutive_gateway + 1 if gateway else 0
        monitor.consecutive_5xx += 1
        policy = self.policy
        # Envoy compares with ==: a count past a refused ejection never triggers again until reset
        if policy.consecutive_gateway and monitor.consecutive_gateway == policy.consecutive_gateway:
            return self._eject(monitor, now)
        if policy.consecutive_5xx and monitor.consecutive_5xx == policy.consecutive_5xx:
            return self._eject(monitor, now)
        return False

    def _eject(self, monitor: _Monitor, now: float) -> bool:
        if monitor.ejected_at is not None:
            return False
        ejected = sum(1 for m in self._monitors.values() if m.ejected_at is not None)
        if ejected and 100 * (ejected + 1) / len(self._monitors) > self.policy.max_ejection_percent:
            return False
        monitor.ejected_at = now
        if monitor.multiplier * self.policy.base_ejection_time < MAX_EJECTION_TIME:
            monitor.multiplier += 1
        return True

    def _tick(self, now: float) -> None:
        """Run the interval timer up to ``now``: ejections that have lasted
        long enough end, healthy endpoints' multipliers decay."""
        while self._next_tick <= now:
            tick = self._next_tick
            for monitor in self._monitors.values():
                if monitor.ejected_at is None:
                    monitor.multiplier = max(0, monitor.multiplier - 1)
                    continue
                duration = min(self.policy.base_ejection_time * monitor.multiplier, MAX_EJECTION_TIME)
                if tick - monitor.ejected_at >= duration:
                    monitor.ejected_at = None
                    monitor.consecutive_5xx = monitor.consecutive_gateway = 0
            self._next_tick += self.policy.interval

    def ejected(self, now: float) -> frozenset[H]:
        self._tick(now)
        return frozenset(h for h, m in self._monitors.items() if m.ejected_at is not None)

    def available(self, hosts: Sequence[H], now: float) -> tuple[H, ...]:
        """The endpoints to balance over: the healthy ones, or all of them in
        panic (healthy share below ``min_health_percent``); empty means no
        healthy upstream."""
        out = self.ejected(now)
        healthy = tuple(h for h in hosts if h not in out)
        if hosts and 100 * len(healthy) / len(hosts) < self.policy.min_health_percent:
            return tuple(hosts)
        return healthy
