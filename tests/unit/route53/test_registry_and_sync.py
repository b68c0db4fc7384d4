"""ExternalDNS's records in Route 53 (``aws-edge.md`` §3): T29's record sets and
TXT names, and T30's ownership and policies across two reconciles."""

from __future__ import annotations

import dataclasses

from dataplane.route53 import registry
from dataplane.route53.records import Endpoint, HostedZone, Record, zones_from_json, zones_to_json
from dataplane.route53.settings import Settings
from dataplane.route53.sync import carried, reconcile

ELB = "k8s-shop-shop-0b6553f432-9828115014.us-east-1.elb.amazonaws.com"
APP = Endpoint("app.example.com", "CNAME", (ELB,), "ingress/shop/app")
C1 = Settings(sources=("ingress",), policy="sync", owner_id="c1")
ZONE = HostedZone("example.com")
VALUE = '"heritage=external-dns,external-dns/owner=c1,external-dns/resource=ingress/shop/app"'


def _records(zones: tuple[HostedZone, ...]) -> dict[tuple[str, str], Record]:
    [zone] = zones
    return {r.key: r for r in zone.records}


def test_t29_an_alb_hostname_becomes_alias_a_and_aaaa_with_their_txt() -> None:
    records = _records(reconcile((ZONE,), C1, [APP]))
    assert set(records) == {("app.example.com", "A"), ("app.example.com", "AAAA"),
                            ("a-app.example.com", "TXT"), ("aaaa-app.example.com", "TXT")}
    alias = records[("app.example.com", "A")]
    assert (alias.alias, alias.evaluate_target_health, alias.ttl, alias.values) == (ELB, True, None, ())
    assert records[("a-app.example.com", "TXT")].values == (VALUE,)


def test_t29_prefer_cname_makes_a_cname_and_its_txt() -> None:
    records = _records(reconcile((ZONE,), dataclasses.replace(C1, prefer_cname=True), [APP]))
    assert set(records) == {("app.example.com", "CNAME"), ("cname-app.example.com", "TXT")}
    assert records[("app.example.com", "CNAME")].values == (ELB,)
    assert records[("app.example.com", "CNAME")].ttl == 300


def test_txt_names_with_prefix_suffix_and_record_type_template() -> None:
    assert registry.txt_name(C1, "app.example.com", "A") == "a-app.example.com"
    assert registry.txt_name(dataclasses.replace(C1, txt_prefix="x-"), "app.example.com", "A") == "x-a-app.example.com"
    assert registry.txt_name(dataclasses.replace(C1, txt_suffix="-x"), "app.example.com", "A") == "a-app-x.example.com"
    templated = dataclasses.replace(C1, txt_prefix="%{record_type}.reg.")
    assert registry.txt_name(templated, "example.com", "AAAA") == "aaaa.reg.example.com"
    assert registry.txt_name(C1, "app.example.com", "CNAME") == "cname-app.example.com"


def _with_c2(zone: HostedZone) -> HostedZone:
    foreign = (
        Record("other.example.com", "A", 60, ("198.51.100.50",)),
        Record("a-other.example.com", "TXT", 300,
               ('"heritage=external-dns,external-dns/owner=c2,external-dns/resource=ingress/x/other"',)),
    )
    return dataclasses.replace(zone, records=foreign)


def test_t30_sync_deletes_its_own_records_and_never_the_other_owners() -> None:
    other = Endpoint("other.example.com", "A", ("203.0.113.9",), "service/shop/api")
    first = reconcile((_with_c2(ZONE),), C1, [APP, other])
    assert _records(first)[("other.example.com", "A")].values == ("198.51.100.50",)  # c2's: not updated
    assert ("other.example.com", "AAAA") not in _records(first)  # nor anything added beside it
    second = reconcile(first, C1, [])
    assert set(_records(second)) == {("other.example.com", "A"), ("a-other.example.com", "TXT")}


def test_t30_upsert_only_keeps_its_records_and_create_only_never_updates() -> None:
    upsert = dataclasses.replace(C1, policy="upsert-only")
    kept = reconcile(reconcile((ZONE,), upsert, [APP]), upsert, [])
    assert ("app.example.com", "A") in _records(kept) and ("a-app.example.com", "TXT") in _records(kept)
    moved = Endpoint("app.example.com", "A", ("203.0.113.7",), "service/shop/app")
    create = dataclasses.replace(C1, policy="create-only")
    first = reconcile((ZONE,), create, [moved])
    again = reconcile(first, create, [dataclasses.replace(moved, targets=("203.0.113.8",))])
    assert _records(again)[("app.example.com", "A")].values == ("203.0.113.7",)
    updated = reconcile(first, C1, [dataclasses.replace(moved, targets=("203.0.113.8",))])
    assert _records(updated)[("app.example.com", "A")].values == ("203.0.113.8",)


def test_a_record_without_txt_is_nobodys_to_change_and_domain_filter_limits_what_is_touched() -> None:
    by_hand = dataclasses.replace(ZONE, records=(Record("app.example.com", "A", 300, ("192.0.2.1",)),))
    assert reconcile((by_hand,), C1, [APP]) == (by_hand,)
    filtered = dataclasses.replace(C1, domain_filters=("shop.example.com",))
    assert reconcile((ZONE,), filtered, [APP]) == (ZONE,)


def test_the_longest_zone_takes_the_record_and_zone_type_filters() -> None:
    zones = (ZONE, HostedZone("sub.example.com"), HostedZone("sub.example.com", private=True))
    deep = Endpoint("a.sub.example.com", "A", ("203.0.113.7",), "service/shop/a")
    apex, public, private = reconcile(zones, C1, [deep])
    assert not apex.records and public.records and private.records
    only_public = reconcile(zones, dataclasses.replace(C1, zone_type="public"), [deep])
    assert only_public[1].records and not only_public[2].records


def test_a_controller_that_does_not_run_or_dry_runs_changes_nothing() -> None:
    assert reconcile((ZONE,), dataclasses.replace(C1, runs=False), [APP]) == (ZONE,)
    assert reconcile((ZONE,), dataclasses.replace(C1, dry_run=True), [APP]) == (ZONE,)


def test_zones_carry_their_records_and_round_trip_through_json() -> None:
    held = reconcile((ZONE,), C1, [APP])
    declared = (_with_c2(ZONE), HostedZone("example.org"))
    zones = carried(held, declared)
    assert {r.name for r in zones[0].records} >= {"app.example.com", "other.example.com"}
    assert zones[1].records == ()
    assert zones_from_json(zones_to_json(zones)) == zones
