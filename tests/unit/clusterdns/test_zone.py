"""The cluster zone built from a Plan: which names exist and what they hold."""

from __future__ import annotations

import dataclasses

import pytest

from dataplane.clusterdns.zone import CNAME, NS, PTR, SOA, SRV, TTL, TXT, A, Zone, build_zone
from tests.unit.clusterdns.sample import DNS_IP, WEB_IP, make_plan

SVC = "shop.svc.cluster.local"


@pytest.fixture(scope="module")
def zone() -> Zone:
    return build_zone(make_plan())


def test_cluster_ip_service_has_its_address_srv_for_named_ports_and_ptr(zone: Zone) -> None:
    assert zone.records[f"web.{SVC}"] == (A(WEB_IP),)
    assert zone.records[f"_http._tcp.web.{SVC}"] == (SRV(0, 100, 80, f"web.{SVC}"),)  # the service port
    assert not [n for n in zone.records if n.endswith(f"._udp.web.{SVC}")]  # the unnamed port has none
    assert zone.records["20.0.96.10.in-addr.arpa"] == (PTR(f"web.{SVC}"),)


def test_headless_service_lists_ready_endpoints_by_dashed_address(zone: Zone) -> None:
    assert zone.records[f"db.{SVC}"] == (A("10.0.2.5"), A("10.0.2.6"), A("10.0.2.7"))
    assert zone.records[f"10-0-2-7.db.{SVC}"] == (A("10.0.2.7"),)
    assert zone.records["5.2.0.10.in-addr.arpa"] == (PTR(f"10-0-2-5.db.{SVC}"),)


def test_headless_srv_uses_each_endpoints_own_port_and_skips_pods_without_it(zone: Zone) -> None:
    assert zone.records[f"_postgres._tcp.db.{SVC}"] == (
        SRV(0, 50, 5432, f"10-0-2-5.db.{SVC}"),
        SRV(0, 50, 5433, f"10-0-2-6.db.{SVC}"),
    )


def test_readiness_follows_endpointslice_conditions(zone: Zone) -> None:
    assert zone.records[f"web-ready.{SVC}"] == (A("10.0.1.5"),)  # not ready and terminating pods left out
    assert zone.records[f"web-all.{SVC}"] == (A("10.0.1.5"), A("10.0.1.6"), A("10.0.1.7"))  # publishNotReady
    assert not zone.exists(f"10-0-1-6.web-ready.{SVC}")
    # One address in two headless Services: one PTR for each.
    assert set(zone.records["5.1.0.10.in-addr.arpa"]) == {
        PTR(f"10-0-1-5.web-ready.{SVC}"),
        PTR(f"10-0-1-5.web-all.{SVC}"),
    }


def test_headless_without_endpoints_and_without_selector_do_not_exist(zone: Zone) -> None:
    assert not zone.exists(f"nobody.{SVC}")
    assert not zone.exists(f"manual.{SVC}")


def test_external_name_is_a_cname(zone: Zone) -> None:
    assert zone.records[f"ext.{SVC}"] == (CNAME("db.example.com"),)


def test_pod_records_only_for_pods_of_that_namespace(zone: Zone) -> None:
    assert zone.records["10-0-1-6.shop.pod.cluster.local"] == (A("10.0.1.6"),)
    assert zone.records["10-0-3-5.default.pod.cluster.local"] == (A("10.0.3.5"),)
    assert not zone.exists("10-0-3-5.shop.pod.cluster.local")
    assert not zone.exists("10-9-9-9.shop.pod.cluster.local")


def test_apex_version_and_name_server(zone: Zone) -> None:
    soa, ns = zone.records["cluster.local"]
    assert isinstance(soa, SOA) and soa == zone.soa
    assert (soa.mname, soa.rname, soa.minimum) == ("ns.dns.cluster.local", "hostmaster.cluster.local", TTL)
    assert ns == NS("ns.dns.cluster.local")
    assert zone.records["ns.dns.cluster.local"] == (A(DNS_IP),)
    assert zone.records["dns-version.cluster.local"] == (TXT("1.1.0"),)


def test_empty_non_terminals_and_empty_namespaces_exist(zone: Zone) -> None:
    for name in ("svc.cluster.local", SVC, "empty.svc.cluster.local", "empty.pod.cluster.local", f"_tcp.db.{SVC}"):
        assert zone.exists(name), name
        assert name not in zone.records
    assert not zone.exists("nowhere.svc.cluster.local")


def test_authority_covers_the_domain_and_cluster_reverse_names_only(zone: Zone) -> None:
    assert zone.is_authoritative("anything.cluster.local")
    assert zone.is_authoritative("20.0.96.10.in-addr.arpa")
    assert not zone.is_authoritative("8.8.8.8.in-addr.arpa")
    assert not zone.is_authoritative("example.com")
    assert not zone.is_authoritative("notcluster.local")


def test_same_plan_same_zone_and_the_serial_follows_changes(zone: Zone) -> None:
    assert build_zone(make_plan()) == zone
    plan = make_plan()
    moved = dataclasses.replace(plan.services[0], cluster_ip="10.96.0.21")
    changed = build_zone(dataclasses.replace(plan, services=(moved, *plan.services[1:])))
    assert changed.records[f"web.{SVC}"] == (A("10.96.0.21"),)
    assert changed.soa.serial != zone.soa.serial
