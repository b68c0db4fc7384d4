"""Durations and host names, the scalars both APIs spell differently."""

from __future__ import annotations

import pytest

from dataplane.l7.routing.values import (
    gateway_duration,
    host_matches,
    istio_duration,
    namespace_of,
    resolve_host,
    service_fqdn,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("500ms", 0.5), ("1m30s", 90.0), ("1h", 3600.0), ("0s", 0.0), ("2m0s500ms", 120.5)],
)
def test_gateway_durations(text: str, seconds: float) -> None:
    assert gateway_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["0.5s", "1", "-1s", "1d", "1s1s1s1s1s", "123456s", ""])
def test_gateway_durations_refuse_what_gep_2257_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        gateway_duration(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5.0), ("0.5s", 0.5), ("1m30s", 90.0), ("100ms", 0.1), ("5m", 300.0), ("0", 0.0)]
)
def test_istio_durations_take_go_syntax(text: str, seconds: float) -> None:
    assert istio_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "-5s", "five", "1.5", "", "s"])
def test_istio_durations_refuse_the_rest(text: str) -> None:
    with pytest.raises(ValueError):
        istio_duration(text)


def test_short_hosts_are_services_of_the_object_namespace() -> None:
    assert resolve_host("reviews", "shop") == "reviews.shop.svc.cluster.local"
    assert resolve_host("Reviews.other.svc.cluster.local", "shop") == "reviews.other.svc.cluster.local"


def test_a_host_with_a_dot_is_taken_as_written_like_istio() -> None:
    assert resolve_host("reviews.other", "shop") == "reviews.other"


def test_wildcards() -> None:
    assert host_matches("*", "a.b.svc.cluster.local")
    assert host_matches("*.b.svc.cluster.local", "a.b.svc.cluster.local")
    assert not host_matches("*.c.svc.cluster.local", "a.b.svc.cluster.local")
    assert not host_matches("a.b.svc.cluster.local", "x.b.svc.cluster.local")


def test_namespace_of_a_service_fqdn() -> None:
    assert namespace_of(service_fqdn("reviews", "shop")) == "shop"
    assert namespace_of("example.com") is None
