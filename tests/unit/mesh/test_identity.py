from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from dataplane.mesh.identity import InvalidSpiffeId, SpiffeId, pod_identity


def test_format_and_parse_round_trip() -> None:
    ident = SpiffeId("cluster.local", "shop", "backend")
    assert str(ident) == "spiffe://cluster.local/ns/shop/sa/backend"
    assert SpiffeId.parse(str(ident)) == ident


def test_service_account_may_hold_dots() -> None:
    assert SpiffeId.parse("spiffe://corp.example/ns/a/sa/b.c").service_account == "b.c"


@pytest.mark.parametrize(
    "uri",
    [
        "https://cluster.local/ns/a/sa/b",
        "spiffe://cluster.local/ns/a/sa/b/",
        "spiffe://cluster.local/ns/a/sa",
        "spiffe://cluster.local/sa/b/ns/a",
        "spiffe://cluster.local/ns/A/sa/b",
        "spiffe://Cluster.Local/ns/a/sa/b",
        "spiffe:///ns/a/sa/b",
        "spiffe://cluster.local/ns//sa/b",
        "spiffe://cluster.local/ns/a/sa/b?x=1",
        "spiffe://cluster.local/ns/a-/sa/b",
    ],
)
def test_parse_refuses_malformed(uri: str) -> None:
    with pytest.raises(InvalidSpiffeId):
        SpiffeId.parse(uri)


def test_constructor_validates() -> None:
    with pytest.raises(InvalidSpiffeId):
        SpiffeId("cluster.local", "x" * 64, "sa")


def test_pod_identity_is_the_service_account_in_the_trust_domain_not_the_dns_domain() -> None:
    # Istio's meshConfig.trustDomain is cluster.local whatever the cluster's DNS domain is
    plan = cast(Any, SimpleNamespace(cluster_domain="corp.internal", trust_domain="cluster.local"))
    pod = cast(Any, SimpleNamespace(namespace="shop", service_account="cart"))
    identity = pod_identity(plan, pod)
    assert str(identity) == "spiffe://cluster.local/ns/shop/sa/cart"
    assert identity.principal == "cluster.local/ns/shop/sa/cart"
