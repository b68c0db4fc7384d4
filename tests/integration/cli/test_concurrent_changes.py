"""Two changes to one emulation at once are serialised, never interleaved.

Each round starts two live changes 0-300 ms apart (the window in which an
unlocked ``scale`` corrupted the state in 4 of 10 runs) and then checks that
the plan, ``dpctl get pods``, the kernel's namespaces and every agent agree,
and that a further change still works.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataplane.agent import ready
from dataplane.kernel import daemons, netns
from dataplane.state.store import StateDir
from dataplane.testing.plugin import Emulations
from dataplane.topology import naming
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def emulation(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> tuple[str, Path]:
    """The running emulation's name, and its file (under that name) for ``apply``."""
    directory = tmp_path_factory.mktemp("conc")
    name = module_topology(write_topology(directory, "mesh.yaml", "conc", CNI="vpc")).name
    return name, write_topology(directory, "mesh.yaml", name, CNI="vpc")


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dataplane.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )


def _both(first: list[str], second: list[str]) -> None:
    """Run two commands 0-300 ms apart; each must succeed, or refuse cleanly."""
    a = _start(*first)
    time.sleep(random.uniform(0, 0.3))
    b = _start(*second)
    for proc, args in ((a, first), (b, second)):
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err and "internal error" not in err, (args, err)
        assert proc.returncode == 0, (args, err)


def assert_consistent(name: str) -> None:
    state = StateDir(name)
    plan = state.load_plan()
    listed = json.loads(dpctl("get", "pods", "-t", name, "-o", "json", check=True).stdout)
    assert sorted(f"{p['namespace']}/{p['name']}" for p in listed) == sorted(p.key for p in plan.pods)
    assert sorted(netns.list_names(naming.prefix(name))) == sorted(plan.all_netns())
    for node in plan.nodes:
        served = ready.read(Path(state.path), node.name)
        assert served is not None and daemons.alive(served.pid), f"agent of {node.name} is gone"
        assert served.pods == sorted(p.key for p in plan.pods_on(node.name)), f"agent of {node.name} disagrees"
        assert not served.errors, served.errors


def test_concurrent_scales_are_serialised(emulation: tuple[str, Path]) -> None:
    name, _ = emulation
    random.seed(9)
    for _ in range(20):
        high, low = random.randint(3, 6), random.randint(0, 2)
        _both(["scale", "-t", name, "mesh/server", str(high)], ["scale", "-t", name, "mesh/server", str(low)])
        assert_consistent(name)
        servers = [p for p in StateDir(name).load_plan().pods if p.name.startswith("server-")]
        assert len(servers) in (high, low)  # one of the two won, whole
    dpctl("scale", "-t", name, "mesh/server", "2", check=True)
    assert_consistent(name)


def test_scale_against_delete(emulation: tuple[str, Path]) -> None:
    name, _ = emulation
    for round_ in range(5):
        dpctl("scale", "-t", name, "mesh/server", "2", check=True)
        victim = next(p for p in StateDir(name).load_plan().pods if p.name.startswith("server-"))
        _both(["scale", "-t", name, "mesh/server", str(3 + round_ % 2)], ["delete", "pod", "-t", name, victim.key])
        assert_consistent(name)
        assert victim.key not in {p.key for p in StateDir(name).load_plan().pods}


def test_apply_against_enroll(emulation: tuple[str, Path]) -> None:
    name, path = emulation
    for round_ in range(5):
        _both(["apply", str(path)], ["mesh", "enroll" if round_ % 2 else "unenroll", "-t", name, "plain"])
        assert_consistent(name)
    dpctl("scale", "-t", name, "mesh/server", "1", check=True)
    assert_consistent(name)
