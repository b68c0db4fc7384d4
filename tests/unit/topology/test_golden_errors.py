"""Every error class, word for word: errors/<case>.yaml must fail with errors/<case>.txt.

Run with DPCTL_UPDATE_GOLDEN=1 to rewrite the .txt files after a deliberate
wording change, then read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import load_plan

HERE = Path(__file__).resolve().parent
CASES = sorted((HERE / "errors").glob("*.yaml"))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_error_text(case: Path, at_root: Path) -> None:
    with pytest.raises(TopologyError) as raised:
        load_plan(case.relative_to(at_root))
    text = f"{raised.value}\n"
    expected = case.with_suffix(".txt")
    if os.environ.get("DPCTL_UPDATE_GOLDEN"):
        expected.write_text(text)
    assert text == expected.read_text()


def test_every_case_has_its_text() -> None:
    assert {p.stem for p in (HERE / "errors").glob("*.txt")} == {p.stem for p in CASES}


def test_problems_carry_their_location(at_root: Path) -> None:
    with pytest.raises(TopologyError) as raised:
        load_plan("tests/unit/topology/errors/wrong-type.yaml")
    [problem] = raised.value.problems
    assert (problem.document, problem.kind, problem.name) == (2, "Deployment", "default/web")
    assert (problem.path, problem.line) == ("spec.replicas", 17)


def test_unreadable_file() -> None:
    with pytest.raises(TopologyError, match="cannot read the file"):
        load_plan("no/such/file.yaml")
