"""Enrollment: the namespace label brings pods in, the pod label takes one out;
sidecar injection labels give a pod a sidecar instead, and win over ambient."""

from __future__ import annotations

from dataplane.mesh.enrollment import AMBIENT, SIDECAR, accepts_hbone, enrolled_pods, is_enrolled, mode
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from tests.unit.mesh.topologies import one_node_topology

TOPOLOGY = one_node_topology("enroll") + """apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-system, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: injected, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: both, labels: {istio-injection: enabled, istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: revision, labels: {istio.io/rev: canary}}
"""


def pod(namespace: str, name: str, labels: str = "{}") -> str:
    return (
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {namespace}, labels: {labels}}}\n"
        "spec:\n  containers: [{name: app}]\n"
    )


def plan(*pods: str) -> Plan:
    return plan_from_text(TOPOLOGY + "".join(pods), "enroll.yaml")


def test_the_namespace_label_enrolls_its_pods() -> None:
    p = plan(pod("shop", "web"), pod("legacy", "old"), pod("default", "client"))
    assert [x.key for x in enrolled_pods(p)] == ["shop/web"]
    assert not is_enrolled(p, p.pod("legacy", "old"))


def test_a_pod_label_opts_out() -> None:
    p = plan(pod("shop", "web"), pod("shop", "batch", "{istio.io/dataplane-mode: none}"))
    assert is_enrolled(p, p.pod("shop", "web"))
    assert not is_enrolled(p, p.pod("shop", "batch"))


def test_system_namespaces_stay_out_whatever_their_labels() -> None:
    p = plan(pod("istio-system", "istiod"))
    assert not is_enrolled(p, p.pod("istio-system", "istiod"))
    assert not any(is_enrolled(p, x) for x in p.pods if x.namespace == "kube-system")  # CoreDNS


def test_a_pod_label_alone_enrolls_that_pod() -> None:
    """Istio 1.22+: ``istio.io/dataplane-mode=ambient`` on a pod (``waypoint-l7.md`` §6.2)."""
    p = plan(pod("legacy", "old", "{istio.io/dataplane-mode: ambient}"))
    assert [x.key for x in enrolled_pods(p)] == ["legacy/old"]


def test_injection_labels_give_sidecars_and_the_sidecar_wins_over_ambient() -> None:
    p = plan(
        pod("injected", "a"), pod("both", "b"), pod("revision", "c"),
        pod("injected", "out", "{sidecar.istio.io/inject: 'false'}"),
        pod("legacy", "in", "{sidecar.istio.io/inject: 'true'}"),
        pod("shop", "web"), pod("shop", "sc", "{sidecar.istio.io/inject: 'true'}"),
        pod("kube-system", "k", "{sidecar.istio.io/inject: 'true'}"),
    )
    modes = {x.key: mode(p, x) for x in p.pods if x.namespace != "kube-system" or x.name == "k"}
    assert modes == {
        "injected/a": SIDECAR, "both/b": SIDECAR, "revision/c": SIDECAR, "injected/out": None, "legacy/in": SIDECAR,
        "shop/web": AMBIENT, "shop/sc": SIDECAR, "kube-system/k": None,
    }
    assert [x.key for x in enrolled_pods(p)] == ["shop/web"]  # ztunnel captures the ambient pod only


def test_sidecars_take_hbone_only_with_the_tunnel_label() -> None:
    p = plan(pod("injected", "plain"), pod("injected", "tunnel", "{networking.istio.io/tunnel: http}"), pod("shop", "web"))
    assert [accepts_hbone(p, x) for x in (p.pod("injected", "plain"), p.pod("injected", "tunnel"), p.pod("shop", "web"))] == [
        False, True, True,
    ]
