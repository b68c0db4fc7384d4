from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.state import store
from dataplane.topology import plan_from_text

SAMPLE_PLAN = plan_from_text(
    """
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: shop}
spec:
  vpc: {cidr: 192.168.0.0/16, subnets: [{name: a, cidr: 192.168.1.0/24, zone: a}]}
  nodes: [{name: n1, subnet: a}]
""",
    "shop.yaml",
)


@pytest.fixture
def state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state root of the test's own, so nothing touches /run/dpctl."""
    root = tmp_path / "state"
    root.mkdir()
    monkeypatch.setenv(store.STATE_ROOT_ENV, str(root))
    yield root
