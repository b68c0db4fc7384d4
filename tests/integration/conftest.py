"""Fixtures of the integration tests.  Emulations are brought up by the shipped
plugin's ``topology`` and ``module_topology`` fixtures (``dataplane.testing``),
as in any user's suite: always torn down -- on success, on failure and on
interruption -- then checked to have left no namespace, no lock file and the
host's own namespace unchanged.  Helpers live in ``tests/integration/support``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dataplane.testing import hostsnapshot
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan
from tests.integration.support import write_topology


@pytest.fixture
def host_unchanged() -> Iterator[None]:
    """Fails the test if the host namespace differs afterwards (for tests that
    build namespaces without the ``topology`` fixture, which checks this itself)."""
    before = hostsnapshot.snapshot()
    yield
    changed = hostsnapshot.differences(before, hostsnapshot.snapshot())
    assert not changed, f"host namespace changed: {changed}"


@pytest.fixture
def emulation(tmp_path: Path, topology: Emulations) -> Callable[..., Plan]:
    """Factory: ``emulation("fabric.yaml", CNI="vpc")`` brings a copy of a test
    topology up with the ``topology`` fixture; its plan (named ``plan.name``)."""

    def bring_up(template: str, **fields: str) -> Plan:
        return topology(write_topology(tmp_path, template, template.split(".")[0], **fields)).plan

    return bring_up
