"""How long a kube-proxy sync takes: render and apply a node's ruleset for
100, 1,000 and 5,000 Services of 10 endpoints each, on 5 nodes.

The baseline is the same transaction with no Services at all (the base
chains and maps alone), so the ratio shows what the Services cost.
"""

from __future__ import annotations

import platform
import secrets
import subprocess
import time

from dataplane.kernel import netns, nft
from dataplane.kubeproxy.render import detector_for, render_node
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan

NODES = 5
ENDPOINTS = 10
SIZES = (0, 100, 1000, 5000)


def topology(services: int) -> str:
    docs = [
        "apiVersion: dpctl.dev/v1\nkind: Topology\nmetadata: {name: bench}\nspec:\n"
        "  serviceCIDR: 10.96.0.0/12\n"
        "  vpc:\n    cidr: 192.168.0.0/16\n    subnets:\n      - {name: s, cidr: 192.168.0.0/20, zone: a}\n"
        "  nodes:\n" + "".join(f"    - {{name: n{i}, subnet: s}}\n" for i in range(NODES)),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        f"  replicas: {ENDPOINTS}\n  selector: {{matchLabels: {{app: web}}}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]\n",
    ]
    for i in range(services):
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\nspec:\n"
            "  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n"
        )
    return "---\n".join(docs)


def measure(plan: Plan, namespace: str) -> tuple[float, float, int]:
    """(render seconds, apply seconds) for node n0, and the ruleset's size."""
    started = time.perf_counter()
    text = render_node(plan, "n0", detect_local=detector_for(plan))
    rendered = time.perf_counter()
    nft.apply(namespace, text)
    applied = time.perf_counter()
    return rendered - started, applied - rendered, len(text)


def run() -> None:
    ns = f"dp-bench{secrets.token_hex(3)}.n0"
    netns.create(ns)
    try:
        print(f"kube-proxy sync, one node of {NODES}, {ENDPOINTS} endpoints per Service "
              f"(kernel {platform.release()}, {subprocess.run(['nft', '--version'], capture_output=True, text=True).stdout.strip()})")
        print(f"{'services':>8} {'render s':>9} {'apply s':>8} {'sync s':>7} {'ms/svc':>7} {'x empty':>8} {'ruleset':>9}")
        base = None
        for size in SIZES:
            plan = plan_from_text(topology(size), f"<bench {size}>")
            render_s, apply_s, length = measure(plan, ns)
            # Re-sync of an unchanged ruleset: what every periodic sync costs.
            render2, apply2, _ = measure(plan, ns)
            sync = min(render_s + apply_s, render2 + apply2)
            base = base or sync
            per = sync / size * 1000 if size else 0.0
            print(f"{size:>8} {render_s:>9.3f} {apply_s:>8.3f} {sync:>7.3f} {per:>7.3f} {sync / base:>8.1f} {length / 1024:>8.0f}K")
    finally:
        netns.delete(ns)
