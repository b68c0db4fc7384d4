"""Every plan has the cluster DNS: CoreDNS pods behind kube-system/kube-dns."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Container, ContainerPort, ServicePort

from .conftest import user_pods


def test_the_dns_pods_and_service_are_there_without_being_declared(topology: Callable[..., str]) -> None:
    plan = plan_from_text(topology(zones="ab"), "t.yaml")
    assert [n.name for n in plan.namespaces] == ["default", "kube-system", "istio-system"]
    assert [(p.key, p.zone, p.owner, p.labels, p.service_account) for p in plan.pods] == [
        ("kube-system/coredns-0", "a", "Deployment/coredns", {"k8s-app": "kube-dns"}, "coredns"),
        ("kube-system/coredns-1", "b", "Deployment/coredns", {"k8s-app": "kube-dns"}, "coredns"),
    ]
    assert plan.pods[0].containers == (
        Container(
            "coredns",
            (
                ContainerPort(53, "UDP", "dns", "dns"),
                ContainerPort(53, "TCP", "dns-tcp", "dns"),
                ContainerPort(9153, "TCP", "metrics", "http"),
            ),
        ),
    )
    [dns] = plan.services
    assert (dns.key, dns.type, dns.cluster_ip, dns.selector) == (
        "kube-system/kube-dns",
        "ClusterIP",
        plan.dns_ip,
        {"k8s-app": "kube-dns"},
    )
    assert dns.ports == (ServicePort(53, "UDP", "dns", 53), ServicePort(53, "TCP", "dns-tcp", 53))
    assert plan.warnings == ()


def test_they_come_last_so_user_pods_keep_the_first_addresses(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    plan = plan_from_text(topology(zones="ab") + make.deployment("web", 4), "t.yaml")
    assert [(p.name, p.ip) for p in user_pods(plan)] == [
        ("web-0", "192.168.1.5"),
        ("web-1", "192.168.2.5"),
        ("web-2", "192.168.1.6"),
        ("web-3", "192.168.2.6"),
    ]
    assert [(p.name, p.ip) for p in plan.pods[4:]] == [("coredns-0", "192.168.1.7"), ("coredns-1", "192.168.2.7")]


def test_kube_system_may_be_declared_and_used(topology: Callable[..., str], make: SimpleNamespace) -> None:
    namespace = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system, labels: {team: infra}}\n"
    text = topology() + make.deployment("metrics", 1, namespace="kube-system") + namespace
    plan = plan_from_text(text, "t.yaml")
    assert [(n.name, n.labels.get("team")) for n in plan.namespaces] == [
        ("default", None),
        ("kube-system", "infra"),
        ("istio-system", None),
    ]
    assert [p.key for p in plan.pods] == ["kube-system/metrics-0", "kube-system/coredns-0", "kube-system/coredns-1"]


def test_the_dns_service_account_may_be_declared(topology: Callable[..., str]) -> None:
    account = "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: coredns, namespace: kube-system}\n"
    assert len(plan_from_text(topology() + account, "t.yaml").pods) == 2


@pytest.mark.parametrize(
    "document",
    [
        "apiVersion: v1\nkind: Service\nmetadata: {name: kube-dns, namespace: kube-system}\nspec:\n"
        + "  ports: [{port: 53}]\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: coredns-0, namespace: kube-system}\nspec:\n"
        + "  containers: [{name: c}]\n",
    ],
    ids=["service", "pod"],
)
def test_declaring_them_is_refused(topology: Callable[..., str], document: str) -> None:
    with pytest.raises(TopologyError) as raised:
        plan_from_text(topology() + "---\n" + document, "t.yaml")
    [problem] = raised.value.problems
    assert problem.message.startswith("reserved: dpctl provides the cluster DNS itself")


def test_same_names_elsewhere_are_fine(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology() + make.deployment("coredns", 1) + make.service("kube-dns")
    plan = plan_from_text(text, "t.yaml")
    assert [p.key for p in plan.pods] == ["default/coredns-0", "kube-system/coredns-0", "kube-system/coredns-1"]
