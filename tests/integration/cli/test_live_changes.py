"""Live changes: scale, delete, readiness and apply take effect within a
second, without rebuilding anything else and without a gap in service."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from dataplane.kernel import netns
from dataplane.state.store import StateDir
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan
from tests.integration.support import dpctl, write_topology
from tests.integration.support.traffic import http_get, pods_answering, udp_exchange

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture
def live(tmp_path: Path, topology: Emulations) -> tuple[str, Path]:
    """The running emulation's name, and its file (under that name) for ``apply``."""
    name = topology(write_topology(tmp_path, "services.yaml", "live", CNI="vpc")).name
    return name, write_topology(tmp_path, "services.yaml", name, CNI="vpc")


def plan_of(name: str) -> Plan:
    return StateDir(name).load_plan()


def web_ip(plan: Plan) -> str:
    return next(s.cluster_ip for s in plan.services if s.name == "web" and s.cluster_ip)


def answering(plan: Plan, count: int = 60) -> set[str]:
    return set(pods_answering(plan.pod("shop", "client").netns, web_ip(plan), 80, count))


def test_scale_up_and_down(live: tuple[str, Path]) -> None:
    name, _ = live
    before = plan_of(name)
    kept = {p.name: p.ip for p in before.pods if p.owner == "Deployment/web"}
    started = time.monotonic()
    dpctl("scale", "-t", name, "shop/web", "5", check=True)
    after = plan_of(name)
    assert answering(after) == {"web-0", "web-1", "web-2", "web-3", "web-4"}
    assert time.monotonic() - started < 3  # the CLI round trip included
    # Survivors kept their addresses; nothing else was rebuilt.
    assert {p.name: p.ip for p in after.pods if p.name in kept} == kept
    dpctl("scale", "-t", name, "shop/web", "1", check=True)
    shrunk = plan_of(name)
    assert answering(shrunk) == {"web-0"}
    gone = [p for p in after.pods if p.name in {"web-1", "web-2", "web-3", "web-4"}]
    assert not any(netns.exists(p.netns) for p in gone)


def test_change_report_time_is_under_a_second(live: tuple[str, Path]) -> None:
    name, _ = live
    out = dpctl("set", "ready", "-t", name, "shop/web-1", "false", check=True).stdout
    millis = int(out.strip().rsplit("(", 1)[1].split()[0])
    assert millis < 1000, out


def test_readiness_and_terminating(live: tuple[str, Path]) -> None:
    name, _ = live
    dpctl("set", "ready", "-t", name, "shop/web-1", "false", check=True)
    assert answering(plan_of(name)) == {"web-0", "web-2"}
    dpctl("set", "ready", "-t", name, "shop/web-1", "true", check=True)
    assert answering(plan_of(name)) == {"web-0", "web-1", "web-2"}
    # Terminating pods leave the endpoints while others are ready...
    dpctl("set", "terminating", "-t", name, "shop/web-0", check=True)
    assert answering(plan_of(name)) == {"web-1", "web-2"}
    # ...and are used again (serving + terminating) when nothing else is ready.
    dpctl("set", "ready", "-t", name, "shop/web-1", "false", check=True)
    dpctl("set", "ready", "-t", name, "shop/web-2", "false", check=True)
    assert answering(plan_of(name)) == {"web-0"}


def test_delete_pod_is_replaced(live: tuple[str, Path]) -> None:
    name, _ = live
    before = plan_of(name)
    victim = before.pod("shop", "web-1")
    dpctl("delete", "pod", "-t", name, "shop/web-1", check=True)
    after = plan_of(name)
    names = {p.name for p in after.pods if p.owner == "Deployment/web"}
    assert names == {"web-0", "web-2", "web-3"}
    assert not netns.exists(victim.netns)
    assert answering(after) == names


def test_no_gap_while_scaling(live: tuple[str, Path]) -> None:
    """Requests running during scale up and down never fail."""
    name, _ = live
    plan = plan_of(name)
    client, ip = plan.pod("shop", "client").netns, web_ip(plan)
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                http_get(client, ip, 80, timeout=2)
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(repr(exc))

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        for replicas in ("5", "2", "4", "3"):
            dpctl("scale", "-t", name, "shop/web", replicas, check=True)
    finally:
        stop.set()
        worker.join()
    assert failures == []


def _udp_endpoint_of(plan: Plan, sport: int) -> str:
    """The endpoint the client node's conntrack pinned a UDP flow to."""
    node = plan.node(plan.pod("shop", "client").node)
    out = subprocess.run(
        ["ip", "netns", "exec", node.netns, "conntrack", "-L", "-p", "udp", "--orig-port-src", str(sport)],
        check=False,
        capture_output=True,
        text=True,
    ).stdout
    line = next(entry for entry in out.splitlines() if "dport=9000" in entry)
    reply_src = line.split("src=")[2].split()[0]  # second src= is the reply direction
    return next(p.name for p in plan.pods if p.ip == reply_src)


def test_stale_udp_flows_are_flushed(live: tuple[str, Path]) -> None:
    name, _ = live
    plan = plan_of(name)
    client = plan.pod("shop", "client").netns
    # One fixed source port: its conntrack entry pins it to one endpoint.
    assert udp_exchange(client, web_ip(plan), 9000, b"one", sport=40404) == b"one"
    pinned = _udp_endpoint_of(plan, 40404)
    out = dpctl("delete", "pod", "-t", name, f"shop/{pinned}", check=True).stdout
    assert "stale UDP" in out
    # Without the flush every later datagram would go to the deleted pod.
    assert udp_exchange(client, web_ip(plan), 9000, b"again", sport=40404) == b"again"
    assert _udp_endpoint_of(plan_of(name), 40404) != pinned


def test_apply_changed_file(live: tuple[str, Path]) -> None:
    name, path = live
    text = path.read_text().replace("replicas: 3", "replicas: 2")
    text += (
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: extra, namespace: shop}\n"
        "spec:\n  selector: {app: solo}\n  ports: [{name: http, port: 8000, targetPort: http}]\n"
    )
    path.write_text(text)
    dpctl("apply", str(path), check=True)
    plan = plan_of(name)
    assert answering(plan) == {"web-0", "web-1"}
    extra = next(s for s in plan.services if s.name == "extra")
    assert http_get(plan.pod("shop", "client").netns, extra.cluster_ip or "", 8000)["pod"] == "solo"
