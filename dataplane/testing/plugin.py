"""The pytest plugin (entry point ``pytest11: dpctl``).

``topology(path)`` brings a topology file up under a unique name (so it never
collides with an emulation someone brought up by hand, or with a parallel
test run) and always tears it down at the end of the test, whether it passed,
failed or was interrupted.  Once everything is down it asserts that nothing
is left: no namespace with the emulation's prefix, no lock file, and the
host's own network namespace exactly as it was before the first bring-up.
``module_topology`` is the same for emulations shared by a whole test module.
The captures a failed assertion of an emulation leaves (``Emulation.captures``)
are written under the test's temporary directory and listed in the report of
the test that failed.  ``@pytest.mark.dpctl_root`` skips a test cleanly where
it cannot run: not Linux, or not root.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import yaml

from dataplane.kernel import netns
from dataplane.realize.teardown import teardown
from dataplane.realize.up import up
from dataplane.state.lock import lock_path
from dataplane.testing import hostsnapshot
from dataplane.testing.emulation import Emulation
from dataplane.topology import naming, plan_from_text, read_topology

MARK = "dpctl_root"
EVIDENCE_SECTION = "dpctl evidence"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}: needs root on Linux to build real network namespaces")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if sys.platform == "linux" and os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="dpctl emulations need root on Linux")
    for item in items:
        if MARK in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """List the captures a test's emulations kept while it ran in its report, when it failed."""
    report = yield
    if call.when == "call":
        funcargs = getattr(item, "funcargs", {})
        new = [c for tracker in funcargs.values() if isinstance(tracker, Emulations) for c in tracker.new_captures()]
        if new and report.failed:
            report.sections.append((EVIDENCE_SECTION, "\n".join(new)))
    return report


def renamed(text: str, name: str) -> str:
    """The topology text with its Topology document renamed to ``name``."""
    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Topology":
            doc.setdefault("metadata", {})["name"] = name
    return yaml.safe_dump_all(docs, sort_keys=False)


def unique_name(original: str) -> str:
    """``original`` cut to 30 characters plus ``-t`` and 6 random hex digits (a valid emulation name)."""
    return f"{original[:30]}-t{secrets.token_hex(3)}"


class Emulations:
    """Every emulation one fixture brought up, and the proof that each left nothing.

    Call it with a topology file's path: the file is brought up under a
    unique name and its ``Emulation`` returned.  ``close()`` tears every one
    down -- also those whose bring-up failed half-way -- and only then
    asserts: no namespace with an emulation's prefix, no lock file, and the
    host's own namespace as it was before the first bring-up.
    """

    def __init__(self, evidence_root: Path | None = None) -> None:
        self.names: list[str] = []
        self.emulations: list[Emulation] = []
        self.evidence_root = evidence_root
        self._host: dict[str, str] | None = None
        self._reported = 0

    def __call__(self, path: str | Path) -> Emulation:
        return self.up(path)

    def up(self, path: str | Path) -> Emulation:
        text = read_topology(path)
        name = unique_name(plan_from_text(text, str(path)).name)
        unique = renamed(text, name)
        plan = plan_from_text(unique, str(path))
        if self._host is None:
            self._host = hostsnapshot.snapshot()
        self.names.append(name)  # before up: a bring-up that fails half-way is still checked
        up(plan, unique)
        emulation = Emulation(plan, evidence_root=self.evidence_root)
        self.emulations.append(emulation)
        return emulation

    def new_captures(self) -> list[str]:
        """The captures kept since the last call (one test's, for its report)."""
        captures = [c for emulation in self.emulations for c in emulation.captures]
        new, self._reported = captures[self._reported :], len(captures)
        return new

    def down(self, emulation: Emulation | str) -> None:
        """Tear one emulation down now (e.g. before the next parameter's) and
        assert it left nothing; ``close()`` checks it again with the host."""
        name = emulation if isinstance(emulation, str) else emulation.name
        teardown(name)
        problems = self._leftovers(name)
        assert not problems, "\n".join(problems)

    def close(self) -> None:
        """Tear everything down, then assert that nothing is left."""
        _teardown_each(self.names)  # a failing (or interrupted) teardown raises only once all were tried
        problems = [problem for name in self.names for problem in self._leftovers(name)]
        if self._host is not None:
            changed = hostsnapshot.differences(self._host, hostsnapshot.snapshot())
            if changed:
                problems.append(f"the host's own network namespace changed: {', '.join(changed)}")
        assert not problems, "\n".join(problems)

    @staticmethod
    def _leftovers(name: str) -> list[str]:
        problems = []
        left = netns.list_names(naming.prefix(name))
        if left:
            problems.append(f"{name} left namespaces behind: {', '.join(left)}")
        if os.path.exists(lock_path(name)):
            problems.append(f"{name} left its lock file behind: {lock_path(name)}")
        return problems


def _teardown_each(names: list[str]) -> None:
    """``teardown`` every name, the rest even when one raises or is interrupted."""
    if names:
        try:
            teardown(names[0])
        finally:
            _teardown_each(names[1:])


def _tracked(evidence_root: Path) -> Iterator[Emulations]:
    emulations = Emulations(evidence_root)
    try:
        yield emulations
    finally:
        emulations.close()


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Emulations]:
    """Factory: ``topology("topologies/minimal.yaml")`` -> a running ``Emulation``,
    torn down (and checked to have left nothing) at the end of the test."""
    yield from _tracked(tmp_path / "evidence")


@pytest.fixture(scope="module")
def module_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulations]:
    """``topology`` for an emulation the tests of one module share: torn down and
    checked at the end of the module (or earlier with ``module_topology.down(emu)``)."""
    yield from _tracked(tmp_path_factory.mktemp("evidence"))
