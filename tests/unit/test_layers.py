"""The layer table of ARCHITECTURE.md holds: import-linter checks it, and can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(where: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: scripts/setup installs it with the test extras")
    env = {**os.environ, "PYTHONPATH": str(where), "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=where, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_layer_contracts_are_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(contracts)} kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "reported"),
    [
        # the kernel imports nothing above it
        ("kernel/nft.py", "import dataplane.mesh", "dataplane.kernel.nft -> dataplane.mesh"),
        # a circle inside the ztunnel: the listeners' context reaching back up to their owner
        ("mesh/ztunnel/context.py", "import dataplane.mesh.ztunnel.podproxy", "dataplane.mesh.ztunnel.podproxy"),
        # a pure package loading pyroute2
        ("topology/naming.py", "import pyroute2", "dataplane.topology.naming -> pyroute2"),
    ],
)
def test_a_forbidden_import_breaks_them(tmp_path: Path, module: str, line: str, reported: str) -> None:
    shutil.copytree(ROOT / "dataplane", tmp_path / "dataplane", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "dataplane" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa: E402\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and reported in result.stdout, result.stdout
