"""The on-premises site's DNS zone: its hosts under its domain, answered as a zone of Route 53's shape.

The site's server (``agent/resolver.py``) answers ``<host>.<domain>`` with
the host's address; the VPC's resolver forwards that domain to it through
the VPN (Route 53 Resolver's outbound endpoint and forwarding rule), and it
forwards the VPC's private hosted zones to the inbound endpoint.  Giving
the site's zone the same shape as a hosted zone lets ``answer`` serve it
with the same SOA, NXDOMAIN and NODATA behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence

from .records import HostedZone, Record

SITE_TTL = 300


def site_zone(domain: str, hosts: Sequence[tuple[str, str]]) -> HostedZone:
    """``domain`` holding an A record for each (name, ip) host: ``<name>.<domain>``, or the name itself when
    it is already inside the domain."""
    return HostedZone(domain, private=False,
                      records=tuple(Record(_qualified(name, domain), "A", SITE_TTL, (ip,)) for name, ip in hosts))


def _qualified(name: str, domain: str) -> str:
    bare = name.rstrip(".").lower()
    return bare if bare == domain or bare.endswith("." + domain) else f"{bare}.{domain}"
