"""``scripts/bench security``: what the security layers cost on the data path, against none, in one run.

One emulation (two nodes in two subnets, a client and a server pod); the
rules are swapped live between measurements, as ``dpctl apply`` would:

* none: no security group, ACL or NetworkPolicy;
* 100 and 1,000 security-group rules on each node's ENI and as many ACL
  entries on each subnet, every packet walking all of them (the one rule
  that matches comes last);
* 100 NetworkPolicies selecting the server pod, the allowing one last.

For each: iperf3 Gbit/s (one stream), as a ratio against "none".  A
connection-rate column was tried and dropped: with the agents' Python
responder and a Python client on both ends it moved by +-50 % between runs
of the same rules, so it measured the machine, not the rules.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from bench.common import emulation
from bench.common import iperf as iperf_from
from dataplane.realize import netpol, vpc
from dataplane.topology.plan import Plan, TrafficObject

ROUNDS = 5
IPERF_RUN = 3
TOPOLOGY = """\
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: NAME}
spec:
  vpc:
    cidr: 10.40.0.0/16
    subnets:
      - {name: a, cidr: 10.40.1.0/24, zone: a}
      - {name: b, cidr: 10.40.2.0/24, zone: b}
  nodes:
    - {name: na, subnet: a}
    - {name: nb, subnet: b}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {nodeName: na, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: server}}
spec:
  nodeName: nb
  containers:
    - {name: web, ports: [{name: http, containerPort: 8080}]}
    - name: iperf
      command: [iperf3, -s, -p, "5201"]
      ports: [{name: tcp-iperf, containerPort: 5201}]
"""


def with_groups_and_acls(plan: Plan, rules: int) -> Plan:
    """``plan`` with ``rules`` security-group rules and ACL entries per direction, the match last."""
    misses = [{"protocol": "tcp", "fromPort": 10000 + i, "toPort": 10000 + i, "cidr": "192.0.2.0/24"}
              for i in range(rules - 1)]
    group = {"name": "bench", "ingress": [*misses, {"protocol": "-1", "cidr": "0.0.0.0/0"}],
             "egress": [*misses, {"protocol": "-1", "cidr": "0.0.0.0/0"}]}
    entries: list[dict[str, Any]] = []
    for egress in (False, True):
        entries += [{"ruleNumber": 1 + i, "egress": egress, "protocol": "tcp", "portRange": {"from": 10000 + i,
                     "to": 10000 + i}, "cidrBlock": "192.0.2.0/24", "ruleAction": "deny"} for i in range(rules - 1)]
        entries.append({"ruleNumber": rules + 1, "egress": egress, "protocol": "-1", "cidrBlock": "0.0.0.0/0",
                        "ruleAction": "allow"})
    return dataclasses.replace(
        plan,
        vpc_security={"securityGroups": [group], "networkAcls": [{"name": "bench", "entries": entries}]},
        nodes=tuple(dataclasses.replace(n, security_groups=("bench",)) for n in plan.nodes),
        subnets=tuple(dataclasses.replace(s, network_acl="bench") for s in plan.subnets),
    )


def with_policies(plan: Plan, count: int) -> Plan:
    """``plan`` with ``count`` NetworkPolicies selecting the server, only the last one allowing the client."""
    client = plan.pod("default", "client").ip
    policies = [
        TrafficObject("NetworkPolicy", "default", f"bench-{i}", 10_000 + i, {
            "podSelector": {"matchLabels": {"app": "server"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": f"{client}/32" if i == count - 1 else "192.0.2.0/24"}}],
                         "ports": [{"port": 8080}, {"port": 5201}]}],
        }, {})
        for i in range(count)
    ]
    return dataclasses.replace(plan, traffic=(*plan.traffic, *policies))


def _measure(plan: Plan) -> float:
    """Gbit/s of one round under ``plan``'s rules."""
    client, server = plan.pod("default", "client"), plan.pod("default", "server")
    vpc.apply_all(plan)
    netpol.apply_all(plan)
    return iperf_from(client.netns, server.ip, 5201, seconds=IPERF_RUN)


def run() -> None:
    with emulation(TOPOLOGY, "security") as plan:
        layouts = {
            "none": plan,
            "100 SG rules + 100 ACL entries": with_groups_and_acls(plan, 100),
            "1,000 SG rules + 1,000 ACL entries": with_groups_and_acls(plan, 1000),
            "100 NetworkPolicies": with_policies(plan, 100),
        }
        # Rounds outside, layouts inside: a drift of the machine over the run
        # (the agents' responder warming up, another process) touches every
        # layout alike instead of the ones measured last.
        rounds: dict[str, list[float]] = {label: [] for label in layouts}
        for _ in range(ROUNDS):
            for label, layout in layouts.items():
                rounds[label].append(_measure(layout))
        vpc.apply_all(plan)
        netpol.apply_all(plan)
    results = {label: statistics.median(runs) for label, runs in rounds.items()}
    base = results["none"]
    print(f"\nThe security layers: pod to pod across two subnets, iperf3 one stream ({IPERF_RUN} s), "
          f"medians of {ROUNDS} rounds taken in turn")
    print(f"{'rules':<36}{'Gbit/s':>8}{'x none':>8}")
    for label, gbits in results.items():
        print(f"{label:<36}{gbits:>8.2f}{gbits / base:>8.2f}")
