"""Every golden case renders exactly golden/<case>.nft.

A change to the rule layout shows up here as a diff a reviewer can read.
Run with DPCTL_UPDATE_GOLDEN=1 to rewrite the files after a deliberate
change; ``test_golden_load.py`` then proves the kernel accepts them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .cases import CASES

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize("case", sorted(CASES))
def test_ruleset_matches_golden(case: str) -> None:
    text = CASES[case]()
    golden = GOLDEN / f"{case}.nft"
    if os.environ.get("DPCTL_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


def test_every_golden_file_has_a_case() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.nft")) == sorted(CASES)
