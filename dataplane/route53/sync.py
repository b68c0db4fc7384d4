"""One ExternalDNS reconcile: its sources' endpoints -> record sets in the hosted zones.

The AWS provider turns an endpoint into record sets (``provider/aws``): a
hostname target that is an ELB (``*.<region>.elb.amazonaws.com`` for an ALB,
``*.elb.<region>.amazonaws.com`` for an NLB: hosted zones the provider knows) becomes an ALIAS A and an ALIAS AAAA to it, evaluating
the target's health unless ``--aws-evaluate-target-health=false``; with
``--aws-prefer-cname``, or for any other hostname, a CNAME; an address, an
A.  Each gets its registry TXT (``registry``).  An endpoint goes to the
zone whose name is its longest suffix (to each, when a public and a private
zone share that name), among the zones ``--aws-zone-type`` keeps.

What changes follows the policy (``plan/policy.go``), and only records the
registry says are this owner's: ``sync`` creates, updates and deletes,
``upsert-only`` never deletes, ``create-only`` only creates.  A name holding
any record without our TXT -- another owner's, or made by hand -- is never
touched, not even by adding a record of another type beside it (the planner
skips the name: "owner id does not match"), nor is a CNAME created beside other records (Route 53
refuses that), nor a record whose TXT name falls outside its zone (an apex
without a ``%{record_type}`` prefix ending in '.').  ``--dry-run`` changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import registry
from .records import DEFAULT_TTL, MANAGED_TYPES, Endpoint, HostedZone, Record
from .settings import Settings

_ELB = re.compile(r".*\.(elb\.amazonaws\.com|elb\.[a-z0-9-]+\.amazonaws\.com)")


def is_elb(name: str) -> bool:
    return _ELB.fullmatch(name) is not None


def record_sets(settings: Settings, endpoint: Endpoint) -> tuple[Record, ...]:
    """The record sets the AWS provider writes for ``endpoint`` (without their TXT)."""
    [first, *_] = endpoint.targets
    if endpoint.type == "CNAME" and not settings.prefer_cname and is_elb(first):
        return tuple(
            Record(endpoint.name, kind, None, (), first, settings.evaluate_target_health) for kind in ("A", "AAAA")
        )
    ttl = endpoint.ttl or DEFAULT_TTL
    targets = endpoint.targets[:1] if endpoint.type == "CNAME" else tuple(sorted(set(endpoint.targets)))
    return (Record(endpoint.name, endpoint.type, ttl, targets),)


def zones_for(zones: Sequence[HostedZone], settings: Settings, name: str) -> tuple[HostedZone, ...]:
    """The zones a record at ``name`` goes to: the longest matching zone name, among the zone type kept."""
    kept = [z for z in zones if settings.zone_type in ("", "private" if z.private else "public") and z.holds(name)]
    longest = max((len(z.name) for z in kept), default=0)
    return tuple(z for z in kept if len(z.name) == longest)


def reconcile(zones: tuple[HostedZone, ...], settings: Settings, endpoints: Sequence[Endpoint]) -> tuple[HostedZone, ...]:
    """The zones after one reconcile of an ExternalDNS with ``settings`` whose sources found ``endpoints``."""
    if not settings.runs or settings.dry_run:
        return zones
    wanted = [e for e in endpoints if settings.wants(e.name)]
    return tuple(_reconcile_zone(zone, settings, [e for e in wanted if zone in zones_for(zones, settings, e.name)])
                 if settings.zone_type in ("", "private" if zone.private else "public") else zone
                 for zone in zones)


def carried(previous: tuple[HostedZone, ...], declared: tuple[HostedZone, ...]) -> tuple[HostedZone, ...]:
    """The zones as declared now, each with the records it held before (a new zone
    holds only its declared ones); declared records are laid over, as if their
    owner wrote them again."""
    held = {z.key: z.records for z in previous}
    zones = []
    for zone in declared:
        records = {r.key: r for r in held.get(zone.key, ())} | {r.key: r for r in zone.records}
        zones.append(HostedZone(zone.name, zone.private, tuple(sorted(records.values(), key=lambda r: r.key))))
    return tuple(zones)


def _reconcile_zone(zone: HostedZone, settings: Settings, endpoints: list[Endpoint]) -> HostedZone:
    current = {r.key: r for r in zone.records}

    def owned(record: Record) -> bool:
        txt = current.get((registry.txt_name(settings, record.name, record.type), "TXT"))
        return registry.owner_of(txt) == settings.owner_id

    desired: dict[tuple[str, str], tuple[Record, Record]] = {}
    for endpoint in endpoints:
        for record in record_sets(settings, endpoint):
            txt_name = registry.txt_name(settings, record.name, record.type)
            if record.key not in desired and zone.holds(txt_name):
                txt = Record(txt_name, "TXT", endpoint.ttl or DEFAULT_TTL,
                             (registry.txt_value(settings.owner_id, endpoint.resource),))
                desired[record.key] = (record, txt)
    foreign = {r.name for r in current.values() if r.type in MANAGED_TYPES and not owned(r)}
    result = dict(current)
    if settings.policy == "sync":
        for key, record in current.items():
            if record.type in MANAGED_TYPES and key not in desired and settings.wants(record.name) and owned(record):
                del result[key]
                result.pop((registry.txt_name(settings, record.name, record.type), "TXT"), None)
    for key, (record, txt) in desired.items():
        existing = result.get(key)
        if record.name in foreign:
            continue
        if existing is None:
            if not _clashes(record, result) and (txt.key not in result or owned(record)):
                result[key], result[txt.key] = record, txt
        elif settings.policy != "create-only" and (existing, result[txt.key]) != (record, txt):
            result[key], result[txt.key] = record, txt
    return HostedZone(zone.name, zone.private, tuple(sorted(result.values(), key=lambda r: r.key)))


def _clashes(record: Record, current: dict[tuple[str, str], Record]) -> bool:
    """A CNAME may not share its name with any other record, nor another record with a CNAME."""
    at_name = {kind for name, kind in current if name == record.name}
    return bool(at_name) if record.type == "CNAME" else "CNAME" in at_name
