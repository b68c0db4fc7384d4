"""Every capture yields exactly golden/<case>.json (the ``-o json`` report
without the raw lines) and golden/<case>.txt (the table).

A change to how hops are found, ordered or summarised shows up here as a
diff a reviewer can read.  Run with DPCTL_UPDATE_GOLDEN=1 to rewrite the
files after a deliberate change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dataplane.cli.trace import print_report
from dataplane.trace import report

from .captures import CASES, rebuild

GOLDEN = Path(__file__).resolve().parent / "golden"


def _compare(path: Path, text: str) -> None:
    if os.environ.get("DPCTL_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("case", CASES)
def test_json_report_matches_golden(case: str) -> None:
    data = report.as_dict(rebuild(case))
    del data["raw"]
    _compare(GOLDEN / f"{case}.json", json.dumps(data, indent=1) + "\n")


@pytest.mark.parametrize("case", CASES)
def test_table_matches_golden(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    print_report(rebuild(case))
    _compare(GOLDEN / f"{case}.txt", capsys.readouterr().out)


def test_every_golden_file_has_a_capture() -> None:
    assert sorted({p.stem for p in GOLDEN.iterdir()}) == CASES
