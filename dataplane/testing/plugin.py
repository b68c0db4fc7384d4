"""The pytest plugin (entry point ``pytest11: dpctl``).

``topology(path)`` brings a topology file up under a unique name (so it never
collides with an emulation someone brought up by hand, or with a parallel
test run) and always tears it down at the end of the test, whether it passed,
failed or was interrupted.  ``@pytest.mark.dpctl_root`` skips a test cleanly
where it cannot run: not Linux, or not root.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from dataplane.realize.teardown import teardown
from dataplane.realize.up import up
from dataplane.testing.emulation import Emulation
from dataplane.topology import plan_from_text, read_topology

MARK = "dpctl_root"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}: needs root on Linux to build real network namespaces")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if sys.platform == "linux" and os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="dpctl emulations need root on Linux")
    for item in items:
        if MARK in item.keywords:
            item.add_marker(skip)


def renamed(text: str, name: str) -> str:
    """The topology text with its Topology document renamed to ``name``."""
    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Topology":
            doc.setdefault("metadata", {})["name"] = name
    return yaml.safe_dump_all(docs, sort_keys=False)


@pytest.fixture
def topology() -> Iterator[Callable[[str | Path], Emulation]]:
    """Factory: ``topology("topologies/minimal.yaml")`` -> a running ``Emulation``."""
    names: list[str] = []

    def bring_up(path: str | Path) -> Emulation:
        text = read_topology(path)
        original = plan_from_text(text, str(path)).name
        name = f"{original[:30]}-t{secrets.token_hex(3)}"
        unique = renamed(text, name)
        plan = plan_from_text(unique, str(path))
        names.append(name)
        up(plan, unique)
        return Emulation(plan)

    try:
        yield bring_up
    finally:
        for name in names:
            teardown(name)
