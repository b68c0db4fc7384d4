"""The layer table of ARCHITECTURE.md holds: import-linter checks it, and can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_a_kernel_module_importing_the_mesh_breaks_them(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "dataplane", tmp_path / "dataplane", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    nft = tmp_path / "dataplane" / "kernel" / "nft.py"
    nft.write_text(nft.read_text() + "\nimport dataplane.mesh  # noqa: E402\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "dataplane.kernel.nft -> dataplane.mesh" in result.stdout
