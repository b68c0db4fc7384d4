"""Zonal shifts (Amazon Application Recovery Controller) on the emulated load balancers.

A shift moves one zone away from one load balancer until it expires or is
cancelled (``aws-edge.md`` §5): its nodes in that zone leave the DNS answers
at once -- new connections go to the other zones -- while established
connections are not cut.  Every shift needs an expiry of at most 72 hours
when it starts (ARC's ``expiresIn``: minutes or hours, e.g. ``120m``,
``20h``); one shift per resource, a new one replacing the old.  Times are
passed in; shifts are stored as one JSON file, written whole by the caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

MAX_EXPIRY = 72 * 3600.0
_EXPIRES = re.compile(r"([1-9][0-9]*)([mh])")


@dataclass(frozen=True)
class ZonalShift:
    resource: str  # the load balancer's name
    zone: str  # the zone moved away
    started_at: float  # epoch seconds
    expires_at: float


def expiry_seconds(text: str) -> float:
    """ARC's ``expiresIn`` (``<n>m`` or ``<n>h``) in seconds; ValueError past 72 hours or malformed."""
    match = _EXPIRES.fullmatch(text)
    if match is None:
        raise ValueError(f"expected minutes or hours such as 120m or 20h, got {text!r}")
    seconds = int(match.group(1)) * (60 if match.group(2) == "m" else 3600)
    if seconds > MAX_EXPIRY:
        raise ValueError(f"{text} is longer than 72 hours, the longest a zonal shift may start with")
    return float(seconds)


def active(shifts: Iterable[ZonalShift], now: float) -> dict[str, ZonalShift]:
    """The shifts in force at ``now``, by resource."""
    return {s.resource: s for s in shifts if s.started_at <= now < s.expires_at}


def next_change(shifts: Iterable[ZonalShift], now: float) -> float | None:
    """When the next active shift expires (when answers must change again), if any."""
    ends = [s.expires_at for s in shifts if s.expires_at > now]
    return min(ends) if ends else None


def to_json(shifts: Iterable[ZonalShift]) -> str:
    return json.dumps([asdict(s) for s in shifts], indent=1, sort_keys=True) + "\n"


def from_json(text: str) -> tuple[ZonalShift, ...]:
    return tuple(ZonalShift(**item) for item in json.loads(text))


def load(path: Path) -> tuple[ZonalShift, ...]:
    """The shifts file; none when it is absent or unreadable (it is only ever written whole)."""
    try:
        return from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return ()
