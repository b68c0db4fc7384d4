"""Istio's TCP metrics: label order and unknowns, labels from pods, the byte flip, and the text format."""

from __future__ import annotations

import pytest

from dataplane.mesh.identity import SpiffeId
from dataplane.mesh.metrics import (
    CLOSED,
    OPENED,
    RECEIVED,
    SENT,
    ConnectionLabels,
    MeshMetrics,
    connection_labels,
)
from dataplane.mesh.promtext import MetricsParseError, parse
from dataplane.topology.plan import Pod, Service

ISTIO_ORDER = [
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_service",
    "destination_service_namespace",
    "destination_service_name",
    "destination_workload",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_cluster",
    "request_protocol",
    "response_flags",
    "connection_security_policy",
]
LOCALITY = ["source_region", "source_zone", "destination_region", "destination_zone"]


def pod(namespace: str, name: str, *, labels: dict[str, str] | None = None, owner: str | None = None) -> Pod:
    return Pod(
        namespace=namespace,
        name=name,
        node="node-a",
        zone="a",
        ip="10.0.0.1",
        netns=f"ns-{name}",
        host_iface=f"veth-{name}",
        labels=labels or {},
        service_account=name,
        owner=owner,
    )


CLIENT = pod("front", "ui-7d9f-abcde", labels={"app": "ui", "version": "v2"}, owner="Deployment/ui")
SERVER = pod("shop", "web-0", labels={"app.kubernetes.io/name": "web-svc"})
WEB = Service(namespace="shop", name="web", type="ClusterIP", cluster_ip="10.96.0.10")


def test_empty_labels_render_unknown_in_istio_order() -> None:
    items = ConnectionLabels(reporter="destination").items()
    assert [name for name, _ in items] == ISTIO_ORDER
    values = dict(items)
    assert values["request_protocol"] == "tcp"
    assert values["response_flags"] == "-"
    assert {values[name] for name in ISTIO_ORDER[1:20]} == {"unknown"}
    assert values["connection_security_policy"] == "unknown"


def test_empty_string_renders_unknown() -> None:
    assert dict(ConnectionLabels(reporter="source", source_workload="").items())["source_workload"] == "unknown"


def test_labels_from_pods() -> None:
    labels = connection_labels(
        "destination",
        source=CLIENT,
        destination=SERVER,
        service=WEB,
        mtls=True,
        source_principal=SpiffeId("cluster.local", "front", "ui"),
        destination_principal="spiffe://cluster.local/ns/shop/sa/web-0",
    )
    items = labels.items()
    assert [name for name, _ in items] == ISTIO_ORDER + ["source_zone", "destination_zone"]
    values = dict(items)
    assert values["source_workload"] == "ui"  # the Deployment, not the pod
    assert values["source_canonical_service"] == values["source_app"] == "ui"
    assert values["source_canonical_revision"] == values["source_version"] == "v2"
    assert values["source_principal"] == "spiffe://cluster.local/ns/front/sa/ui"
    assert values["source_cluster"] == values["destination_cluster"] == "Kubernetes"
    assert values["destination_workload"] == "web-0"  # no owner: the pod itself
    assert values["destination_canonical_service"] == "web-svc"
    assert values["destination_canonical_revision"] == "latest"
    assert values["destination_service"] == "web.shop.svc.cluster.local"
    assert values["destination_service_name"] == "web"
    assert values["destination_service_namespace"] == "shop"
    assert values["connection_security_policy"] == "mutual_tls"
    assert values["source_zone"] == "a"


def test_canonical_labels_take_precedence() -> None:
    istio = pod(
        "shop",
        "api-1",
        labels={
            "service.istio.io/canonical-name": "api",
            "service.istio.io/canonical-revision": "r7",
            "app": "other",
            "version": "v1",
        },
    )
    values = dict(connection_labels("source", source=istio, destination=None).items())
    assert (values["source_canonical_service"], values["source_canonical_revision"]) == ("api", "r7")


def test_unknown_peer_without_identity() -> None:
    values = dict(connection_labels("destination", source=None, destination=SERVER).items())
    assert values["source_workload"] == values["source_principal"] == values["source_cluster"] == "unknown"
    assert values["destination_principal"] == "unknown"
    assert values["connection_security_policy"] == "unknown"
    assert "source_zone" not in values and values["destination_zone"] == "a"


def test_bad_reporter_is_refused() -> None:
    with pytest.raises(ValueError):
        connection_labels("client", source=CLIENT, destination=SERVER)


@pytest.mark.parametrize("reporter", ["source", "destination"])
def test_bytes_are_flipped_on_both_reporters(reporter: str) -> None:
    metrics = MeshMetrics("1.27.0")
    labels = connection_labels(reporter, source=CLIENT, destination=SERVER)
    metrics.add_bytes(labels, sent=100, received=5000)  # request 100 B, response 5000 B
    metrics.add_bytes(labels, sent=1, received=0)
    values = {sample.name: sample.value for sample in parse(metrics.exposition()) if sample.labels}
    assert values[RECEIVED] == 101  # client -> server
    assert values[SENT] == 5000  # server -> client


def test_negative_bytes_are_refused() -> None:
    with pytest.raises(ValueError):
        MeshMetrics("1").add_bytes(ConnectionLabels("source"), -1, 0)


def test_exposition_round_trip() -> None:
    metrics = MeshMetrics("1.27.0")
    odd = ConnectionLabels("source", source_workload='we"ird\\name\nx', source_workload_namespace="front")
    plain = connection_labels("source", source=CLIENT, destination=SERVER)
    for labels in (odd, plain, plain):
        metrics.opened(labels)
    metrics.closed(plain)
    text = metrics.exposition()
    for name, kind in ((OPENED, "counter"), (CLOSED, "counter"), (SENT, "counter"), ("istio_build", "gauge")):
        assert f"# TYPE {name} {kind}\n" in text
        assert f"# HELP {name} " in text
    samples = {(s.name, tuple(s.labels.items())): s.value for s in parse(text)}
    assert samples[(OPENED, odd.items())] == 1
    assert samples[(OPENED, plain.items())] == 2
    assert samples[(CLOSED, plain.items())] == 1
    assert samples[("istio_build", (("component", "ztunnel"), ("tag", "1.27.0")))] == 1
    assert len(samples) == 4


def test_exposition_is_deterministic() -> None:
    a, b = MeshMetrics("1"), MeshMetrics("1")
    first = ConnectionLabels("source", source_workload="a")
    second = ConnectionLabels("destination", source_workload="b")
    a.opened(first), a.opened(second)
    b.opened(second), b.opened(first)
    assert a.exposition() == b.exposition()


def test_parser_skips_comments_and_rejects_garbage() -> None:
    samples = parse('# a comment\n# HELP x y\n# TYPE x counter\nx_total{a="q\\"uote"} 3\n')
    assert [(s.name, s.labels, s.value) for s in samples] == [("x_total", {"a": 'q"uote'}, 3.0)]
    with pytest.raises(MetricsParseError):
        parse('x{a="unterminated} 1\n')
