"""up / down as a whole: rollback, crashes, side-by-side emulations, and
proof that the host namespace is left exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataplane.errors import BuildError
from dataplane.kernel import daemons, etcnetns, netns
from dataplane.realize import fabric
from dataplane.realize import up as up_module
from dataplane.realize.teardown import teardown
from dataplane.state.lock import lock_path
from dataplane.state.store import StateDir
from dataplane.testing import hostsnapshot
from dataplane.topology import load_plan, naming
from tests.integration.support import dpctl, http_get, unique_name, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(240)]


def assert_nothing_left(name: str) -> None:
    prefix = naming.prefix(name)
    assert netns.list_names(prefix) == [], "namespaces left behind"
    assert not StateDir(name).exists(), "state directory left behind"
    etc_left = [d for d in os.listdir(etcnetns.ETC_NETNS) if d.startswith(prefix)] if os.path.isdir(
        etcnetns.ETC_NETNS
    ) else []
    assert etc_left == [], "/etc/netns entries left behind"
    assert daemons.agents_of(StateDir(name).path) == set(), "processes left behind"
    assert not os.path.exists(lock_path(name)), "lock file left behind"


def test_full_cycle_leaves_host_unchanged(tmp_path: Path) -> None:
    name = unique_name("cycle")
    path = write_topology(tmp_path, "fabric.yaml", name, CNI="vpc")
    before = hostsnapshot.snapshot()
    try:
        dpctl("up", "-q", str(path), check=True)
        expected = StateDir(name).load_plan().all_netns()
        assert netns.list_names(naming.prefix(name)) == sorted(expected)
    finally:
        dpctl("down", name, check=True)
    assert hostsnapshot.differences(before, hostsnapshot.snapshot()) == []
    assert_nothing_left(name)


def test_failure_half_way_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique_name("rollback")
    plan = load_plan(write_topology(tmp_path, "fabric.yaml", name, CNI="vpc"))
    real_create = fabric.netns.create
    pods = {p.netns: p.name for p in plan.pods}
    built: list[str] = []

    def failing_create(netns_name: str) -> None:
        """The third pod namespace cannot be made: half of the pods are built by then."""
        if netns_name in pods and len(built) == 2:
            raise OSError("injected failure")
        real_create(netns_name)
        if netns_name in pods:
            built.append(pods[netns_name])

    monkeypatch.setattr(fabric.netns, "create", failing_create)
    before = hostsnapshot.snapshot()
    try:
        with pytest.raises(BuildError, match="injected failure"):
            up_module.up(plan, "")
        assert built == ["x", "y"]  # it really failed half-way
        assert_nothing_left(name)
        assert hostsnapshot.differences(before, hostsnapshot.snapshot()) == []
    finally:
        teardown(name)


def test_agent_failure_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique_name("agentfail")
    plan = load_plan(write_topology(tmp_path, "fabric.yaml", name, CNI="vpc"))
    monkeypatch.setattr(up_module, "agent_argv", lambda state, node: [sys.executable, "-c", "raise SystemExit(3)"])
    try:
        with pytest.raises(BuildError, match="agent of node"):
            up_module.up(plan, "")
        assert_nothing_left(name)
    finally:
        teardown(name)


def test_kill_9_during_up_then_down_leaves_nothing(tmp_path: Path) -> None:
    name = unique_name("kill9")
    path = write_topology(tmp_path, "many.yaml", name, REPLICAS="60")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dataplane.cli", "up", "-q", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while len(netns.list_names(naming.prefix(name))) < 10:
            assert proc.poll() is None, "up finished before it could be interrupted"
            assert time.monotonic() < deadline, "up made no progress"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert netns.list_names(naming.prefix(name)), "the kill came too late to test anything"
    finally:
        result = dpctl("down", name)
    assert result.returncode == 0, result.stderr
    assert_nothing_left(name)


def test_kill_9_of_agents_after_up_then_down(tmp_path: Path) -> None:
    name = unique_name("killagent")
    path = write_topology(tmp_path, "fabric.yaml", name, CNI="vpc")
    dpctl("up", "-q", str(path), check=True)
    try:
        plan = StateDir(name).load_plan()
        agents = daemons.agents_of(StateDir(name).path)
        assert len(agents) == len(plan.nodes)
        for pid in agents:
            os.kill(pid, signal.SIGKILL)
        # State directory gone too: down must work from the prefix alone.
        StateDir(name).remove()
    finally:
        dpctl("down", name, check=True)
    assert_nothing_left(name)


def test_two_emulations_side_by_side(tmp_path: Path) -> None:
    first, second = unique_name("left"), unique_name("right")
    path_a = write_topology(tmp_path, "fabric.yaml", first, CNI="vpc")
    path_b = write_topology(tmp_path, "fabric.yaml", second, CNI="overlay")
    try:
        dpctl("up", "-q", str(path_a), check=True)
        dpctl("up", "-q", str(path_b), check=True)
        plan_a, plan_b = StateDir(first).load_plan(), StateDir(second).load_plan()
        # Same pod names, same addresses in places: still fully separate.
        assert http_get(plan_a.pod("shop", "x").netns, plan_a.pod("default", "w").ip)["pod"] == "w"
        assert http_get(plan_b.pod("shop", "x").netns, plan_b.pod("default", "w").ip)["pod"] == "w"
        dpctl("down", str(path_a), check=True)
        assert_nothing_left(first)
        assert http_get(plan_b.pod("shop", "x").netns, plan_b.pod("default", "w").ip)["pod"] == "w"
    finally:
        teardown(first)
        teardown(second)
    assert_nothing_left(second)


def test_up_twice_is_refused_without_harm(tmp_path: Path) -> None:
    name = unique_name("twice")
    path = write_topology(tmp_path, "fabric.yaml", name, CNI="vpc")
    try:
        dpctl("up", "-q", str(path), check=True)
        again = dpctl("up", "-q", str(path))
        assert again.returncode == 1
        assert "already up" in again.stderr and "Traceback" not in again.stderr
        assert len(netns.list_names(naming.prefix(name))) == len(StateDir(name).load_plan().all_netns())
    finally:
        dpctl("down", name, check=True)


def test_invalid_file_creates_nothing(tmp_path: Path) -> None:
    name = unique_name("bad")
    path = write_topology(tmp_path, "fabric.yaml", name, CNI="vpc")
    path.write_text(path.read_text().replace("subnet: sub-b", "subnet: sub-x").replace("nodeName: a2", "nodeName: q9"))
    before = hostsnapshot.snapshot()
    result = dpctl("up", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unknown subnet" in result.stderr.lower() or "sub-x" in result.stderr
    assert "q9" in result.stderr  # every problem at once, not just the first
    assert str(path) in result.stderr
    assert netns.list_names(naming.prefix(name)) == []
    assert hostsnapshot.differences(before, hostsnapshot.snapshot()) == []
