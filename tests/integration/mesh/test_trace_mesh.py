"""``dpctl trace`` through the mesh on a live emulation: past the ztunnel's
capture to the waypoint (its route rule, both HBONE hops with their
identities, the inbound verdict) and, with ``--live``, one real request whose
access-log lines and node-link packets confirm the path; a pod-IP destination
goes straight to the pod.  One CNI mode: the mesh's decisions do not depend on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, unique_name, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

CURL = "spiffe://cluster.local/ns/default/sa/curl"
WAYPOINT = "spiffe://cluster.local/ns/default/sa/waypoint"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Emulation:
    directory: Path = tmp_path_factory.mktemp("trace-mesh")
    return module_topology(write_topology(directory, "waypoint.yaml", unique_name("trmesh"), CNI="vpc"))


def _trace(emu: Emulation, *args: str) -> str:
    result = dpctl("trace", "-t", emu.plan.name, "default/curl", *args, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_service_call_is_followed_through_the_waypoint(live: Emulation) -> None:
    out = _trace(live, "svc/default/reviews:9080")
    waypoint = live.pod("default/waypoint-0")
    vip = live.service("default/reviews").cluster_ip
    assert "verdict: captured by the ztunnel outbound listener 15001 of default/curl" in out
    assert f"HBONE #1: default/curl -> {waypoint.ip}:15008 (default/waypoint-0), CONNECT :authority {vip}:9080" in out
    assert f"client {CURL}, server {WAYPOINT}" in out
    assert "waypoint default/waypoint: pod default/waypoint-0" in out
    assert "route: HTTPRoute default/reviews rule 1 match 0" in out
    assert "L7 policy: allowed by default/reviews-get" in out
    assert f"HBONE #2: default/waypoint-0 -> {live.pod('default/reviews-v1-0').ip}:15008" in out
    assert f"inbound ztunnel n2 :15008: peer {waypoint.ip} as {WAYPOINT}: allowed" in out
    assert f"sees peer {waypoint.ip}" in out


def test_a_header_picks_the_other_rule_and_a_post_is_denied_at_the_waypoint(live: Emulation) -> None:
    assert "route: HTTPRoute default/reviews rule 0 match 0" in _trace(
        live, "svc/default/reviews:9080", "-H", "end-user: jason")
    denied = _trace(live, "svc/default/reviews:9080", "--http-method", "POST")
    assert "L7 policy: DENIED" in denied and "answered by the waypoint: 403 RBAC: access denied" in denied


def test_a_pod_ip_destination_bypasses_the_waypoint(live: Emulation) -> None:
    v1 = live.pod("default/reviews-v1-0")
    out = _trace(live, f"{v1.ip}:9080")
    assert "takes HBONE: a tunnel straight to its 15008" in out and "waypoint default/waypoint" not in out
    assert f"HBONE #1: default/curl -> {v1.ip}:15008 (default/reviews-v1-0)" in out
    assert f"peer {live.pod('default/curl').ip} as {CURL}: allowed" in out


def test_live_confirms_the_waypoint_s_pick_in_its_access_log_and_tls_on_the_node_links(live: Emulation) -> None:
    result = dpctl("trace", "-t", live.plan.name, "default/curl", "svc/default/reviews:9080", "--live", "-o", "json",
                   timeout=60)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)["live"]
    assert found["outcome"] == "HTTP/1.1 200 OK"
    logs = found["logs"]
    assert any('"GET / HTTP/1.1" 200' in line and "envoy://connect_originate/" in line for line in logs), logs
    assert any('direction="outbound"' in line and "dst.workload=\"waypoint-0\"" in line for line in logs), logs
    answered = found["answered_by"]
    endpoint = live.pod(f"default/{answered}").ip
    assert any(f"connect_originate/{endpoint}:9080" in line for line in logs), (answered, logs)
    between_nodes = [f for f in found["flows"] if f["iface"] == "eth0"]
    assert between_nodes and all(f["destination"].endswith(":15008") and f["content"] in ("TLS", "no payload")
                                 for f in between_nodes), between_nodes
