"""``dpctl trace`` on a live emulation: the command line as a user runs it.

Each trace must name what the kernel really did (the Service chain, the
endpoint chain of the pod that answered and its DNAT, the reject, the
masquerade, or no rewrite at all) and must leave nothing behind: no
``dpctl-trace`` table in any namespace and no ``nft monitor`` process, also
when it is interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataplane.kernel import netns, nft
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan
from dataplane.trace.targets import resolve_destination, watchers
from tests.integration.support import dpctl, each_cni

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module", params=["vpc", "overlay"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations
) -> Iterator[Plan]:
    for emulation in each_cni(request, tmp_path_factory, module_topology, "services.yaml", "trace"):
        yield emulation.plan


def monitors_in(plan: Plan) -> list[int]:
    """PIDs of ``nft monitor`` processes inside the emulation's namespaces."""
    inodes = {netns.inode(n) for n in plan.all_netns() if netns.exists(n)}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"nft" in argv and b"monitor" in argv and netns.task_netns_inode(int(entry.name)) in inodes:
            found.append(int(entry.name))
    return found


def tracing_tables(plan: Plan) -> list[str]:
    return [n for n in plan.all_netns() if "dpctl-trace" in nft.ruleset(n)]


def assert_clean(plan: Plan) -> None:
    assert tracing_tables(plan) == []
    assert monitors_in(plan) == []


def trace(plan: Plan, *args: str) -> dict[str, Any]:
    result = dpctl("trace", "-t", plan.name, *args, "-o", "json", check=True)
    assert_clean(plan)
    return dict(json.loads(result.stdout))


def request_hops(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in data["hops"] if h["direction"] == "request"]


def node_hop(data: dict[str, Any], node: str) -> dict[str, Any]:
    return next(h for h in request_hops(data) if h["name"] == f"node {node}")


def test_pod_to_service_shows_service_chain_endpoint_chain_and_dnat(live: Plan) -> None:
    data = trace(live, "shop/client", "svc/shop/web")
    assert data["probe"]["outcome"] == "connected"
    verdict = data["verdict"]
    assert verdict["kind"] == "delivered"
    answered = live.pod("shop", verdict["name"].split("/")[1])
    assert answered.owner == "Deployment/web"
    steps = node_hop(data, live.pod("shop", "client").node)["steps"]
    assert steps[0].startswith("service-") and steps[0].endswith("-shop/web/tcp/http")
    assert steps[1].startswith("endpoint-")
    assert steps[1].endswith(f"-shop/web/tcp/http__{answered.ip}/8080 (dnat to {answered.ip}:8080)")
    # The pod that answered is the one the reply starts from.
    first_reply = next(h for h in data["hops"] if h["direction"] == "reply")
    assert first_reply["netns"] == answered.netns


def test_service_without_endpoints_shows_reject(live: Plan) -> None:
    data = trace(live, "shop/client", "svc/shop/empty")
    assert data["probe"]["outcome"] == "refused"
    node = live.pod("shop", "client").node
    assert data["verdict"]["kind"] == "rejected" and data["verdict"]["name"] == f"node {node}"
    assert data["verdict"]["via"] == "@no-endpoint-services"
    assert node_hop(data, node)["steps"][-1] == "reject"


def test_external_to_node_port_shows_masquerade(live: Plan) -> None:
    node = live.node("a1")
    data = trace(live, "external", "node/a1:30080")
    assert data["probe"]["outcome"] == "connected"
    hop = node_hop(data, "a1")
    assert hop["steps"][0].startswith("external-") and "mark-for-masquerade" in hop["steps"]
    assert hop["steps"][-1] == "masquerade"
    assert hop["after"]["src"] in {node.ip, node.vtep_ip}
    assert data["verdict"]["kind"] == "delivered"


def test_pod_to_pod_across_nodes_shows_node_hops_without_rewrite(live: Plan) -> None:
    client, solo = live.pod("shop", "client"), live.pod("shop", "solo")
    assert client.node != solo.node
    data = trace(live, "shop/client", "shop/solo")
    hops = request_hops(data)
    names = [h["name"] for h in hops]
    assert names[0] == "shop/client" and names[-1] == "shop/solo"
    assert {f"node {client.node}", f"node {solo.node}"} <= set(names)
    assert names.index(f"node {client.node}") < names.index(f"node {solo.node}")
    assert all(h["rewrites"] == [] and h["steps"] == [] for h in hops)
    assert data["verdict"]["address"] == f"{solo.ip}:8080"


def test_udp_to_service(live: Plan) -> None:
    data = trace(live, "shop/client", "svc/shop/web:echo")
    assert data["destination"]["protocol"] == "udp"
    assert data["probe"]["outcome"] == "replied"
    assert data["verdict"]["kind"] == "delivered" and data["verdict"]["address"].endswith(":9000")


def test_table_output(live: Plan) -> None:
    out = dpctl("trace", "-t", live.name, "shop/client", "svc/shop/web", check=True).stdout
    assert out.splitlines()[1].split() == ["HOP", "NAMESPACE", "IN/OUT", "PACKET", "RULES"]
    assert "verdict: delivered to shop/web-" in out
    assert_clean(live)


def test_bad_destination_is_a_clear_error(live: Plan) -> None:
    result = dpctl("trace", "-t", live.name, "shop/client", "svc/shop/nope")
    assert result.returncode == 1 and "no Service shop/nope" in result.stderr
    assert_clean(live)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_trace_leaves_nothing_behind(live: Plan, sig: signal.Signals) -> None:
    # The drop makes the probe wait for its whole timeout: time to interrupt it.
    assert live.external is not None
    node = next(n for n in live.nodes if n.name != live.pod("shop", "solo").node)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "faulthandler",  # SIGABRT dumps every thread's stack: the evidence if the signal is ever ignored
            "-m",
            "dataplane.cli",
            "trace",
            "-t",
            live.name,
            "external",
            f"node/{node.name}:30090",
            "--timeout",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        watched = watchers(live, live.external.client_netns, resolve_destination(live, f"node/{node.name}:30090", None))
        while not (tracing_tables(live) and len(monitors_in(live)) == len(watched)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            pytest.fail(f"trace still ran 15 s after {sig.name}; its threads:\n{proc.communicate(timeout=10)[1].decode()}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert_clean(live)
