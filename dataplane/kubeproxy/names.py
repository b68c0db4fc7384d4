"""Names of kube-proxy's per-service nftables objects.

kube-proxy names each object ``<prefix><HASH8>-<base>``: the readable base
says what it is (``ns/svc/proto/portname``, plus ``__ip/port`` for an
endpoint) and the hash, the first 8 characters of base32(SHA-256(base)),
keeps names distinct once long names are cut.  dpctl uses the same scheme
so its rulesets read like a real node's and names match kube-proxy's.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass

from dataplane.topology.plan import Service, ServicePort

MAX_NAME = 240  # nftables allows 256; kube-proxy keeps 16 in reserve


@functools.lru_cache(maxsize=1 << 17)
def hashed_name(prefix: str, base: str) -> str:
    """``prefix`` + hash of ``base`` + ``-`` + ``base``, cut to MAX_NAME with a ``...`` tail."""
    # base32 turns each 5 bytes into 8 characters: encoding the first 5 bytes is enough.
    digest = base64.b32encode(hashlib.sha256(base.encode()).digest()[:5]).decode()
    name = f"{prefix}{digest}-{base}"
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 3] + "..."


def port_label(service: Service, port: ServicePort) -> str:
    """``ns/svc:portname`` (``ns/svc`` for an unnamed port), as kube-proxy names a service port in comments."""
    return f"{service.key}:{port.name}" if port.name else service.key


@dataclass(frozen=True)
class ServicePortNames:
    """The names of every object kube-proxy makes for one Service port."""

    base: str  # ns/svc/proto/portname

    @property
    def service(self) -> str:
        """Cluster-policy chain: all usable endpoints."""
        return hashed_name("service-", self.base)

    @property
    def local(self) -> str:
        """Local-policy chain: this node's endpoints only."""
        return hashed_name("local-", self.base)

    @property
    def external(self) -> str:
        """Entry chain for NodePort, externalIP and LoadBalancer traffic."""
        return hashed_name("external-", self.base)

    @property
    def firewall(self) -> str:
        """loadBalancerSourceRanges filter chain."""
        return hashed_name("firewall-", self.base)

    def endpoint(self, ip: str, port: int) -> str:
        """The per-endpoint DNAT chain."""
        return hashed_name("endpoint-", self._endpoint_base(ip, port))

    def affinity(self, ip: str, port: int) -> str:
        """The per-endpoint ClientIP affinity set."""
        return hashed_name("affinity-", self._endpoint_base(ip, port))

    def _endpoint_base(self, ip: str, port: int) -> str:
        return f"{self.base}__{ip.replace(':', '.')}/{port}"


def service_port_names(service: Service, port: ServicePort) -> ServicePortNames:
    return ServicePortNames(f"{service.namespace}/{service.name}/{port.protocol.lower()}/{port.name or ''}")
