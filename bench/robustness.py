"""Crash and concurrency robustness, counted: ``scripts/bench robustness``.

Not a speed figure but a tally, re-measured after every change to ``up``,
``down`` or the live changes:

* ``kill -9`` of ``dpctl up`` at a random moment of its build, then ``dpctl
  down``: nothing of the emulation may be left (namespaces, state directory,
  lock file, agents) and the host namespace must be unchanged;
* ``kill -9`` of one node agent, then ``down``: the same;
* ``kill -9`` of ``dpctl scale`` at a random moment of its roll-out: a later
  change must still work and leave plan, namespaces and agents in agreement;
* two different emulations brought up at once, and the same file twice.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dataplane.agent import ready
from dataplane.kernel import daemons, netns
from dataplane.state.lock import lock_path
from dataplane.state.store import StateDir
from dataplane.testing import hostsnapshot
from dataplane.topology import naming

TOPOLOGY = (Path(__file__).resolve().parents[1] / "tests" / "integration" / "topologies" / "services.yaml").read_text()


def _dpctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dataplane.cli", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
    )


def _file(directory: str, name: str) -> str:
    path = os.path.join(directory, f"{name}.yaml")
    Path(path).write_text(TOPOLOGY.replace("NAME", name).replace("CNI", "vpc"))
    return path


def _left_behind(name: str) -> list[str]:
    state = StateDir(name)
    found = [f"namespace {n}" for n in netns.list_names(naming.prefix(name))]
    found += [f"state directory {state.path}"] if os.path.exists(state.path) else []
    found += [f"lock file {lock_path(name)}"] if os.path.exists(lock_path(name)) else []
    found += [f"agent pid {p}" for p in daemons.agents_of(state.path)]
    return found


def _consistent(name: str) -> list[str]:
    state = StateDir(name)
    plan = state.load_plan()
    faults = []
    if sorted(netns.list_names(naming.prefix(name))) != sorted(plan.all_netns()):
        faults.append("namespaces differ from the plan")
    for node in plan.nodes:
        served = ready.read(Path(state.path), node.name)
        if served is None or not daemons.alive(served.pid) or served.pods != sorted(p.key for p in plan.pods_on(node.name)):
            faults.append(f"agent of {node.name} disagrees with the plan")
    return faults


def _time_up(directory: str) -> float:
    name = f"rob-{secrets.token_hex(3)}"
    started = time.monotonic()
    _dpctl("up", "-q", _file(directory, name))
    seconds = time.monotonic() - started
    _dpctl("down", name)
    return seconds


def kill_up(directory: str, runs: int) -> tuple[int, list[str]]:
    build = _time_up(directory)
    clean, faults = 0, []
    for _ in range(runs):
        name = f"rob-{secrets.token_hex(3)}"
        before = hostsnapshot.snapshot()
        proc = subprocess.Popen(
            [sys.executable, "-m", "dataplane.cli", "up", "-q", _file(directory, name)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        time.sleep(random.uniform(0, build))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _dpctl("down", name)
        left = _left_behind(name) + [f"host: {d}" for d in hostsnapshot.differences(before, hostsnapshot.snapshot())]
        clean += not left
        faults += left
    return clean, faults


def kill_agent(directory: str, runs: int) -> tuple[int, list[str]]:
    clean, faults = 0, []
    for _ in range(runs):
        name = f"rob-{secrets.token_hex(3)}"
        _dpctl("up", "-q", _file(directory, name))
        os.kill(random.choice(sorted(daemons.agents_of(StateDir(name).path))), signal.SIGKILL)
        _dpctl("down", name)
        left = _left_behind(name)
        clean += not left
        faults += left
    return clean, faults


def kill_scale(directory: str, runs: int) -> tuple[int, list[str]]:
    name = f"rob-{secrets.token_hex(3)}"
    _dpctl("up", "-q", _file(directory, name))
    clean, faults = 0, []
    try:
        for _ in range(runs):
            proc = subprocess.Popen(
                [sys.executable, "-m", "dataplane.cli", "scale", "-t", name, "shop/web", str(random.randint(0, 6))],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            )
            time.sleep(random.uniform(0.2, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            after = _dpctl("scale", "-t", name, "shop/web", str(random.randint(1, 4)))
            found = ([f"next scale failed: {after.stderr.strip()}"] if after.returncode else []) + _consistent(name)
            clean += not found
            faults += found
    finally:
        _dpctl("down", name)
    return clean, faults + _left_behind(name)


def two_ups(directory: str, runs: int) -> tuple[int, list[str]]:
    clean, faults = 0, []
    for _ in range(runs):
        names = [f"rob-{secrets.token_hex(3)}" for _ in range(2)]
        procs = [subprocess.Popen([sys.executable, "-m", "dataplane.cli", "up", "-q", _file(directory, n)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for n in names]
        results = [p.communicate(timeout=120) and p.returncode for p in procs]
        again = _dpctl("up", "-q", _file(directory, names[0]))
        found = [f"up {n} failed" for n, rc in zip(names, results, strict=True) if rc]
        found += [] if again.returncode == 1 and "already up" in again.stderr else ["the same file twice was not refused"]
        found += [f for n in names for f in _consistent(n)]
        for n in names:
            _dpctl("down", n)
            found += _left_behind(n)
        clean += not found
        faults += found
    return clean, faults


def run() -> None:
    random.seed(int(os.environ.get("DPCTL_BENCH_SEED", "1")))
    print("robustness: clean runs out of all (nothing left behind, host unchanged, emulation consistent)")
    with tempfile.TemporaryDirectory() as directory:
        for label, scenario, runs in (
            ("kill -9 of 'up' at a random moment, then down", kill_up, 40),
            ("kill -9 of a node agent, then down", kill_agent, 10),
            ("kill -9 of 'scale' mid-roll-out, then another scale", kill_scale, 20),
            ("two different 'up' at once; the same file twice", two_ups, 5),
        ):
            started = time.monotonic()
            clean, faults = scenario(directory, runs)
            print(f"  {label:<55} {clean:>3}/{runs}   ({time.monotonic() - started:.0f} s)")
            for fault in sorted(set(faults))[:10]:
                print(f"      left or wrong: {fault}")
