"""EKS zonal shift (aws-edge.md §5, case T28): the cluster is moved away from a zone.

The zone's nodes are cordoned, no pod is evicted, and the EndpointSlices lose
the zone's pods, so ClusterIP traffic never reaches them; all of it is undone
on cancel, or by the first node's agent when the shift expires.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.agent import ready
from dataplane.edge import zonalshift
from dataplane.state.layout import zonal_shifts_path
from dataplane.state.store import StateDir
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    path = write_topology(tmp_path_factory.mktemp("ekszs"), "services.yaml", "ekszs", CNI="vpc")
    yield module_topology(str(path))


def _answering_zones(emu: Emulation, tries: int = 40) -> set[str]:
    """The zones of the pods that answer up to ``tries`` new connections to the web Service's ClusterIP.

    kube-proxy picks an endpoint at random, so a zone with one pod of three is
    missed by 12 connections one time in 130; stopping once both zones have
    answered keeps the usual case short and makes a miss a one-in-10^7 event.
    """
    zones = {p.name: p.zone for p in StateDir(emu.name).load_plan().pods}
    seen: set[str] = set()
    for _ in range(tries):
        seen.add(zones[emu.http_get("shop/client", "http://web.shop/")["pod"]])
        if seen == {"a", "b"}:
            break
    return seen


def _nodes(emu: Emulation) -> dict[str, dict[str, object]]:
    return {n["name"]: n for n in json.loads(dpctl("get", "nodes", "-t", emu.name, "-o", "json", check=True).stdout)}


def test_t28_the_zone_is_cordoned_and_leaves_the_endpoint_slices(emu: Emulation) -> None:
    assert _answering_zones(emu) == {"a", "b"}
    missing = dpctl("zonal-shift", "start", "-t", emu.name, "--zone", "a", "--resource", "nothing")
    assert missing.returncode != 0 and f"{emu.name} (the last is the cluster)" in missing.stderr
    dpctl("zonal-shift", "start", "-t", emu.name, "--zone", "a", "--resource", emu.name, "--expires", "2h", check=True)
    try:
        nodes = _nodes(emu)
        assert {n: v["status"] for n, v in nodes.items()} == {
            "a1": "Ready,SchedulingDisabled", "a2": "Ready,SchedulingDisabled", "b1": "Ready"}
        plan = StateDir(emu.name).load_plan()
        zone_a = [p for p in plan.pods if p.namespace == "shop" and p.name.startswith("web-") and p.zone == "a"]
        assert zone_a, "no web pod is in zone a"
        assert _answering_zones(emu) == {"b"}  # ClusterIP traffic never reaches zone a
        for pod in zone_a:  # ... though nothing was evicted: each still answers on its own address
            assert emu.http_get("shop/client", f"http://{pod.ip}:8080/")["pod"] == pod.name
        dpctl("scale", "-t", emu.name, "shop/web", "4", check=True)
        added = StateDir(emu.name).load_plan().pod("shop", "web-3")
        assert added.zone == "b"  # the scheduler skips the cordoned nodes
        listing = dpctl("zonal-shift", "list", "-t", emu.name, check=True).stdout
        assert any(line.split()[:2] == [emu.name, "a"] for line in listing.splitlines())
    finally:
        dpctl("zonal-shift", "cancel", "-t", emu.name, "--resource", emu.name, check=True)
        dpctl("scale", "-t", emu.name, "shop/web", "3", check=True)
    assert {v["status"] for v in _nodes(emu).values()} == {"Ready"}
    assert _answering_zones(emu) == {"a", "b"}


def test_an_expired_shift_is_ended_by_the_first_nodes_agent(emu: Emulation) -> None:
    dpctl("zonal-shift", "start", "-t", emu.name, "--zone", "b", "--resource", emu.name, "--expires", "2h", check=True)
    state = StateDir(emu.name)
    try:
        assert state.load_overrides().shifted_zones == {"b"}
        # Move the expiry to now, as the clock would, and let the agent re-read it.
        path = zonal_shifts_path(state.path)
        shifts = [s if s.resource != emu.name else zonalshift.ZonalShift(s.resource, s.zone, s.started_at, time.time() + 1)
                  for s in zonalshift.load(path)]
        path.write_text(zonalshift.to_json(shifts))
        first = ready.read(Path(state.path), emu.plan.nodes[0].name)
        assert first is not None
        os.kill(first.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while state.load_overrides().shifted_zones and time.monotonic() < deadline:
            time.sleep(0.3)
        assert state.load_overrides().shifted_zones == frozenset()
        assert {v["status"] for v in _nodes(emu).values()} == {"Ready"}
        assert _answering_zones(emu) == {"a", "b"}
    finally:
        dpctl("zonal-shift", "cancel", "-t", emu.name, "--resource", emu.name, check=True)


def test_cordon_keeps_pods_and_steers_new_ones(emu: Emulation) -> None:
    before = {p.name: p.node for p in StateDir(emu.name).load_plan().pods}
    dpctl("cordon", "-t", emu.name, "b1", check=True)
    try:
        assert _nodes(emu)["b1"]["status"] == "Ready,SchedulingDisabled"
        dpctl("scale", "-t", emu.name, "shop/web", "5", check=True)
        after = {p.name: p.node for p in StateDir(emu.name).load_plan().pods}
        assert {k: v for k, v in after.items() if k in before} == before  # nothing moved or was evicted
        assert after["web-3"] != "b1" and after["web-4"] != "b1"
        assert _answering_zones(emu) == {"a", "b"}  # a cordoned node's pods still serve
        unknown = dpctl("cordon", "-t", emu.name, "z9")
        assert unknown.returncode != 0 and "no node 'z9'" in unknown.stderr
    finally:
        dpctl("uncordon", "-t", emu.name, "b1", check=True)
        dpctl("scale", "-t", emu.name, "shop/web", "3", check=True)
    assert _nodes(emu)["b1"]["status"] == "Ready"
