"""Test groups by what they need: unit tests need nothing; tests marked
``root`` need root and Linux network namespaces and are skipped cleanly
elsewhere."""

from __future__ import annotations

import os
import sys

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if sys.platform == "linux" and os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root on Linux (real network namespaces)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)
