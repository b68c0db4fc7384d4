"""``dpctl down`` (and every command taking an emulation name) never reaches
outside its emulation: hostile names are refused before any path is built,
and a sentinel directory and a sentinel process outside survive everything.

The state root is a sandbox of the test's own (``DPCTL_STATE_ROOT``), with the
sentinel directory beside it, where a path-trusting ``down ../victim`` would
have deleted it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.kernel import daemons, netns
from dataplane.state.store import StateDir
from dataplane.testing import hostsnapshot
from dataplane.topology import naming
from tests.integration.support import dpctl, http_get, unique_name, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(240)]

HOSTILE = ["..", "../victim", "../..", "/", ".", "/tmp", "a/b", "victim/..", "x\n", "web\n", "x-", "A", "a" * 41]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path, subprocess.Popen[bytes]]]:
    """(environment with a sandboxed state root, the sentinel directory, the sentinel process)."""
    root = tmp_path / "state"
    root.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    env = {**os.environ, "DPCTL_STATE_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    # Names the victim in every way a path-trusting down would have matched it.
    sentinel = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", str(victim), "--state-dir", str(victim), str(root)]
    )
    try:
        yield env, victim, sentinel
    finally:
        sentinel.kill()
        sentinel.wait()


def _dpctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dataplane.cli", *args],
        capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL, check=False,
    )


def _assert_survived(victim: Path, sentinel: subprocess.Popen[bytes]) -> None:
    assert (victim / "precious").read_text() == "keep me"
    assert sentinel.poll() is None, "the sentinel process was stopped"


@pytest.mark.parametrize("name", HOSTILE)
def test_down_refuses_a_hostile_name_and_touches_nothing(sandbox, name: str) -> None:  # type: ignore[no-untyped-def]
    env, victim, sentinel = sandbox
    result = _dpctl(env, "down", name)
    assert result.returncode == 2, result
    assert "not a valid DNS-1123 label" in result.stderr and "Traceback" not in result.stderr
    _assert_survived(victim, sentinel)


@pytest.mark.parametrize("name", ["../victim", "/", ".."])
def test_every_command_refuses_a_hostile_emulation_name(sandbox, name: str) -> None:  # type: ignore[no-untyped-def]
    env, victim, sentinel = sandbox
    for args in (
        ["scale", "-t", name, "shop/web", "1"],
        ["delete", "pod", "-t", name, "shop/web-0"],
        ["set", "ready", "-t", name, "shop/web-0", "false"],
        ["mesh", "enroll", "-t", name, "shop"],
        ["get", "pods", "-t", name],
        ["status"],
    ):
        result = _dpctl(env, *args)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        if args != ["status"]:
            assert result.returncode == 2 and "DNS-1123 label" in result.stderr, (args, result)
    result = _dpctl({**env, "DPCTL_TOPOLOGY": name}, "get", "pods")
    assert result.returncode == 2 and "DPCTL_TOPOLOGY" in result.stderr
    _assert_survived(victim, sentinel)


def test_nul_in_a_name_cannot_pass(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """argv cannot carry NUL; a file can."""
    env, victim, sentinel = sandbox
    path = tmp_path / "nul.yaml"
    path.write_text('apiVersion: dpctl.dev/v1\nkind: Topology\nmetadata: {name: "x\\0y"}\n')
    for command in ("down", "up", "apply"):
        result = _dpctl(env, command, str(path))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result
    _assert_survived(victim, sentinel)


def test_a_file_whose_name_climbs_out_is_refused_by_down_up_and_apply(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, victim, sentinel = sandbox
    path = tmp_path / "climb.yaml"
    path.write_text(
        "apiVersion: dpctl.dev/v1\nkind: Topology\nmetadata: {name: ../..}\n"
        "spec: {vpc: {cidr: 10.0.0.0/16, subnets: [{name: a, cidr: 10.0.1.0/24, zone: a}]}, nodes: [{name: n, subnet: a}]}\n"
    )
    for command in ("down", "up", "apply"):
        result = _dpctl(env, command, str(path))
        assert result.returncode == 2, result
        assert "'../..' is not a valid DNS-1123 label" in result.stderr and "Traceback" not in result.stderr
    _assert_survived(victim, sentinel)


def test_down_stops_only_its_own_agents(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An emulation brought up in the sandbox: ``down`` stops its agents, but not a
    process that merely names its state directory among its arguments."""
    env, victim, sentinel = sandbox
    name = unique_name("safe")
    state_dir = Path(env["DPCTL_STATE_ROOT"]) / name
    bystander = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", "--state-dir", str(state_dir), str(state_dir)]
    )
    before = hostsnapshot.snapshot()
    try:
        path = write_topology(tmp_path, "fabric.yaml", name, CNI="vpc")
        assert _dpctl(env, "up", "-q", str(path)).returncode == 0
        agents = daemons.agents_of(str(state_dir))
        assert len(agents) == 3
        result = _dpctl(env, "down", name)
        assert result.returncode == 0, result.stderr
        assert not any(daemons.alive(pid) for pid in agents)
        assert bystander.poll() is None, "down stopped a process that was not its own"
        assert not state_dir.exists() and netns.list_names(naming.prefix(name)) == []
    finally:
        _dpctl(env, "down", name)
        bystander.kill()
        bystander.wait()
    assert hostsnapshot.differences(before, hostsnapshot.snapshot()) == []
    _assert_survived(victim, sentinel)


