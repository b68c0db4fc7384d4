"""Zonal shifts: ARC's expiry rules, what is in force when, and the file round trip."""

from __future__ import annotations

import pytest

from dataplane.edge import zonalshift
from dataplane.edge.zonalshift import ZonalShift


@pytest.mark.parametrize(("text", "seconds"), [("120m", 7200.0), ("20h", 72000.0), ("72h", 259200.0), ("1m", 60.0)])
def test_expiry_in_minutes_or_hours(text: str, seconds: float) -> None:
    assert zonalshift.expiry_seconds(text) == seconds


@pytest.mark.parametrize("text", ["73h", "4321m", "0h", "1d", "2 h", "", "-1h"])
def test_longer_than_72_hours_or_malformed_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        zonalshift.expiry_seconds(text)


def test_a_shift_is_in_force_from_its_start_until_it_expires() -> None:
    shifts = (ZonalShift("alb-1", "a", 100.0, 200.0), ZonalShift("alb-2", "b", 100.0, 150.0))
    assert set(zonalshift.active(shifts, 120.0)) == {"alb-1", "alb-2"}
    assert set(zonalshift.active(shifts, 160.0)) == {"alb-1"}
    assert zonalshift.active(shifts, 200.0) == {}
    assert zonalshift.next_change(shifts, 120.0) == 150.0 and zonalshift.next_change(shifts, 250.0) is None
    assert zonalshift.from_json(zonalshift.to_json(shifts)) == shifts
