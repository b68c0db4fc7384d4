"""``scripts/bench scale [PODS ...]``: bring-up and teardown at scale, against the plumbing floor.

For each size (default 100 and 1,000 pods; the issue also asks for 5,000
and 10,000, which take minutes: pass them), a topology of 10-50 nodes in
three zones, Deployments of 10 replicas and a Service per Deployment comes
up through the same library call ``dpctl up`` makes, and goes down again.
Printed per size: up and down in seconds and per pod, the agents' resident
memory per pod, and the ratio of ``up`` to the floor measured in the same
run: the same number of pod namespaces with a veth, addresses, routes and
the pod's ARP entry made directly (one namespace per pod, the node side of
each node's pods over one batch), and nothing else -- no services, agents,
certificates or rules.  Targets (issue 15): 1,000 pods up <= 5 s and down
<= 2 s; 10,000 pods up <= 60 s, per-pod cost flat, agents <= 100 KB a pod.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from dataplane.kernel import netns
from dataplane.kernel.links import NamespaceConfig
from dataplane.kernel.rtnlbatch import RtnlBatch
from dataplane.realize.teardown import teardown
from dataplane.realize.up import up
from dataplane.state.store import StateDir
from dataplane.topology import plan_from_text

SIZES = (100, 1000)
REPLICAS = 10
ZONES = "abc"


def topology(name: str, pods: int) -> str:
    nodes = min(50, max(10, pods // 200))
    lines = [
        "apiVersion: dpctl.dev/v1", "kind: Topology", f"metadata: {{name: {name}}}", "spec:", "  cni: vpc",
        "  vpc:", "    cidr: 10.0.0.0/16", "    subnets:",
        *(f"      - {{name: private-{z}, cidr: 10.0.{32 * i}.0/19, zone: {z}}}" for i, z in enumerate(ZONES)),
        "  nodes:", *(f"    - {{name: node-{n}, subnet: private-{ZONES[n % 3]}}}" for n in range(nodes)),
    ]
    for d in range(max(1, pods // REPLICAS)):
        lines += [
            "---", "apiVersion: apps/v1", "kind: Deployment", f"metadata: {{name: app-{d}}}", "spec:",
            f"  replicas: {REPLICAS}", f"  selector: {{matchLabels: {{app: app-{d}}}}}", "  template:",
            f"    metadata: {{labels: {{app: app-{d}}}}}",
            "    spec: {containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}",
            "---", "apiVersion: v1", "kind: Service", f"metadata: {{name: app-{d}}}",
            f"spec: {{selector: {{app: app-{d}}}, ports: [{{name: http, port: 80, targetPort: http}}]}}",
        ]
    return "\n".join(lines) + "\n"


def floor(pods: int, nodes: int) -> float:
    """Seconds to plumb ``pods`` pod namespaces on ``nodes`` node namespaces, nothing else (then removed)."""
    prefix = f"dp-benchfloor{secrets.token_hex(3)}."
    node_names = [f"{prefix}n{i}" for i in range(nodes)]
    made: list[str] = []
    try:
        for name in node_names:
            netns.create(name)
            made.append(name)
        started = time.monotonic()
        for n, node in enumerate(node_names):
            mine = [f"{prefix}p{p}" for p in range(pods) if p % nodes == n]
            for pod in mine:
                netns.create(pod)
                made.append(pod)
            with NamespaceConfig(node) as cfg:
                for i, pod in enumerate(mine):
                    cfg.veth(f"pv{i}", "eth0", pod, mac="ee:ee:ee:ee:ee:ee")
            with RtnlBatch(node) as batch:
                for i, _ in enumerate(mine):
                    batch.up(f"pv{i}")
                    batch.route(f"10.{n}.{i // 250}.{i % 250 + 1}/32", dev=f"pv{i}", scope_link=True)
            for i, pod in enumerate(mine):
                with RtnlBatch(pod) as batch:
                    batch.up("lo")
                    batch.address("eth0", f"10.{n}.{i // 250}.{i % 250 + 1}/32")
                    batch.up("eth0")
                    batch.neighbour("169.254.1.1", "ee:ee:ee:ee:ee:ee", "eth0")
                    batch.route("default", via="169.254.1.1", dev="eth0", onlink=True)
        return time.monotonic() - started
    finally:
        for name in reversed(made):
            netns.delete(name)


def agent_memory(name: str) -> int:
    """Resident bytes of the emulation's node agents (their ready files name their pids)."""
    total = 0
    for ready in (Path(StateDir(name).path) / "agents").glob("*.ready"):
        pid = json.loads(ready.read_text())["pid"]
        status = Path(f"/proc/{pid}/status").read_text()
        total += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
    return total


def run(sizes: tuple[int, ...] = SIZES) -> None:
    print("scale: dpctl up/down against the plumbing floor (same run)")
    print(f"  {'pods':>6} {'nodes':>5} {'up s':>7} {'ms/pod':>7} {'floor s':>8} {'x floor':>7} "
          f"{'down s':>7} {'agents MB':>9} {'KB/pod':>7}")
    for pods in sizes:
        name = f"bench-{secrets.token_hex(3)}"
        text = topology(name, pods)
        plan = plan_from_text(text, f"<bench scale {pods}>")
        base = floor(len(plan.pods), len(plan.nodes))
        started = time.monotonic()
        try:
            up(plan, text)
            took = time.monotonic() - started
            memory = agent_memory(name)
        finally:
            down_started = time.monotonic()
            teardown(name)
            down = time.monotonic() - down_started
        count = len(plan.pods)
        print(f"  {count:>6} {len(plan.nodes):>5} {took:>7.2f} {took / count * 1000:>7.2f} {base:>8.2f} "
              f"{took / base:>7.2f} {down:>7.2f} {memory / 1e6:>9.1f} {memory / count / 1024:>7.1f}")
