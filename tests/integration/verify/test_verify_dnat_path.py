"""The dnat and path checks of ``dpctl verify`` on the real kernel: they pass
on healthy emulations (both CNI modes) and fail, naming the Service or the
hop, when the data plane is broken on purpose inside the emulation."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import pytest

from dataplane.kernel import inpod
from dataplane.kubeproxy.names import service_port_names
from dataplane.mesh.ztunnel.capture import CAPTURE
from dataplane.topology.plan import Plan
from dataplane.verify.checks import run_check
from tests.integration.support import dpctl

pytestmark = pytest.mark.dpctl_root


def verify(plan: Plan, *checks: str) -> tuple[int, list[dict[str, Any]]]:
    args = [a for check in checks for a in ("--only", check)]
    result = dpctl("verify", "-t", plan.name, *args, "-o", "json", timeout=300)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)["results"]


def nsenter(netns_name: str, *argv: str) -> None:
    """Run a command inside one of the emulation's namespaces (never the host's)."""
    assert netns_name.startswith("dp-") and "." in netns_name, netns_name
    subprocess.run(["nsenter", f"--net=/run/netns/{netns_name}", *argv], check=True)


def failed(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if r["status"] == "failed"]


@pytest.mark.parametrize("cni", ["vpc", "overlay"])
def test_dnat_and_path_pass_on_a_healthy_emulation(emulation: Callable[..., Plan], cni: str) -> None:
    plan = emulation("services.yaml", CNI=cni)
    code, results = verify(plan, "dnat", "path")
    assert code == 0 and not failed(results), [(r["subject"], r["reason"]) for r in failed(results)]
    by_check: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results:
        by_check.setdefault(r["check"], {})[r["subject"]] = r
    dnat, path = by_check["dnat"], by_check["path"]
    web = next(s for s in plan.services if s.name == "web")
    client = plan.pod("shop", "client")
    # kept source, DNAT to an endpoint, un-DNAT of the SYN-ACK, all seen on the wire
    seen = dnat[f"shop/client -> svc shop/web:80 ({web.cluster_ip}:80)"]["evidence"]
    assert f"left {client.ip}:" in seen and f"back {web.cluster_ip}:80 -> {client.ip}:" in seen and ":8080" in seen
    empty = next(s for s in plan.services if s.name == "empty")
    assert dnat[f"shop/client -> svc shop/empty:80 ({empty.cluster_ip}:80)"]["status"] == "passed"  # rejected
    assert any(s.startswith("external -> nodeport shop/web-np a1:30080") for s in dnat)
    assert any(s.startswith("external -> lb shop/web-lb") for s in dnat)
    # per node pair a pod -> pod flow; the ClusterIP and outside flows
    assert "pod shop/client -> pod shop/solo:8080" in path
    assert any(" -> svc " in s for s in path) and any(s.startswith("external -> nodeport") for s in path)
    hops = path["pod shop/client -> pod shop/solo:8080"]["evidence"].split(" | ")
    assert hops[0] == "pod shop/client eth0 out" and hops[-1] == "pod shop/solo eth0 in"
    assert ("node a1 vxlan0 out" in hops) == (cni == "overlay")


def test_dnat_fails_naming_the_service_whose_dnat_is_gone(emulation: Callable[..., Plan]) -> None:
    plan = emulation("services.yaml", CNI="vpc")
    client = plan.pod("shop", "client")
    web = next(s for s in plan.services if s.name == "web")
    chain = service_port_names(web, web.ports[0]).service
    nsenter(plan.node(client.node).netns, "nft", "flush", "chain", "ip", "kube-proxy", chain)
    code, results = verify(plan, "dnat")
    assert code == 1
    bad = failed(results)
    assert bad and all(" -> svc shop/web:80 " in r["subject"] for r in bad), [(r["subject"], r["reason"]) for r in bad]
    subjects = {r["subject"] for r in bad}
    assert f"shop/client -> svc shop/web:80 ({web.cluster_ip}:80)" in subjects
    assert f"node {client.node} -> svc shop/web:80 ({web.cluster_ip}:80)" in subjects
    assert all(r["reason"].startswith("shop/web:80: ") for r in bad)
    print(*(r["reason"] for r in bad), sep="\n")
    assert any("reached no endpoint" in r["reason"] for r in bad)


def test_dnat_fails_naming_the_node_port_whose_masquerade_is_gone(emulation: Callable[..., Plan]) -> None:
    plan = emulation("services.yaml", CNI="vpc")
    a1 = plan.node("a1")
    assert plan.external is not None
    nsenter(a1.netns, "nft", "flush", "chain", "ip", "kube-proxy", "masquerading")
    code, results = verify(plan, "dnat")
    assert code == 1
    bad = {r["subject"]: r for r in failed(results)}
    # outside traffic DNATed on a1 under the Cluster policy keeps the client's address
    for service, node_port in (("web-np", 30080), ("web-lb", 30081)):
        reason = bad[f"external -> nodeport shop/{service} a1:{node_port}"]["reason"]
        assert reason.startswith(f"shop/{service}:80: SYN reached shop/web-")
        assert f"from {plan.external.client_ip}, expected the masqueraded node address ({a1.ip})" in reason
    # nothing else, but the LB VIP when the LB picked a1
    assert all(s.startswith(("external -> nodeport shop/web-", "external -> lb shop/web-lb ")) for s in bad)
    assert not any(" a2:" in s or " b1:" in s for s in bad)


@pytest.mark.parametrize("cni", ["vpc", "overlay"])
def test_path_fails_naming_the_hop_of_a_detour_through_another_node(emulation: Callable[..., Plan], cni: str) -> None:
    plan = emulation("services.yaml", CNI=cni)
    client, solo = plan.pod("shop", "client"), plan.pod("shop", "solo")
    a1, a2, b1 = plan.node(client.node), plan.node("a2"), plan.node(solo.node)
    assert a1.subnet == a2.subnet != b1.subnet
    # Node a1 hands shop/solo's traffic (overlay: the VXLAN packets for node b1)
    # to node a2 in its own subnet, which forwards it on through the router: it
    # still arrives, by a way the plan does not have.
    detoured = solo.ip if cni == "vpc" else b1.ip
    nsenter(a1.netns, "ip", "route", "add", f"{detoured}/32", "via", a2.ip, "dev", "eth0")
    code, results = verify(plan, "path", "connectivity")
    by_subject = {(r["check"], r["subject"]): r for r in results}
    assert by_subject[("connectivity", "shop/client -> pod shop/solo:8080")]["status"] == "passed"
    assert code == 1
    detour = by_subject[("path", "pod shop/client -> pod shop/solo:8080")]
    assert detour["status"] == "failed"
    hop = 5 if cni == "vpc" else 6  # overlay: vxlan0 out comes before eth0
    wrapped = "" if cni == "vpc" else " in VXLAN"
    assert detour["reason"].startswith(
        f"hop {hop}: expected router br-sub-a in ({client.ip} -> {solo.ip}:8080{wrapped}), "
        f"seen router {a2.router_iface} out ({client.ip}:"
    ), detour["reason"]
    assert "node a2 eth0 in" in detour["evidence"]
    # only flows from node a1 to node b1 took the detour
    assert all(
        r["check"] == "path" and f"seen router {a2.router_iface} out" in r["reason"] for r in failed(results)
    ), [(r["subject"], r["reason"]) for r in failed(results)]


def test_path_expects_hbone_between_meshed_pods_and_names_the_plaintext_hop(emulation: Callable[..., Plan]) -> None:
    plan = emulation("mesh.yaml", CNI="vpc")
    subject = "pod mesh/client -> pod mesh/server-0:8080 (HBONE)"
    code, results = verify(plan, "path")
    assert code == 0, [(r["subject"], r["reason"]) for r in failed(results)]
    assert subject in {r["subject"] for r in results}
    client, server = plan.pod("mesh", "client"), plan.pod("mesh", "server-0")
    inpod.disable_redirection(client.netns, CAPTURE)  # the client's traffic no longer meets its ztunnel
    code, results = verify(plan, "path")
    assert code == 1
    bad = failed(results)
    assert [r["subject"] for r in bad] == [subject]
    assert bad[0]["reason"].startswith(
        f"hop 1 at pod mesh/client eth0 out: expected pod mesh/client eth0 out ({client.ip} -> {server.ip}:15008), "
        f"seen pod mesh/client eth0 out ({client.ip}:"
    ), bad[0]["reason"]
    assert f"-> {server.ip}:8080)" in bad[0]["reason"]


def test_dnat_and_path_leave_no_thread_or_socket_behind(emulation: Callable[..., Plan]) -> None:
    plan = emulation("mesh.yaml", CNI="overlay")
    run_check("dnat", plan), run_check("path", plan)  # warm-up: imports, Scapy's lazy tables
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    for check in ("dnat", "path"):
        assert all(r.ok for r in run_check(check, plan)), check
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == fds
