"""What each kind turns into: defaults, responders, status, pasted manifests."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Container, ContainerPort

from .conftest import user_pods, user_services

PASTED = """---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {istio.io/dataplane-mode: ambient}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: cache, namespace: shop}
automountServiceAccountToken: false
---
apiVersion: v1
kind: Pod
metadata:
  name: cache
  namespace: shop
  uid: 0b6f0d36-1111-2222-3333-444455556666
  creationTimestamp: "2024-05-01T10:00:00Z"
  deletionTimestamp: 2024-05-01T11:00:00Z
  labels: {app: cache}
  annotations:
    dpctl.dev/tcp-echo-ports: "7000, 7001"
spec:
  serviceAccount: cache
  hostname: redis
  restartPolicy: Always
  dnsPolicy: ClusterFirst
  tolerations: [{key: x, operator: Exists}]
  volumes: [{name: data, emptyDir: {}}]
  containers:
    - name: redis
      image: redis:7
      imagePullPolicy: IfNotPresent
      command: [redis-server]
      args: [--port, "6379"]
      env: [{name: A, value: b}]
      resources: {limits: {cpu: 100m}}
      livenessProbe: {tcpSocket: {port: 6379}}
      volumeMounts: [{name: data, mountPath: /data}]
      ports:
        - {name: tcp-redis, containerPort: 6379}
        - {containerPort: 7000}
        - {name: tcp, containerPort: 7002}
        - {name: metrics, containerPort: 9121}
        - {name: dns, containerPort: 53, protocol: UDP}
status:
  phase: Running
  podIP: 10.0.0.9
  conditions:
    - {type: Initialized, status: "True"}
    - {type: Ready, status: "False", lastTransitionTime: "2024-05-01T10:00:00Z"}
"""


def test_a_pasted_pod_loads_with_status_and_ignored_fields(topology: Callable[..., str]) -> None:
    plan = plan_from_text(topology() + PASTED, "t.yaml")
    pod = plan.pod("shop", "cache")
    assert (pod.ready, pod.terminating, pod.hostname, pod.service_account, pod.owner) == (
        False,
        True,
        "redis",
        "cache",
        None,
    )
    assert pod.containers == (
        Container(
            name="redis",
            ports=(
                ContainerPort(6379, "TCP", "tcp-redis", "tcp-echo"),
                ContainerPort(7000, "TCP", None, "tcp-echo"),
                ContainerPort(7002, "TCP", "tcp", "tcp-echo"),
                ContainerPort(9121, "TCP", "metrics", "http"),
                ContainerPort(53, "UDP", "dns", "udp-echo"),
            ),
            command=("redis-server", "--port", "6379"),
        ),
    )
    assert pod.annotations == {"dpctl.dev/tcp-echo-ports": "7000, 7001"}
    assert pod.netns == "dp-test.shop.cache"
    assert pod.host_iface.startswith("pv") and len(pod.host_iface) <= 15


def test_namespaces_default_first_with_their_name_label(topology: Callable[..., str]) -> None:
    default = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: default, labels: {team: a}}\n"
    plan = plan_from_text(topology() + PASTED + default, "t.yaml")
    assert [(n.name, n.labels) for n in plan.namespaces] == [
        ("default", {"team": "a", "kubernetes.io/metadata.name": "default"}),
        ("shop", {"istio.io/dataplane-mode": "ambient", "kubernetes.io/metadata.name": "shop"}),
        ("kube-system", {"kubernetes.io/metadata.name": "kube-system"}),
        ("istio-system", {"kubernetes.io/metadata.name": "istio-system"}),
    ]


def test_deployment_pods_take_the_template(topology: Callable[..., str], make: SimpleNamespace) -> None:
    ports = "          ports: [{name: http, containerPort: 8080}]\n"
    plan = plan_from_text(topology() + make.deployment("web", 2, ports=ports), "t.yaml")
    assert [(p.name, p.owner, p.labels, p.hostname) for p in user_pods(plan)] == [
        ("web-0", "Deployment/web", {"app": "web"}, "web-0"),
        ("web-1", "Deployment/web", {"app": "web"}, "web-1"),
    ]


def test_replicas_default_to_one_and_zero_is_allowed(topology: Callable[..., str], make: SimpleNamespace) -> None:
    one = make.deployment("a", 1).replace("  replicas: 1\n", "")
    plan = plan_from_text(topology() + one + make.deployment("b", 0), "t.yaml")
    assert [p.name for p in user_pods(plan)] == ["a-0"]


def test_service_defaults(topology: Callable[..., str], make: SimpleNamespace) -> None:
    plan = plan_from_text(topology() + make.service("web", "  ports: [{port: 80}]\n"), "t.yaml")
    [service] = user_services(plan)
    assert (service.type, service.session_affinity, service.session_affinity_timeout) == ("ClusterIP", "None", 10800)
    assert (service.external_traffic_policy, service.internal_traffic_policy) == ("Cluster", "Cluster")
    [port] = service.ports
    assert (port.port, port.protocol, port.target_port, port.node_port, port.name) == (80, "TCP", 80, None, None)


def test_service_options(topology: Callable[..., str], make: SimpleNamespace) -> None:
    spec = """  type: LoadBalancer
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  internalTrafficPolicy: Local
  publishNotReadyAddresses: true
  externalIPs: [203.0.113.7]
  loadBalancerSourceRanges: [198.51.100.0/24]
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  allocateLoadBalancerNodePorts: true
  ports: [{name: http, port: 80, targetPort: http, appProtocol: http}]
