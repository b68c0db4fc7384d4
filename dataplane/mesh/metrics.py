"""Istio's ztunnel TCP metrics: names, labels and byte semantics as a real ztunnel exposes them.

Dashboards, Kiali and ``dpctl mesh graph`` read these series by name and label,
so they follow ``zt:src/proxy/metrics.rs`` exactly (``shared/reference/ztunnel.md``
§4.1): the four core counters plus ``istio_build``, every traffic label in
ztunnel's order, missing values rendered ``unknown``, and Istio's *flipped*
byte convention.

The exposition is written here rather than by ``prometheus_client``: its
``generate_latest`` sorts label names alphabetically, and ztunnel's output lists
them in the order above, which users compare line by line.  A registry lives in
one asyncio loop, so it takes no locks.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # hints only: metrics need nothing of the topology at run time
    from dataplane.mesh.identity import SpiffeId
    from dataplane.topology.plan import Pod, Service

UNKNOWN = "unknown"
CLUSTER_ID = "Kubernetes"
"""ztunnel's default cluster id (``CLUSTER_ID`` unset), the value of ``*_cluster``."""

MUTUAL_TLS = "mutual_tls"
"""``connection_security_policy`` of an HBONE connection; anything else is ``unknown``."""

OPENED = "istio_tcp_connections_opened_total"
CLOSED = "istio_tcp_connections_closed_total"
SENT = "istio_tcp_sent_bytes_total"
RECEIVED = "istio_tcp_received_bytes_total"
BUILD = "istio_build"

_HELP = {
    OPENED: "The total number of TCP connections opened",
    CLOSED: "The total number of TCP connections closed",
    RECEIVED: "The size of total bytes received during request in case of a TCP connection",
    SENT: "The size of total bytes sent during response in case of a TCP connection",
    BUILD: "Istio component build info",
}
_COUNTERS = (OPENED, CLOSED, RECEIVED, SENT)  # ztunnel's registration order

_LOCALITY = ("source_region", "source_zone", "destination_region", "destination_zone")


@dataclass(frozen=True)
class ConnectionLabels:
    """Every label of one traffic series, declared in ztunnel's order.

    Empty or ``None`` values render ``unknown``, as ztunnel's ``DefaultedUnknown``
    does; the four locality labels are left out entirely while ``None``, because
    ztunnel only adds them when it knows the workload.
    """

    reporter: str  # "source" (outbound ztunnel) | "destination" (inbound ztunnel) | "waypoint" (L7)
    source_workload: str | None = None
    source_canonical_service: str | None = None
    source_canonical_revision: str | None = None
    source_workload_namespace: str | None = None
    source_principal: str | None = None
    source_app: str | None = None
    source_version: str | None = None
    source_cluster: str | None = None
    destination_service: str | None = None
    destination_service_namespace: str | None = None
    destination_service_name: str | None = None
    destination_workload: str | None = None
    destination_canonical_service: str | None = None
    destination_canonical_revision: str | None = None
    destination_workload_namespace: str | None = None
    destination_principal: str | None = None
    destination_app: str | None = None
    destination_version: str | None = None
    destination_cluster: str | None = None
    request_protocol: str = "tcp"
    response_flags: str = "-"
    connection_security_policy: str = UNKNOWN
    source_region: str | None = None
    source_zone: str | None = None
    destination_region: str | None = None
    destination_zone: str | None = None

    def items(self) -> tuple[tuple[str, str], ...]:
        """(name, value) pairs in exposition order, unknowns filled in."""
        return tuple(
            (f.name, value or UNKNOWN)
            for f, value in zip(fields(self), astuple(self))
            if value is not None or f.name not in _LOCALITY
        )


def workload_name(pod: Pod) -> str:
    """The workload a pod belongs to: its owner's name (``Deployment/web`` -> ``web``), else the pod's."""
    return pod.owner.rsplit("/", 1)[-1] if pod.owner else pod.name


def canonical_service(pod: Pod) -> str:
    """Istio's canonical service: the first of its label, ``app.kubernetes.io/name``, ``app``, the workload."""
    labels = pod.labels
    return (
        labels.get("service.istio.io/canonical-name")
        or labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or workload_name(pod)
    )


def canonical_revision(pod: Pod) -> str:
    """Istio's canonical revision: its label, ``app.kubernetes.io/version``, ``version``, else ``latest``."""
    labels = pod.labels
    return (
        labels.get("service.istio.io/canonical-revision")
        or labels.get("app.kubernetes.io/version")
        or labels.get("version")
        or "latest"
    )


