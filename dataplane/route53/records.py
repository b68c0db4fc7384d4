"""Route 53 record sets and hosted zones, and ExternalDNS's endpoints.

A record set is Route 53's: a name and a type, then either a TTL and values
or an ``AliasTarget`` (an ALIAS has no TTL of its own: the answer takes the
target's addresses).  Names are kept lower case without the final dot, as
Route 53 compares them.  ``HostedZone.records`` are the zone's record sets
besides its SOA and NS, which ``apex`` makes (Route 53 creates them with
the zone and nothing else changes them).

The state file (``route53.json``) holds the zones as ``to_json`` writes
them, so the records of the previous reconcile survive into the next one:
under ``upsert-only`` a record whose Ingress is gone stays, as in Route 53.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_TTL = 300  # the AWS provider's TTL for a record without one (provider/aws: defaultTTL)
NS_TTL, SOA_TTL = 172800, 900  # what Route 53 gives the NS and SOA it creates with a zone
MANAGED_TYPES = ("A", "AAAA", "CNAME")  # --managed-record-types' default


@dataclass(frozen=True)
class Record:
    """One record set: ``values`` with a ``ttl``, or an ``alias`` target (a DNS name) without."""

    name: str
    type: str  # A | AAAA | CNAME | TXT | NS | SOA
    ttl: int | None = DEFAULT_TTL
    values: tuple[str, ...] = ()
    alias: str | None = None  # AliasTarget.DNSName
    evaluate_target_health: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.type

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Record:
        return cls(**{**raw, "values": tuple(raw["values"])})


@dataclass(frozen=True)
class HostedZone:
    """A hosted zone: a public one answers the internet (the outside client), a private one its VPC."""

    name: str
    private: bool = False
    records: tuple[Record, ...] = ()

    @property
    def key(self) -> tuple[str, bool]:
        return self.name, self.private

    def holds(self, name: str) -> bool:
        return name == self.name or name.endswith("." + self.name)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HostedZone:
        return cls(raw["name"], raw["private"], tuple(Record.from_dict(r) for r in raw["records"]))


@dataclass(frozen=True)
class Endpoint:
    """What an ExternalDNS source wants (``endpoint.Endpoint``): a name, a record type
    (a hostname target is a CNAME until the provider makes it an ALIAS) and its targets."""

    name: str
    type: str  # A | AAAA | CNAME
    targets: tuple[str, ...]
    resource: str  # the registry's resource label: "ingress/<ns>/<name>", "service/<ns>/<name>"
    ttl: int | None = None  # None: the provider's default

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Endpoint:
        return cls(**{**raw, "targets": tuple(raw["targets"])})


def apex(zone: HostedZone) -> tuple[Record, Record]:
    """The SOA and NS Route 53 creates with a zone: four name servers chosen
    from a digest of the zone, so the same zone always has the same ones."""
    digest = hashlib.sha256(f"{zone.name}/{zone.private}".encode()).digest()
    servers = tuple(
        f"ns-{int.from_bytes(digest[2 * i:2 * i + 2], 'big') % 2048}.awsdns-{digest[8 + i] % 64:02d}.{tld}"
        for i, tld in enumerate(("com", "net", "org", "co.uk"))
    )
    soa = f"{servers[0]} awsdns-hostmaster.amazon.com 1 7200 900 1209600 86400"
    return Record(zone.name, "SOA", SOA_TTL, (soa,)), Record(zone.name, "NS", NS_TTL, servers)


def zones_to_json(zones: tuple[HostedZone, ...]) -> str:
    return json.dumps({"hostedZones": [asdict(z) for z in zones]}, indent=1, sort_keys=True)


def zones_from_json(text: str) -> tuple[HostedZone, ...]:
    return tuple(HostedZone.from_dict(z) for z in json.loads(text)["hostedZones"])
