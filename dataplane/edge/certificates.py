"""Which certificate an HTTPS listener presents, and which it needs.

An ALB listener has a default certificate and a certificate list.  A
ClientHello whose SNI one of them covers gets that one; no SNI, or a name
none covers, gets the default (ALB user guide, ``create-https-listener``:
"If the hostname ... doesn't match any certificate ... the load balancer
selects the default certificate").  When several cover the name AWS picks
the one the client supports best (ECDSA over RSA, key size, validity); the
emulator's certificates differ in none of those, so the first in listener
order wins.

Without ``certificate-arn`` the LBC discovers certificates in ACM by the
Ingress's hosts (``pkg/certs/cert_discovery.go``): every certificate
covering a host is taken, a host no certificate covers fails the build, and
the ARNs come out sorted, so the smallest ARN is the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Certificates = Sequence[tuple[str, Sequence[str]]]  # (ARN, the domain names it covers), in listener order


def covers(cert_domains: Iterable[str], host: str) -> bool:
    """Whether a certificate for ``cert_domains`` covers ``host``: an equal
    name, or ``*.rest`` for a host with exactly one more label before
    ``rest`` (``*.example.com`` covers ``a.example.com``, neither
    ``example.com`` nor ``a.b.example.com``).  Case-insensitive."""
    labels = host.lower().rstrip(".").split(".")
    for domain in cert_domains:
        pattern = domain.lower().rstrip(".").split(".")
        if pattern == labels or (pattern[0] == "*" and len(pattern) == len(labels) and pattern[1:] == labels[1:]):
            return True
    return False


def choose_certificate(certificates: Certificates, sni: str | None) -> str:
    """The ARN a listener presents to a ClientHello with ``sni`` (None: no
    SNI extension).  ``certificates`` must not be empty; the first is the
    default."""
    if not certificates:
        raise ValueError("an HTTPS listener has at least one certificate")
    if sni:
        for arn, domains in certificates:
            if covers(domains, sni):
                return arn
    return certificates[0][0]


def hosts_needing_certificate(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The hosts discovery looks up for one Ingress: every ``rules[].host``
    and ``tls[].hosts`` entry, lower case, sorted, each once."""
    hosts = {rule["host"].lower() for rule in spec.get("rules") or () if rule.get("host")}
    hosts.update(host.lower() for tls in spec.get("tls") or () for host in tls.get("hosts") or ())
    return tuple(sorted(hosts))


def discover(hosts: Iterable[str], available: Certificates) -> tuple[str, ...]:
    """The ARNs discovery puts on a listener for ``hosts``: every
    certificate covering some host, sorted; ValueError naming the first
    host none covers."""
    found: set[str] = set()
    for host in hosts:
        matching = {arn for arn, domains in available if covers(domains, host)}
        if not matching:
            raise ValueError(f"no certificate found for host: {host}")
        found |= matching
    return tuple(sorted(found))
