"""Target health of one target group as one ALB node sees it: a state machine, no I/O.

The ALB's rules (``aws-edge.md`` §1.5), and the choices where they leave room:

* a registered target starts ``initial``; ``healthy_threshold`` consecutive
  passed checks make it ``healthy``, ``unhealthy_threshold`` consecutive
  failures ``unhealthy``, from any state, and the opposite count starts over;
* an ``initial`` target gets traffic as a healthy one does until its first
  verdict.  AWS sends to ``initial`` targets only when nothing is healthy,
  but the controller registers a pod only once it is Ready, so the pod has
  already passed its own probe; sending to it at once keeps a fresh
  emulation (or a scaled Deployment) serving from the first request instead
  of answering 503 for two check intervals;
* the routing set is the healthy (and initial) targets, or -- **fail open**
  -- every registered target that is not draining when none is;
* a deregistered target is ``draining``: no new requests, its in-flight
  ones carry on.  The drain ends when the last of them finishes, or when
  ``deregistration_delay`` has passed, whichever is first; the caller cuts
  what is still in flight then (``expire``).  A draining target that is
  registered again starts over as ``initial``.

The clock is injected so that tests can drive time; the caller runs the
checks and reports each result (``record``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dataplane.edge.albmodel import HealthCheck

Address = tuple[str, int]

INITIAL = "initial"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
DRAINING = "draining"


@dataclass
class _Target:
    state: str = INITIAL
    passes: int = 0  # consecutive
    failures: int = 0  # consecutive
    in_flight: int = 0
    drained_by: float = 0.0  # while draining: when the deregistration delay ends


class TargetHealth:
    def __init__(self, check: HealthCheck, deregistration_delay: float, clock: Callable[[], float] = time.monotonic):
        self.check = check
        self.deregistration_delay = deregistration_delay
        self._clock = clock
        self._targets: dict[Address, _Target] = {}  # registration order

    def register(self, targets: Iterable[Address]) -> tuple[Address, ...]:
        """Make ``targets`` the registered set: new ones start ``initial``, the
        others begin to drain.  Returns the targets left draining with
        requests in flight: call ``expire`` once the delay has passed."""
        wanted = dict.fromkeys(targets)
        for address in wanted:
            known = self._targets.get(address)
            if known is None:
                self._targets[address] = _Target()
            elif known.state == DRAINING:
                self._targets[address] = _Target(in_flight=known.in_flight)
        draining = []
        for address, target in list(self._targets.items()):
            if address in wanted or target.state == DRAINING:
                continue
            if target.in_flight == 0:
                del self._targets[address]
                continue
            target.state, target.drained_by = DRAINING, self._clock() + self.deregistration_delay
            draining.append(address)
        return tuple(draining)

    def record(self, address: Address, passed: bool) -> None:
        """One check's result; ignored for a target no longer registered or draining."""
        target = self._targets.get(address)
        if target is None or target.state == DRAINING:
            return
        if passed:
            target.passes, target.failures = target.passes + 1, 0
            if target.passes >= self.check.healthy_threshold:
                target.state = HEALTHY
        else:
            target.passes, target.failures = 0, target.failures + 1
            if target.failures >= self.check.unhealthy_threshold:
                target.state = UNHEALTHY

    def routing(self) -> tuple[Address, ...]:
        """Where new requests go: healthy and initial targets, else every registered one (fail open)."""
        live = [address for address, target in self._targets.items() if target.state != DRAINING]
        return tuple(a for a in live if self._targets[a].state != UNHEALTHY) or tuple(live)

    def checked(self) -> tuple[Address, ...]:
        """The targets a health check round goes to: every registered one not draining."""
        return tuple(a for a, target in self._targets.items() if target.state != DRAINING)

    def begin(self, address: Address) -> None:
        """A request was sent to ``address`` (one of ``routing()``)."""
        self._targets[address].in_flight += 1

    def finish(self, address: Address) -> None:
        """A request to ``address`` ended; the last one ends a drain.  A target
        already dropped (its drain expired) is ignored."""
        target = self._targets.get(address)
        if target is None:
            return
        target.in_flight -= 1
        if target.state == DRAINING and target.in_flight == 0:
            del self._targets[address]

    def expire(self) -> tuple[Address, ...]:
        """Drop the draining targets whose deregistration delay has passed;
        returns them: their requests still in flight are to be cut."""
        now = self._clock()
        over = tuple(a for a, t in self._targets.items() if t.state == DRAINING and now >= t.drained_by)
        for address in over:
            del self._targets[address]
        return over

    def states(self) -> dict[Address, str]:
        """Each target's state, in registration order (for ``dpctl get targets`` and tests)."""
        return {address: target.state for address, target in self._targets.items()}
