"""``dpctl verify`` on the real kernel: it passes on a healthy emulation and
each check fails, naming the right subject, when the data plane is broken."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from dataplane.kernel import inpod
from dataplane.kubeproxy.names import service_port_names
from dataplane.mesh.ztunnel.capture import CAPTURE
from dataplane.topology.plan import Plan
from tests.integration.support import dpctl

pytestmark = pytest.mark.dpctl_root


@pytest.fixture
def services(emulation: Callable[..., Plan]) -> Plan:
    return emulation("services.yaml", CNI="vpc")


@pytest.fixture
def mesh(emulation: Callable[..., Plan]) -> Plan:
    return emulation("mesh.yaml", CNI="vpc")


def verify(plan: Plan, *args: str) -> subprocess.CompletedProcess[str]:
    return dpctl("verify", "-t", plan.name, *args, timeout=300)


def test_connectivity_passes_on_a_healthy_emulation_with_json_and_junit(services: Plan) -> None:
    result = verify(services, "--only", "connectivity", "-o", "json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["totals"]["failed"] == 0
    subjects = {r["subject"] for r in report["results"]}
    assert "shop/client -> svc shop/web:80" in subjects
    assert "shop/client -> svc shop/empty:80" in subjects  # expected refused, and it is
    assert any(s.startswith("external -> lb shop/web-lb") for s in subjects)
    assert any(s.startswith("external -> nodeport shop/solo-local") for s in subjects)

    junit = verify(services, "--only", "connectivity", "-o", "junit")
    assert junit.returncode == 0
    root = ET.fromstring(junit.stdout.split("?>", 1)[1])
    cases = root.findall(".//testcase")
    assert len(cases) == len(report["results"]) and not root.findall(".//failure")

    table = verify(services, "--only", "connectivity")
    assert table.returncode == 0 and "connectivity: passed" in table.stdout


def test_connectivity_fails_naming_the_service_whose_dnat_is_gone(services: Plan) -> None:
    client = services.pod("shop", "client")
    web = next(s for s in services.services if s.name == "web")
    chain = service_port_names(web, web.ports[0]).service
    node_ns = services.node(client.node).netns
    subprocess.run(["nsenter", f"--net=/run/netns/{node_ns}", "nft", "flush", "chain", "ip", "kube-proxy", chain], check=True)
    result = verify(services, "--only", "connectivity", "-o", "json")
    assert result.returncode == 1
    failed = [r for r in json.loads(result.stdout)["results"] if r["status"] == "failed"]
    assert failed
    assert all("svc shop/web:80" in r["subject"] for r in failed), [(r["subject"], r["reason"]) for r in failed]
    assert any(r["subject"] == "shop/client -> svc shop/web:80" for r in failed)
    junit = verify(services, "--only", "connectivity", "-o", "junit")
    assert junit.returncode == 1
    assert ET.fromstring(junit.stdout.split("?>", 1)[1]).findall(".//failure")


def test_encryption_passes_then_fails_naming_pair_and_interface(mesh: Plan) -> None:
    ok = verify(mesh, "--only", "encryption", "-o", "json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    results = json.loads(ok.stdout)["results"]
    assert [r["subject"] for r in results] == ["mesh/client -> mesh/server-0:8080"]
    assert results[0]["status"] == "passed"

    client = mesh.pod("mesh", "client")
    inpod.disable_redirection(client.netns, CAPTURE)
    bad = verify(mesh, "--only", "encryption", "-o", "json")
    assert bad.returncode == 1
    result = json.loads(bad.stdout)["results"][0]
    assert result["subject"] == "mesh/client -> mesh/server-0:8080" and result["status"] == "failed"
    assert result["reason"].startswith("plaintext canary seen in ")
    node_ns = mesh.node(client.node).netns
    assert node_ns in result["evidence"] or mesh.node(mesh.pod("mesh", "server-0").node).netns in result["evidence"]
    assert "eth0" in result["evidence"] or client.host_iface in result["evidence"]
    assert "non-HBONE TCP" in result["evidence"]


def test_mesh_connectivity_expects_the_policy_denial(mesh: Plan) -> None:
    result = verify(mesh, "--only", "connectivity", "-o", "json")
    assert result.returncode == 0, result.stdout[-3000:]
    by_subject = {r["subject"]: r for r in json.loads(result.stdout)["results"]}
    denied = by_subject["mesh/client -> pod mesh/server-0:8081"]
    assert denied["status"] == "passed" and "reset" in denied["evidence"] or "EOF" in denied["evidence"]


def test_unmeshed_encryption_is_skipped(services: Plan) -> None:
    result = verify(services, "--only", "encryption", "-o", "json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    statuses = {r["check"]: (r["status"], r["reason"]) for r in report["results"]}
    assert statuses["encryption"] == ("skipped", "skipped: no meshed pods")
