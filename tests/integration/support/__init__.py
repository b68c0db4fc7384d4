"""What the integration tests share besides fixtures: the test topologies and
how to fill them in, the real command line, and commands inside namespaces.

Submodules: ``traffic`` (sockets made inside a namespace), ``agentlab`` (the
throwaway lab of the node agent's tests), ``hbone_probe`` (a hand-made HBONE
client and certificates for the mesh's tests).  Bringing emulations up is the
shipped plugin's job (``dataplane.testing.plugin``: ``topology`` and
``module_topology``); the fixtures are in ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan, Pod

TOPOLOGIES = Path(__file__).resolve().parents[1] / "topologies"


def unique_name(stem: str) -> str:
    return f"{stem}-{secrets.token_hex(3)}"


def write_topology(directory: Path, template: str, name: str, **fields: str) -> Path:
    """Copy a test topology with its placeholders (NAME, CNI, ...) filled in."""
    text = (TOPOLOGIES / template).read_text()
    for key, value in {"NAME": name, **fields}.items():
        text = text.replace(key, value)
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def each_cni(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations,
    template: str, stem: str,
) -> Iterator[Emulation]:
    """For a module fixture parametrized over the CNI modes: ``template`` up in
    this parameter's mode, and down again before the next mode's comes up."""
    path = write_topology(tmp_path_factory.mktemp(stem), template, stem, CNI=request.param)
    emulation = module_topology(path)
    yield emulation
    module_topology.down(emulation)


def dpctl(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "dataplane.cli", *args],
        capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL, check=False,
    )
    if check:
        assert result.returncode == 0, f"dpctl {' '.join(args)} failed ({result.returncode}): {result.stderr}"
    return result


def run_in(netns_name: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", netns_name, *argv], capture_output=True, text=True, timeout=timeout, check=False
    )


def http_get(src_netns: str, ip: str, port: int = 8080, path: str = "/") -> dict[str, object]:
    """GET with curl from inside ``src_netns``; the built-in responder answers JSON."""
    result = run_in(src_netns, "curl", "-sS", "--max-time", "5", f"http://{ip}:{port}{path}")
    assert result.returncode == 0, f"curl {ip}:{port} from {src_netns} failed: {result.stderr}"
    return dict(json.loads(result.stdout))


def pod_of(plan: Plan, key: str) -> Pod:
    namespace, name = key.split("/")
    return plan.pod(namespace, name)