def _peer(side: str, pod: Pod | None, principal: SpiffeId | str | None) -> dict[str, str | None]:
    """The eight per-workload labels of one side (plus its zone); ``app``/``version``
    repeat the canonical name and revision, as ztunnel sets them."""
    values: dict[str, str | None] = {f"{side}_principal": str(principal) if principal else None}
    if pod is not None:
        service, revision = canonical_service(pod), canonical_revision(pod)
        values.update(
            {
                f"{side}_workload": workload_name(pod),
                f"{side}_canonical_service": service,
                f"{side}_canonical_revision": revision,
                f"{side}_workload_namespace": pod.namespace,
                f"{side}_app": service,
                f"{side}_version": revision,
                f"{side}_cluster": CLUSTER_ID,
                f"{side}_zone": pod.zone,
            }
        )
    return values


def connection_labels(
    reporter: str,
    *,
    source: Pod | None,
    destination: Pod | None,
    service: Service | None = None,
    cluster_domain: str = "cluster.local",
    mtls: bool = False,
    source_principal: SpiffeId | str | None = None,
    destination_principal: SpiffeId | str | None = None,
    response_flags: str = "-",
) -> ConnectionLabels:
    """Labels of one connection from the plan's pods, as ztunnel builds them.

    Principals are passed in rather than derived from service accounts: ztunnel
    sets ``source_principal`` only from an identity it verified over mTLS, so
    the caller (who did the verifying) hands over the ``SpiffeId`` or string.
    ``service`` is the Service whose VIP the client dialled, if any.
    """
    if reporter not in ("source", "destination", "waypoint"):
        raise ValueError(f"reporter must be 'source', 'destination' or 'waypoint', not {reporter!r}")
    values = _peer("source", source, source_principal) | _peer("destination", destination, destination_principal)
    if service is not None:
        values |= {
            "destination_service": f"{service.name}.{service.namespace}.svc.{cluster_domain}",
            "destination_service_namespace": service.namespace,
            "destination_service_name": service.name,
        }
    return ConnectionLabels(
        reporter=reporter,
        response_flags=response_flags,
        connection_security_policy=MUTUAL_TLS if mtls else UNKNOWN,
        **values,  # type: ignore[arg-type]  # per-side label dicts; the principals alone may be None
    )


def escape_label_value(value: str) -> str:
    """Text format 0.0.4 escaping of a label value: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _sample(name: str, labels: tuple[tuple[str, str], ...], value: int) -> str:
    rendered = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels)
    return f"{name}{{{rendered}}} {value}"


class MeshMetrics:
    """One ztunnel's counters, keyed by ``ConnectionLabels``."""

    def __init__(self, build_tag: str) -> None:
        self.build_tag = build_tag
        self._counters: dict[str, dict[ConnectionLabels, int]] = {name: {} for name in _COUNTERS}

    def _inc(self, name: str, labels: ConnectionLabels, amount: int) -> None:
        series = self._counters[name]
        series[labels] = series.get(labels, 0) + amount

    def opened(self, labels: ConnectionLabels) -> None:
        """Count a connection once its context (both peers, policy) is known, as ztunnel does."""
        self._inc(OPENED, labels, 1)

    def closed(self, labels: ConnectionLabels) -> None:
        """Count a connection's completion, successful or not."""
        self._inc(CLOSED, labels, 1)

    def add_bytes(self, labels: ConnectionLabels, sent: int, received: int) -> None:
        """Add traffic seen on a connection, from the *client application's* point of view.

        ``sent`` is client->server (request) bytes, ``received`` server->client
        (response) bytes, on both reporters.  Istio flips them into the metric
        names (istio/istio#32399): request bytes go to ``istio_tcp_received_bytes_total``
        and response bytes to ``istio_tcp_sent_bytes_total``.  Zero amounts
        still create the series, so a connection that moved nothing shows up.
        """
        if sent < 0 or received < 0:
            raise ValueError("byte counts cannot be negative")
        self._inc(RECEIVED, labels, sent)
        self._inc(SENT, labels, received)

    def exposition(self) -> str:
        """Prometheus text format 0.0.4, series sorted so two scrapes of equal state are equal text."""
        lines: list[str] = []
        for name in _COUNTERS:
            lines += [f"# HELP {name} {_escape_help(_HELP[name])}", f"# TYPE {name} counter"]
            rows = sorted((labels.items(), value) for labels, value in self._counters[name].items())
            lines += [_sample(name, items, value) for items, value in rows]
        build = (("component", "ztunnel"), ("tag", self.build_tag))
        lines += [f"# HELP {BUILD} {_HELP[BUILD]}", f"# TYPE {BUILD} gauge", _sample(BUILD, build, 1)]
        return "\n".join(lines) + "\n"