status: {loadBalancer: {}}
"""
    [service] = user_services(plan_from_text(topology() + make.service("web", spec), "t.yaml"))
    assert (service.session_affinity, service.session_affinity_timeout) == ("ClientIP", 60)
    assert (service.internal_traffic_policy, service.publish_not_ready_addresses) == ("Local", True)
    assert (service.external_ips, service.load_balancer_source_ranges) == (("203.0.113.7",), ("198.51.100.0/24",))
    assert service.ports[0].target_port == "http"


def test_warnings_for_services_without_endpoints(topology: Callable[..., str], make: SimpleNamespace) -> None:
    ports = "          ports: [{name: http, containerPort: 8080}]\n"
    text = (
        topology()
        + make.deployment("web", 1, ports=ports)
        + make.service("nothing", "  selector: {app: nobody}\n  ports: [{port: 80}]\n")
        + make.service("web", "  selector: {app: web}\n  ports: [{port: 80, targetPort: grpc}]\n")
    )
    assert plan_from_text(text, "t.yaml").warnings == (
        "Service default/nothing selects no pods: it has no endpoints",
        "Service default/web port 80: no selected pod has a port named 'grpc'",
    )


def test_the_same_file_gives_the_same_plan(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology(zones="abc") + PASTED + make.deployment("web", 5) + make.service("web")
    assert plan_from_text(text, "t.yaml").to_json() == plan_from_text(text, "t.yaml").to_json()


def test_object_checks_still_run_without_a_topology(make: SimpleNamespace) -> None:
    with pytest.raises(TopologyError) as raised:
        plan_from_text(make.deployment("web", 1, namespace="shop"), "t.yaml")
    assert [p.message for p in raised.value.problems] == [
        "no Topology document: the file needs one (apiVersion: dpctl.dev/v1, kind: Topology)",
        "namespace 'shop' is not declared; add a Namespace document (only 'default', 'kube-system' and 'istio-system' exist without one)",
    ]


def test_the_error_message_counts_and_lists_every_problem(make: SimpleNamespace) -> None:
    with pytest.raises(TopologyError) as raised:
        plan_from_text(make.deployment("web", -1, namespace="shop"), "bad.yaml")
    assert str(raised.value).splitlines()[0] == "3 problems in topology"
    assert raised.value.exit_code == 2


def test_what_the_api_server_accepts_dpctl_accepts(topology: Callable[..., str], make: SimpleNamespace) -> None:
    """generateName, trimmed loadBalancerSourceRanges, appProtocol, and an
    externalIP that is a node's own address (the most common use of externalIPs)."""
    text = topology() + (
        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {generateName: runner-}\n"
        + make.service(
            "web",
            "  type: LoadBalancer\n  externalIPs: [192.168.1.4]\n  loadBalancerSourceRanges: [' 10.0.0.0/8 ']\n"
            "  ports: [{port: 80, appProtocol: http}]\n",
        )
    )
    plan = plan_from_text(text, "t.yaml")
    web = next(s for s in plan.services if s.name == "web")
    assert plan.node("node-a").ip == "192.168.1.4" and web.external_ips == ("192.168.1.4",)
    assert web.load_balancer_source_ranges == ("10.0.0.0/8",)
    again = plan_from_text(text, "t.yaml")
    assert again == plan  # the generated name is the same every time
