"""iperf3 through a ClusterIP against the same pod addressed directly.

Both runs cross the same nodes and links in one emulation; the only
difference is the Service DNAT (and its conntrack entry) on the client's
node, so the ratio is the price of kube-proxy's data path.
"""

from __future__ import annotations

import statistics

from bench.common import IPERF_SECONDS, emulation
from bench.common import iperf as iperf_from
from dataplane.topology.plan import Plan

ROUNDS = 5
TOPOLOGY = """\
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: NAME}
spec:
  vpc:
    cidr: 192.168.0.0/16
    subnets:
      - {name: a, cidr: 192.168.70.0/24, zone: a}
      - {name: b, cidr: 192.168.80.0/24, zone: b}
  nodes:
    - {name: na, subnet: a}
    - {name: nb, subnet: b}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: na
  containers: [{name: c}]
---
apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: iperf}}
spec:
  nodeName: nb
  containers:
    - name: iperf
      command: [iperf3, -s, -p, "5201"]
      ports: [{name: tcp-iperf, containerPort: 5201}]
---
apiVersion: v1
kind: Service
metadata: {name: iperf}
spec:
  selector: {app: iperf}
  ports: [{name: tcp-iperf, port: 5201, targetPort: 5201}]
"""


def iperf(plan: Plan, target: str, streams: int = 1) -> float:
    """Gbit/s received, from the client pod to ``target``:5201."""
    return iperf_from(plan.pod("default", "client").netns, target, 5201, streams)


def run() -> None:
    with emulation(TOPOLOGY, "throughput") as plan:
        # The responder port is declared for the Service; iperf3 itself listens there.
        server = plan.pod("default", "server").ip
        vip = next(s.cluster_ip for s in plan.services if s.name == "iperf")
        assert vip
        print(f"iperf3 pod -> pod on another node, direct vs through the ClusterIP, {ROUNDS} alternating "
              f"rounds of {IPERF_SECONDS} s (medians)")
        direct, service = [], []
        for _ in range(ROUNDS):
            direct.append(iperf(plan, server))
            service.append(iperf(plan, vip))
        base = statistics.median(direct)
        print(f"{'path':<22} {'Gbit/s':>8} {'x direct':>9}  {'rounds':<}")
        for label, runs in (("direct (pod IP)", direct), ("ClusterIP (DNAT)", service)):
            median = statistics.median(runs)
            print(f"{label:<22} {median:>8.2f} {median / base:>9.2f}  {' '.join(f'{r:.2f}' for r in runs)}")
