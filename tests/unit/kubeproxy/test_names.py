"""Object names match kube-proxy's, hash for hash (vectors from the reference notes)."""

from __future__ import annotations

import pytest

from dataplane.kubeproxy.names import MAX_NAME, hashed_name, port_label, service_port_names
from dataplane.topology.plan import ServicePort

from .plans import service


@pytest.mark.parametrize(
    ("base", "digest"),
    [
        ("ns1/svc1/tcp/p80", "ULMVA6XW"),
        ("ns2/svc2/tcp/p80", "42NFTM6N"),
        ("ns3/svc3/tcp/p80", "4AT6LBPK"),
        ("ns4/svc4/tcp/p80", "LAUZTJTB"),
        ("ns5/svc5/tcp/p80", "HVFWP5L3"),
        ("ns2/svc2/tcp/p8080", "MHHHYRWA"),
        ("testing/service/tcp/http", "P4ZYZVCF"),
        ("testing/service/tcp/https", "LZBRENCP"),
        ("ns1/svc1/tcp/p80__10.180.0.1/80", "5OJB2KTY"),
        ("ns5/svc5/tcp/p80__10.180.0.3/80", "GTK6MW7G"),
        ("testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80", "U7E2ET36"),
    ],
)
def test_hash_vectors(base: str, digest: str) -> None:
    assert hashed_name("service-", base) == f"service-{digest}-{base}"


def test_names_of_a_service_port() -> None:
    names = service_port_names(service("svc1", "10.96.0.1", namespace="ns1"), ServicePort(80, "TCP", "p80"))
    assert names.base == "ns1/svc1/tcp/p80"
    assert names.service == "service-ULMVA6XW-ns1/svc1/tcp/p80"
    assert names.local == "local-ULMVA6XW-ns1/svc1/tcp/p80"
    assert names.external == "external-ULMVA6XW-ns1/svc1/tcp/p80"
    assert names.firewall == "firewall-ULMVA6XW-ns1/svc1/tcp/p80"
    assert names.endpoint("10.180.0.1", 80) == "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    assert names.affinity("10.180.0.1", 80) == "affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"


def test_unnamed_port() -> None:
    svc = service("web", "10.96.0.1")
    port = ServicePort(80, "UDP")
    assert service_port_names(svc, port).base == "shop/web/udp/"
    assert port_label(svc, port) == "shop/web"
    assert port_label(svc, ServicePort(80, "TCP", "http")) == "shop/web:http"


def test_long_names_are_cut() -> None:
    name = hashed_name("endpoint-", "x" * 300)
    assert len(name) == MAX_NAME
    assert name.endswith("...")
