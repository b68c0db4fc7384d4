"""Enrollment: the namespace label brings pods in, the pod label takes one out."""

from __future__ import annotations

from dataplane.mesh.enrollment import enrolled_pods, is_enrolled
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


def test_a_pod_label_alone_does_not_enroll() -> None:
    p = plan(pod("legacy", "old", "{istio.io/dataplane-mode: ambient}"))
    assert enrolled_pods(p) == ()
