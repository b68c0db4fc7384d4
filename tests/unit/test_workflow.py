"""The CI workflow users copy is valid: actionlint checks it (and can fail)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = Path(sys.executable).with_name("actionlint")


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} is missing: scripts/setup installs it with the test extras")
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, paths)],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"},
    )


def test_the_workflows_pass_actionlint() -> None:
    assert WORKFLOWS, "no workflow under .github/workflows"
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_runs_the_readme_test_command_as_root_on_ubuntu_24_04() -> None:
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "runs-on: ubuntu-24.04" in text and "run: sudo ./scripts/test" in text
    assert (ROOT / "README.md").read_text().splitlines()[4].startswith("./scripts/test")


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n")
    assert _actionlint(broken).returncode != 0