def test_down_all_under_another_state_root_stops_the_agents_too(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Namespace names are machine-wide, state roots are not: ``down --all`` run
    with another ``DPCTL_STATE_ROOT`` removes the namespaces, so it must stop the
    agents serving them as well, and still leave a bystander alone."""
    env, victim, sentinel = sandbox
    name = unique_name("roots")
    other_root = tmp_path / "other-root"
    other_root.mkdir()
    other_env = {**env, "DPCTL_STATE_ROOT": str(other_root)}
    bystander = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", "-m", "dataplane.agent", "--state-dir", f"/nowhere/{name}"]
    )
    try:
        path = write_topology(tmp_path, "fabric.yaml", name, CNI="vpc")
        assert _dpctl(env, "up", "-q", str(path)).returncode == 0
        agents = daemons.agents_of_emulation(name)
        assert len(agents) == 3
        result = _dpctl(other_env, "down", "--all")
        assert result.returncode == 0, result.stderr
        assert f"{name}: removed" in result.stdout
        assert not any(daemons.alive(pid) for pid in agents), "agents under the first root outlived down --all"
        assert netns.list_names(naming.prefix(name)) == []
        assert bystander.poll() is None, "down --all stopped a process that was not an agent of the emulation"
    finally:
        _dpctl(env, "down", name)
        bystander.kill()
        bystander.wait()
    _assert_survived(victim, sentinel)


def test_down_of_a_name_that_is_not_up_says_so(sandbox) -> None:  # type: ignore[no-untyped-def]
    env, victim, sentinel = sandbox
    result = _dpctl(env, "down", unique_name("nothing"))
    assert result.returncode == 1 and "is not up" in result.stderr
    quiet = _dpctl(env, "down", "--all")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    _assert_survived(victim, sentinel)


def _longest_names_topology(name: str) -> tuple[str, dict[str, str]]:
    """Every name at the longest Kubernetes (or dpctl, for the topology) allows."""
    n = {
        "namespace": "n" * 63,
        "deployment": "d" * 251,  # its pods are <name>-0 and <name>-1: 253 characters
        "pod": "p" * 253,
        "service": "s" * 63,
        "account": "a" * 253,
        "container": "c" * 63,
        "node": "k" * 63,
        "subnet": "b" * 63,
        "zone": "z" * 63,
    }
    text = f"""
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {{name: {name}}}
spec:
  vpc: {{cidr: 192.168.0.0/16, subnets: [{{name: {n['subnet']}, cidr: 192.168.90.0/24, zone: {n['zone']}}}]}}
  nodes: [{{name: {n['node']}, subnet: {n['subnet']}}}]
---
apiVersion: v1
kind: Namespace
metadata: {{name: {n['namespace']}, labels: {{istio.io/dataplane-mode: ambient}}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {n['account']}, namespace: {n['namespace']}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {n['deployment']}, namespace: {n['namespace']}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      serviceAccountName: {n['account']}
      containers: [{{name: {n['container']}, ports: [{{name: {"h" * 15}, containerPort: 8080}}]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: {n['pod']}, namespace: {n['namespace']}, labels: {{app: client}}}}
spec:
  containers: [{{name: {n['container']}, command: [sleep, "600"]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {n['service']}, namespace: {n['namespace']}}}
spec:
  selector: {{app: web}}
  ports: [{{name: {"h" * 15}, port: 80, targetPort: {"h" * 15}}}]
"""
    return text, n


def test_the_longest_names_that_validate_also_build(tmp_path: Path) -> None:
    """Nothing that validates may fail at build for a name: a 63-character
    namespace with a 253-character pod, service account and Deployment pods,
    a 40-character topology, meshed (certificate directories) and with a
    command (its log file), all come up and carry traffic."""
    name = "l" * 33 + "-" + unique_name("x")[-6:]  # 40 characters, unique per run
    text, n = _longest_names_topology(name)
    path = tmp_path / "long.yaml"
    path.write_text(text)
    try:
        result = dpctl("up", "-q", str(path))
        assert result.returncode == 0, result.stderr
        plan = StateDir(name).load_plan()
        assert all(len(ns.encode()) <= 255 for ns in plan.all_netns())
        client = plan.pod(n["namespace"], n["pod"])
        service = next(s for s in plan.services if s.name == n["service"])
        answer = http_get(client.netns, str(service.cluster_ip), 80)
        assert str(answer["pod"]).startswith(n["deployment"])
        listed = dpctl("get", "pods", "-t", name, "-o", "json", check=True).stdout
        assert n["pod"] in listed
    finally:
        dpctl("down", name)
    assert netns.list_names(naming.prefix(name)) == []
