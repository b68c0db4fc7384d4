"""Small plans for the realize tests, from inline topology text (pure: no kernel).

Two nodes in two subnets (``a1`` in zone a, ``b1`` in zone b), one pod
``default/web`` pinned to ``a1`` behind a Service with two external IPs: one
outside the VPC (routed to the first node) and one that is ``a1``'s own
address (reached on its subnet).  Every plan also holds the cluster DNS pods
``kube-system/coredns-0`` (on ``b1``) and ``coredns-1`` (on ``a1``).
"""

from __future__ import annotations

from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan

TOPOLOGY = """\
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: t}
spec:
  cni: CNI
  vpc:
    cidr: 192.168.0.0/16
    subnets:
      - {name: sub-a, cidr: 192.168.10.0/24, zone: a}
      - {name: sub-b, cidr: 192.168.20.0/24, zone: b}
  nodes:
    - {name: a1, subnet: sub-a}
    - {name: b1, subnet: sub-b}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  nodeName: a1
  containers:
    - name: app
      ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  externalIPs: [198.51.100.7, 192.168.10.4]
  ports: [{port: 80, targetPort: 8080}]
"""


def small(cni: str) -> Plan:
    return plan_from_text(TOPOLOGY.replace("CNI", cni), "t.yaml")


ECHO = """\
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: default}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
        - name: echo
          ports: [{name: udp-echo, containerPort: 7001, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{port: 7001, targetPort: 7001, protocol: UDP, nodePort: 30001}]
"""


def with_echo(replicas: int, previous: Plan | None = None) -> Plan:
    """The vpc plan plus a UDP NodePort Service ``default/echo`` over a Deployment
    of ``replicas`` pods; ``previous`` keeps survivors' addresses, as live changes do."""
    text = TOPOLOGY.replace("CNI", "vpc") + ECHO.replace("REPLICAS", str(replicas))
    return plan_from_text(text, "t.yaml", previous)
