"""The ztunnel's and the sidecar's outbound decisions (``Resolver.resolve``)
when sidecar pods share the cluster with ambient ones and a waypoint."""

from __future__ import annotations

import random

from dataplane.mesh.ztunnel.workloads import HBONE, PASSTHROUGH, Resolver, served_on
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from tests.unit.mesh.topologies import one_node_topology

TOPOLOGY = one_node_topology("resolve") + """apiVersion: v1
kind: Namespace
metadata: {name: mesh, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy, labels: {istio-injection: enabled}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: mesh}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: mesh, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: mesh}
spec: {selector: {app: web}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: legacy}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: tunnel, namespace: legacy, labels: {networking.istio.io/tunnel: http}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: outside, namespace: default}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
"""


def _plan() -> Plan:
    return plan_from_text(TOPOLOGY, "resolve.yaml")


def _vip(plan: Plan) -> str:
    [web] = [s for s in plan.services if (s.namespace, s.name) == ("mesh", "web")]
    assert web.cluster_ip is not None
    return web.cluster_ip


def test_an_ambient_client_uses_the_waypoint_and_tunnels_only_to_pods_that_take_hbone() -> None:
    plan = _plan()
    resolver = Resolver(plan, random.Random(1))
    vip = _vip(plan)
    via = resolver.resolve((vip, 8080))
    assert via.kind == HBONE and via.waypoint is not None and via.waypoint.name == "waypoint-0"
    assert resolver.resolve((plan.pod("legacy", "plain").ip, 8080)).kind == PASSTHROUGH  # its sidecar captures it
    tunnel = resolver.resolve((plan.pod("legacy", "tunnel").ip, 8080))
    assert tunnel.kind == HBONE and tunnel.identity == "spiffe://cluster.local/ns/legacy/sa/default"


def test_a_sidecar_skips_waypoints_and_tunnels_to_every_meshed_pod() -> None:
    plan = _plan()
    resolver = Resolver(plan, random.Random(1))
    vip = _vip(plan)
    direct = resolver.resolve((vip, 8080), sidecar=True)
    assert direct.kind == HBONE and direct.waypoint is None and direct.pod is not None and direct.pod.name == "web"
    assert direct.target == (plan.pod("mesh", "web").ip, 8080)
    assert resolver.resolve((plan.pod("legacy", "plain").ip, 8080), sidecar=True).kind == HBONE
    assert resolver.resolve((plan.pod("default", "outside").ip, 8080), sidecar=True).kind == PASSTHROUGH


def test_the_agent_serves_ambient_and_sidecar_pods_alike() -> None:
    plan = _plan()
    assert sorted(served_on(plan, "node-a")) == ["legacy/plain", "legacy/tunnel", "mesh/web"]  # the waypoint pod opts out
