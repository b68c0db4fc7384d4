"""SPIFFE workload identities: ``spiffe://<trust domain>/ns/<ns>/sa/<sa>``.

Istio names a workload by its Kubernetes service account, not by its pod, so
every pod of one service account shares an identity and one certificate.  The
trust domain is the cluster domain (``cluster.local`` by default), as in
Istio.  Parsing is strict: a peer certificate whose SAN does not parse is
refused rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for hints: identities need nothing of the topology at run time
    from dataplane.topology.plan import Plan, Pod

SCHEME = "spiffe://"

# SPIFFE ID spec: trust domain = lowercase letters, digits, '.', '-', '_'.
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]{1,255}")
# Kubernetes: namespaces are DNS-1123 labels, service accounts DNS-1123 subdomains.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class InvalidSpiffeId(ValueError):
    """A string is not a Kubernetes workload SPIFFE id."""


@dataclass(frozen=True, order=True)
class SpiffeId:
    """The identity of one service account in one trust domain."""

    trust_domain: str
    namespace: str
    service_account: str

    def __post_init__(self) -> None:
        if not _TRUST_DOMAIN.fullmatch(self.trust_domain):
            raise InvalidSpiffeId(f"invalid trust domain {self.trust_domain!r}")
        if not _DNS_LABEL.fullmatch(self.namespace):
            raise InvalidSpiffeId(f"invalid namespace {self.namespace!r}")
        if len(self.service_account) > 253 or not _DNS_SUBDOMAIN.fullmatch(self.service_account):
            raise InvalidSpiffeId(f"invalid service account {self.service_account!r}")

    @classmethod
    def parse(cls, uri: str) -> SpiffeId:
        """Read ``spiffe://td/ns/N/sa/S``; anything else (extra segments, query,
        upper case, a trailing slash) raises ``InvalidSpiffeId``."""
        if not uri.startswith(SCHEME):
            raise InvalidSpiffeId(f"{uri!r} is not a spiffe:// URI")
        trust_domain, _, path = uri[len(SCHEME) :].partition("/")
        parts = path.split("/")
        if len(parts) != 4 or parts[0] != "ns" or parts[2] != "sa":
            raise InvalidSpiffeId(f"{uri!r} is not of the form spiffe://<trust domain>/ns/<ns>/sa/<sa>")
        return cls(trust_domain, parts[1], parts[3])

    def __str__(self) -> str:
        return f"{SCHEME}{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    @property
    def principal(self) -> str:
        """The id without its scheme, as AuthorizationPolicy ``principals`` and ``authz`` name it."""
        return str(self).removeprefix(SCHEME)


def pod_identity(plan: Plan, pod: Pod) -> SpiffeId:
    """The identity a pod's traffic carries: its service account in the mesh's
    trust domain (Istio's ``meshConfig.trustDomain``, ``cluster.local`` by
    default whatever the cluster's DNS domain is)."""
    return SpiffeId(plan.trust_domain, pod.namespace, pod.service_account)
