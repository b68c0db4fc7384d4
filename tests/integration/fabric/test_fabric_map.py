"""The fabric map on the kernel: every pod's address has a permanent ARP entry wherever it is on-link.

The kernel's ARP table is shared by every namespace and bounded by the
host's gc_thresh3 (1,024 by default); learned entries for a thousand pods
overflowed it and dropped first packets.  The router and the other nodes of
a pod's subnet know its node's MAC from the start, as the VPC fabric knows
every ENI address, and a live change keeps that map in step.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dataplane.realize import wiring
from dataplane.state.store import StateDir
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan
from tests.integration.support import dpctl

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(180)]

TOPOLOGY = """\
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: fabricmap}
spec:
  cni: vpc
  vpc:
    cidr: 10.70.0.0/16
    subnets: [{name: a, cidr: 10.70.1.0/24, zone: a}]
  nodes: [{name: n1, subnet: a}, {name: n2, subnet: a}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}
"""


def _entry(netns_name: str, ip: str) -> str:
    return subprocess.run(["ip", "-n", netns_name, "-4", "neigh", "show", ip], capture_output=True, text=True,
                          check=True).stdout.strip()


def _mapped(plan: Plan) -> dict[str, tuple[str, str]]:
    """Each web pod's address -> (the router's entry, the other node's entry)."""
    found = {}
    for pod in (p for p in plan.pods if p.name.startswith("web-")):
        other = next(n for n in plan.nodes if n.name != pod.node)
        found[pod.ip] = (_entry(plan.router_netns, pod.ip), _entry(other.netns, pod.ip))
    return found


def test_pods_are_mapped_from_the_start_and_across_a_scale(tmp_path: Path, topology: Emulations) -> None:
    path = tmp_path / "fabricmap.yaml"
    path.write_text(TOPOLOGY)
    emu = topology(str(path))
    for ip, (router, other) in _mapped(emu.plan).items():
        pod = next(p for p in emu.plan.pods if p.ip == ip)
        mac = wiring.node_mac(emu.plan, emu.plan.node(pod.node))
        assert router.endswith(f"lladdr {mac} PERMANENT") and other.endswith(f"lladdr {mac} PERMANENT")
    dpctl("scale", "-t", emu.name, "default/web", "4", check=True)
    grown = StateDir(emu.name).load_plan()
    assert len(_mapped(grown)) == 4 and all("PERMANENT" in r and "PERMANENT" in o for r, o in _mapped(grown).values())
    dpctl("scale", "-t", emu.name, "default/web", "1", check=True)
    shrunk = StateDir(emu.name).load_plan()
    gone = {p.ip for p in grown.pods} - {p.ip for p in shrunk.pods}
    assert len(gone) == 3 and all("PERMANENT" not in _entry(shrunk.router_netns, ip) for ip in gone)
