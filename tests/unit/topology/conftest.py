"""Fixtures for the topology tests: a Topology document builder, the repo root, and
views of a plan without the cluster DNS objects every plan has."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from dataplane.topology.plan import Plan, Pod, Service

ROOT = Path(__file__).resolve().parents[3]


def _topology(zones: str = "ab", per_zone: int = 1, cni: str = "vpc", extra: str = "", nodes: str = "") -> str:
    """A Topology document: zone z gets subnet private-z (192.168.<n>.0/24) and nodes node-z, node-z2, ..."""
    subnets = "".join(
        f"      - {{name: private-{z}, cidr: 192.168.{i + 1}.0/24, zone: {z}}}\n" for i, z in enumerate(zones)
    )
    if not nodes:
        nodes = "".join(
            f"    - {{name: node-{z}{'' if k == 0 else k + 1}, subnet: private-{z}}}\n"
            for z in zones
            for k in range(per_zone)
        )
    return (
        "apiVersion: dpctl.dev/v1\nkind: Topology\nmetadata: {name: test}\nspec:\n"
        f"  cni: {cni}\n{extra}  vpc:\n    cidr: 192.168.0.0/16\n    subnets:\n{subnets}  nodes:\n{nodes}"
    )


def user_pods(plan: Plan) -> tuple[Pod, ...]:
    """The plan's pods but the cluster DNS ones (kube-system, always last)."""
    return tuple(p for p in plan.pods if p.namespace != "kube-system")


def user_services(plan: Plan) -> tuple[Service, ...]:
    return tuple(s for s in plan.services if s.namespace != "kube-system")


@pytest.fixture
def topology() -> Callable[..., str]:
    return _topology


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, so files are named as a user in the repo would name them."""
    monkeypatch.chdir(ROOT)
    return ROOT


def deployment(name: str, replicas: int, namespace: str = "default", spec: str = "", ports: str = "") -> str:
    return f"""---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
{spec}      containers:
        - name: app
{ports}"""


def service(name: str, spec: str = "  ports: [{port: 80}]\n", namespace: str = "default") -> str:
    return f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{spec}"


@pytest.fixture
def make() -> SimpleNamespace:
    """Builders for the Kubernetes documents tests need most: ``make.deployment``, ``make.service``."""
    return SimpleNamespace(deployment=deployment, service=service)
