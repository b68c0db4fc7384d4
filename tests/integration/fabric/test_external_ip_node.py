"""An externalIP that is a node's own address -- the most common use of
externalIPs, which the API server accepts -- is served by the Service on that
node, from outside the cluster and from a pod, as kube-proxy serves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.testing.plugin import Emulations
from tests.integration.support import http_get

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(120)]

TOPOLOGY = """
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: NAME}
spec:
  vpc: {cidr: 192.168.0.0/16, subnets: [{name: a, cidr: 192.168.130.0/24, zone: a}]}
  nodes: [{name: n1, subnet: a, ip: 192.168.130.10}, {name: n2, subnet: a}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  externalIPs: [192.168.130.10]
  ports: [{port: 8888, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {nodeName: n2, containers: [{name: c}]}
"""


def test_a_node_address_as_external_ip_is_served_by_the_service(tmp_path: Path, topology: Emulations) -> None:
    path = tmp_path / "extip.yaml"
    path.write_text(TOPOLOGY.replace("NAME", "extip"))
    plan = topology(path).plan
    assert plan.external is not None
    webs = {p.name for p in plan.pods if p.owner == "Deployment/web"}
    from_outside = http_get(plan.external.client_netns, "192.168.130.10", 8888)
    from_a_pod = http_get(plan.pod("default", "client").netns, "192.168.130.10", 8888)
    assert from_outside["pod"] in webs and from_a_pod["pod"] in webs
