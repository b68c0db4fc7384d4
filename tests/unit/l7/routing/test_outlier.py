"""Outlier detection on an injected clock (case 22 and Envoy's rules)."""

from __future__ import annotations

from random import Random

from dataplane.l7.routing.lb import LeastRequest
from dataplane.l7.routing.model import OutlierPolicy
from dataplane.l7.routing.outlier import OutlierDetector

V1, V2 = "10.0.0.1:9080", "10.0.0.2:9080"


def test_case_22_one_500_ejects_v1_for_about_30_seconds() -> None:
    detector = OutlierDetector(OutlierPolicy(consecutive_5xx=1, base_ejection_time=30.0), [V1, V2], now=0.0)
    assert detector.record(V1, 500, now=1.0)
    rng, picker = Random(22), LeastRequest()
    for second in range(2, 31):
        hosts = detector.available([V1, V2], now=float(second))
        assert hosts == (V2,)
        assert picker.pick(hosts, lambda host: 0, rng) == V2
    assert detector.available([V1, V2], now=39.9) == (V2,)  # back at the first 10 s tick after 30 s
    assert detector.available([V1, V2], now=40.0) == (V1, V2)


def test_the_ejection_grows_with_each_ejection_and_decays_while_healthy() -> None:
    detector = OutlierDetector(OutlierPolicy(consecutive_5xx=1, max_ejection_percent=100), [V1], now=0.0)
    detector.record(V1, 503, now=0.5)  # multiplier 1: 30 s, ends at the 40 s tick
    assert detector.ejected(now=39.9) == frozenset({V1})
    assert detector.ejected(now=40.0) == frozenset()
    detector.record(V1, 503, now=41.0)  # multiplier 2: 60 s, ends at the 110 s tick
    assert detector.ejected(now=109.9) == frozenset({V1})
    assert detector.ejected(now=110.0) == frozenset()
    detector.ejected(now=130.0)  # ticks 120 and 130 spent healthy: multiplier back to 0
    detector.record(V1, 503, now=200.5)  # multiplier 1 again: 30 s, not 90 s
    assert detector.ejected(now=239.9) == frozenset({V1})
    assert detector.ejected(now=240.0) == frozenset()


def test_successes_reset_the_count() -> None:
    detector = OutlierDetector(OutlierPolicy(consecutive_5xx=3), [V1, V2], now=0.0)
    for status in (500, 500, 200, 500, 500):
        assert not detector.record(V1, status, now=1.0)
    assert detector.record(V1, 500, now=1.0)


def test_local_failures_count_as_gateway_errors() -> None:
    detector = OutlierDetector(OutlierPolicy(consecutive_5xx=0, consecutive_gateway=2), [V1, V2], now=0.0)
    assert not detector.record(V1, 500, now=1.0)  # a 5xx that is not a gateway error
    assert not detector.record(V1, None, now=1.0)
    assert detector.record(V1, 502, now=1.0)


def test_threshold_zero_is_off() -> None:
    detector = OutlierDetector(OutlierPolicy(consecutive_5xx=0), [V1, V2], now=0.0)
    assert not any(detector.record(V1, 500, now=1.0) for _ in range(100))


def test_max_ejection_percent_but_the_first_ejection_is_always_allowed() -> None:
    hosts = [f"10.0.0.{i}:80" for i in range(1, 5)]
    detector = OutlierDetector(OutlierPolicy(consecutive_5xx=1, max_ejection_percent=10), hosts, now=0.0)
    assert detector.record(hosts[0], 500, now=1.0)  # 25 % > 10 %, but nothing is ejected yet
    assert not detector.record(hosts[1], 500, now=1.0)
    assert detector.ejected(now=1.0) == frozenset({hosts[0]})


def test_every_host_ejected_means_no_healthy_upstream_unless_panicking() -> None:
    strict = OutlierDetector(OutlierPolicy(consecutive_5xx=1, max_ejection_percent=100), [V1, V2], now=0.0)
    strict.record(V1, 500, now=1.0)
    strict.record(V2, 500, now=1.0)
    assert strict.available([V1, V2], now=2.0) == ()
    panicking = OutlierDetector(
        OutlierPolicy(consecutive_5xx=1, max_ejection_percent=100, min_health_percent=50), [V1, V2], now=0.0
    )
    panicking.record(V1, 500, now=1.0)
    assert panicking.available([V1, V2], now=2.0) == (V2,)  # 50 % healthy is not below 50 %
    panicking.record(V2, 500, now=1.0)
    assert panicking.available([V1, V2], now=2.0) == (V1, V2)


def test_survivors_keep_their_state_when_endpoints_change() -> None:
    detector = OutlierDetector(OutlierPolicy(consecutive_5xx=1), [V1, V2], now=0.0)
    detector.record(V1, 500, now=1.0)
    detector.set_hosts([V1, "10.0.0.3:9080"])
    assert detector.ejected(now=2.0) == frozenset({V1})
    assert not detector.record(V2, 500, now=2.0)  # gone: not tracked
