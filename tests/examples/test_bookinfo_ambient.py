"""The Bookinfo-shaped ambient L7 case, tested the way a platform team would:
a 90/10 split and a header match measured over real requests, a fault abort
at 75 %, DELETE denied by an L7 policy while GET passes, and the waypoint's
request counter equal to the requests sent."""

from __future__ import annotations

import math
from collections import Counter

import pytest

pytestmark = pytest.mark.dpctl_root

BOOKINFO = "topologies/bookinfo-ambient.yaml"


def _within(observed: int, n: int, p: float) -> bool:
    """Inside 4 standard deviations of a binomial(n, p): wrong by chance about once in 16,000 runs."""
    return abs(observed - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def test_bookinfo_through_its_waypoint(topology):
    shop = topology(BOOKINFO)
    reviews = "http://reviews.bookinfo:9080/"

    answers = shop.requests("bookinfo/productpage-0", reviews, count=500)
    versions = Counter(a.json()["pod"].rsplit("-", 1)[0] for a in answers)
    assert set(versions) <= {"reviews-v1", "reviews-v3"} and _within(versions["reviews-v3"], 500, 0.1), versions
    assert all(a.headers["server"] == "istio-envoy" for a in answers)

    jason = shop.requests("bookinfo/productpage-0", reviews, count=50, headers={"end-user": "jason"})
    assert {a.json()["pod"] for a in jason} == {"reviews-v2-0"}

    faults = shop.requests("bookinfo/productpage-0", "http://ratings.bookinfo:9080/", count=400,
                           headers={"x-fault": "yes"})
    aborted = [a for a in faults if a.status == 503]
    assert all(a.body == b"fault filter abort" for a in aborted) and _within(len(aborted), 400, 0.75)

    [denied] = shop.requests("bookinfo/productpage-0", reviews, method="DELETE")
    assert (denied.status, denied.body) == (403, b"RBAC: access denied")

    def served() -> float:
        return sum(
            s.value for s in shop.mesh_metrics()
            if s.name == "istio_requests_total" and s.labels["reporter"] == "waypoint"
            and s.labels["destination_service"] == "reviews.bookinfo.svc.cluster.local"
        )

    before = served()
    shop.requests("bookinfo/productpage-0", reviews, count=37)
    assert served() - before == 37
