"""What a pod's listeners need from their node's ztunnel, and nothing more.

The listeners (``outbound``, ``inbound``) take a ``ProxyContext`` rather than
the whole ``Ztunnel``: the resolver of the current plan, the node's metric
registry and TLS contexts per identity.  The ztunnel swaps ``resolver`` on
every reconcile; everything else lives as long as the agent.
"""

from __future__ import annotations

import dataclasses
import ssl
import time

from dataplane.mesh import authz, tls
from dataplane.mesh.identity import SpiffeId, pod_identity
from dataplane.mesh.metrics import ConnectionLabels, MeshMetrics, connection_labels
from dataplane.mesh.store import CertificateStore
from dataplane.mesh.ztunnel.workloads import Resolver
from dataplane.topology.plan import Pod, Service

CONTEXT_REFRESH = 3600.0
"""Seconds a TLS context is reused: well inside the certificates' half-life renewal."""

DENY = "DENY"
"""``response_flags`` of a connection refused by an AuthorizationPolicy."""
CONNECT = "CONNECT"
"""``response_flags`` of a connection whose upstream could not be reached."""


def policy_error(decision: authz.Decision) -> str:
    """ztunnel's error text for a policy denial (access log and RST reason)."""
    return f"connection closed due to policy rejection: {decision.reason}"


class TlsContexts:
    """Server and client contexts per identity, made from the certificate store
    (which renews a certificate when due) and remade after ``CONTEXT_REFRESH``."""

    def __init__(self, store: CertificateStore):
        self._store = store
        self._cache: dict[tuple[bool, str], tuple[float, ssl.SSLContext]] = {}

    def get(self, server: bool, identity: SpiffeId) -> ssl.SSLContext:
        key = (server, str(identity))
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < CONTEXT_REFRESH:
            return cached[1]
        self._store.workload(identity)  # renews if due
        make = tls.server_context if server else tls.client_context
        context = make(self._store, identity)
        self._cache[key] = (time.monotonic(), context)
        return context


@dataclasses.dataclass
class ProxyContext:
    resolver: Resolver
    metrics: MeshMetrics
    tls: TlsContexts

    @property
    def cluster_domain(self) -> str:
        return self.resolver.plan.cluster_domain

    def identity(self, pod: Pod) -> str:
        return self.resolver.identity(pod)

    def server_context(self, pod: Pod) -> ssl.SSLContext:
        return self.tls.get(True, pod_identity(self.resolver.plan, pod))

    def client_context(self, pod: Pod) -> ssl.SSLContext:
        return self.tls.get(False, pod_identity(self.resolver.plan, pod))

    def service_host(self, service: Service) -> str:
        return f"{service.name}.{service.namespace}.svc.{self.cluster_domain}"

    def authorize(self, pod: Pod, source_ip: str, identity: str | None, port: int) -> authz.Decision:
        """The L4 policies of the current plan for a connection to ``pod``."""
        return authz.evaluate(self.resolver.plan, pod, authz.Connection(source_ip, identity, pod.ip, port))

    def labels(
        self,
        reporter: str,
        source: Pod | None,
        destination: Pod | None,
        *,
        service: Service | None = None,
        mtls: bool = False,
        source_principal: str | None = None,
        destination_principal: str | None = None,
    ) -> ConnectionLabels:
        """A connection's metric labels, fixed when it opens (principals only over mTLS)."""
        return connection_labels(
            reporter,
            source=source,
            destination=destination,
            service=service,
            cluster_domain=self.cluster_domain,
            mtls=mtls,
            source_principal=source_principal if mtls else None,
            destination_principal=destination_principal if mtls else None,
        )

    def opened(self, labels: ConnectionLabels) -> None:
        self.metrics.opened(labels)

    def closed(self, labels: ConnectionLabels, sent: int, received: int, flags: str = "-") -> None:
        """Completion: ``sent``/``received`` from the client application's side (``add_bytes``)."""
        if flags != labels.response_flags:
            labels = dataclasses.replace(labels, response_flags=flags)
        self.metrics.closed(labels)
        self.metrics.add_bytes(labels, sent, received)
