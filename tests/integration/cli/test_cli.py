"""The command line as users run it: get, exec and status on a live emulation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataplane.state.store import StateDir
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Plan:
    return module_topology(write_topology(tmp_path_factory.mktemp("cli"), "fabric.yaml", "cli", CNI="vpc")).plan


def test_get_pods_json(live: Plan) -> None:
    result = dpctl("get", "pods", "-t", live.name, "-o", "json", check=True)
    pods = {f"{p['namespace']}/{p['name']}": p for p in json.loads(result.stdout)}
    assert set(pods) == {"shop/x", "shop/y", "shop/z", "default/w", "kube-system/coredns-0", "kube-system/coredns-1"}
    w = pods["default/w"]
    assert (w["node"], w["zone"]) == ("b1", "b")
    assert w["ip"] == live.pod("default", "w").ip
    assert w["netns"] == f"dp-{live.name}.default.w"


def test_get_tables(live: Plan) -> None:
    wide = dpctl("get", "pods", "-t", live.name, "-o", "wide", check=True).stdout
    assert "NETNS" in wide and live.pod("shop", "z").netns in wide
    nodes = dpctl("get", "nodes", "-t", live.name, check=True).stdout
    for node in live.nodes:
        assert node.name in nodes and node.ip in nodes
    only = dpctl("get", "pods", "-t", live.name, "-n", "default", "-o", "json", check=True).stdout
    assert [p["name"] for p in json.loads(only)] == ["w"]


def test_exec_passes_exit_code_through(live: Plan) -> None:
    assert dpctl("exec", "-t", live.name, "shop/x", "--", "sh", "-c", "exit 7").returncode == 7
    assert dpctl("exec", "-t", live.name, "shop/x", "--", "true").returncode == 0


def test_exec_runs_inside_the_pod_with_its_resolv_conf(live: Plan) -> None:
    x = live.pod("shop", "x")
    addr = dpctl("exec", "-t", live.name, "shop/x", "--", "ip", "-4", "-o", "addr", "show", "eth0", check=True)
    assert f"{x.ip}/32" in addr.stdout
    resolv = dpctl("exec", "-t", live.name, "shop/x", "--", "cat", "/etc/resolv.conf", check=True).stdout
    assert f"nameserver {live.dns_ip}" in resolv
    assert "search shop.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert "options ndots:5" in resolv
    hosts = dpctl("exec", "-t", live.name, "shop/x", "--", "cat", "/etc/hosts", check=True).stdout
    assert f"{x.ip}\tx" in hosts


def test_exec_in_a_node(live: Plan) -> None:
    node = live.node("b1")
    out = dpctl("exec", "-t", live.name, "node/b1", "--", "ip", "-4", "-o", "addr", "show", "eth0", check=True)
    assert node.ip in out.stdout


def test_exec_unknown_pod_is_a_clear_error(live: Plan) -> None:
    result = dpctl("exec", "-t", live.name, "shop/nope", "--", "true")
    assert result.returncode == 1
    assert "no pod shop/nope" in result.stderr and "Traceback" not in result.stderr


def test_status_reports_healthy(live: Plan) -> None:
    records = json.loads(dpctl("status", "-o", "json", check=True).stdout)
    mine = [r for r in records if r["name"] == live.name]
    assert mine and mine[0]["healthy"] is True
    assert mine[0]["agentsReady"] == 3 and mine[0]["namespaces"] == len(live.all_netns())


def test_cross_node_request_from_the_cli(live: Plan) -> None:
    w = live.pod("default", "w")
    out = dpctl("exec", "-t", live.name, "shop/x", "--", "curl", "-sS", "--max-time", "5", f"http://{w.ip}:8080/hello")
    answer = json.loads(out.stdout)
    assert answer["pod"] == "w" and answer["path"] == "/hello"
    assert answer["client"].startswith(live.pod("shop", "x").ip + ":")



def test_mesh_certs_lists_root_and_every_service_account(live: Plan) -> None:
    rows = json.loads(dpctl("mesh", "certs", "-t", live.name, "-o", "json", check=True).stdout)
    assert rows[0]["type"] == "Root" and rows[0]["status"] == "Valid"
    leaves = {r["spiffeId"] for r in rows if r["type"] == "Leaf"}
    expected = {f"spiffe://cluster.local/ns/{p.namespace}/sa/{p.service_account}" for p in live.pods}
    assert leaves == expected
    certs = Path(StateDir(live.name).path) / "certs"
    keys = [certs / "root-key.pem", *certs.glob("*/key.pem")]
    assert len(keys) == len(expected) + 1
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600, key
    assert (certs.stat().st_mode & 0o777) == 0o700
