"""Fixtures that bring emulations up on the real kernel and always remove
them -- on success, on failure and on interruption -- and prove the host's
own namespace was not touched."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dataplane.kernel import netns
from dataplane.realize.teardown import teardown
from dataplane.realize.up import up
from dataplane.state.lock import lock_path
from dataplane.state.store import StateDir
from dataplane.topology import naming, plan_from_text
from dataplane.topology.plan import Plan, Pod
from tests.integration import hostsnapshot

HERE = Path(__file__).parent
TOPOLOGIES = HERE / "topologies"


def unique_name(stem: str) -> str:
    return f"{stem}-{secrets.token_hex(3)}"


def write_topology(tmp_path: Path, template: str, name: str, **fields: str) -> Path:
    """Copy a test topology with its placeholders (NAME, CNI, ...) filled in."""
    text = (TOPOLOGIES / template).read_text()
    for key, value in {"NAME": name, **fields}.items():
        text = text.replace(key, value)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


@contextmanager
def running(directory: Path, template: str, stem: str, cni: str) -> Iterator[Plan]:
    """A copy of ``template`` brought up with ``dpctl up`` under a fresh name,
    as a user would, and always ``dpctl down`` again (for module fixtures)."""
    name = unique_name(stem)
    path = write_topology(directory, template, name, CNI=cni)
    try:
        dpctl("up", "-q", str(path), check=True)
        yield StateDir(name).load_plan()
    finally:
        dpctl("down", name)


@pytest.fixture
def host_unchanged() -> Iterator[None]:
    """Fails the test if the host namespace differs afterwards."""
    before = hostsnapshot.snapshot()
    yield
    changed = hostsnapshot.differences(before, hostsnapshot.snapshot())
    assert not changed, f"host namespace changed: {changed}"


@pytest.fixture
def emulation(tmp_path: Path) -> Iterator[Callable[..., Plan]]:
    """Factory: ``emulation("fabric.yaml", CNI="vpc")`` brings a copy up."""
    names: list[str] = []

    def bring_up(template: str, **fields: str) -> Plan:
        name = unique_name(template.split(".")[0])
        names.append(name)
        path = write_topology(tmp_path, template, name, **fields)
        text = path.read_text()
        plan = plan_from_text(text, str(path))
        up(plan, text)
        return plan

    try:
        yield bring_up
    finally:
        for name in names:
            teardown(name)
            assert not netns.list_names(naming.prefix(name)), f"{name} left namespaces behind"
            assert not os.path.exists(lock_path(name)), f"{name} left its lock file behind"


def run_in(netns_name: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", netns_name, *argv], capture_output=True, text=True, timeout=timeout
    )


def http_get(src_netns: str, ip: str, port: int = 8080, path: str = "/") -> dict[str, object]:
    """GET from inside ``src_netns``; the built-in responder answers JSON."""
    result = run_in(src_netns, "curl", "-sS", "--max-time", "5", f"http://{ip}:{port}{path}")
    assert result.returncode == 0, f"curl {ip}:{port} from {src_netns} failed: {result.stderr}"
    return dict(json.loads(result.stdout))


def pod_of(plan: Plan, key: str) -> Pod:
    namespace, name = key.split("/")
    return plan.pod(namespace, name)


def dpctl(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "dataplane.cli", *args], capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )
    if check:
        assert result.returncode == 0, f"dpctl {' '.join(args)} failed ({result.returncode}): {result.stderr}"
    return result
