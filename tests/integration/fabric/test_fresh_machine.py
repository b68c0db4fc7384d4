"""A freshly booted machine: /run/netns is a plain directory, not yet a mount point.

On such a machine every live change that made a pod after ``up`` failed with
``setns ... Invalid argument``: the agents live in mount namespaces made by
``ip netns exec`` when they started, and a namespace bind-mounted later on a
plain /run/netns never reached them.  The test recreates that condition in a
mount namespace of its own (the host's mounts are not touched), brings an
emulation up, scales it (a pod made after the agents started) and checks the
new pod is served.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dataplane.kernel import netns
from dataplane.topology import naming
from tests.integration.support import dpctl, unique_name, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(180)]

FRESH = """
set -e
while mountpoint -q /run/netns; do umount -l /run/netns; done
if mountpoint -q /run/netns; then echo "/run/netns is still a mount point" >&2; exit 3; fi
dpctl() { "$PYTHON" -m dataplane.cli "$@"; }
dpctl up -q "$FILE"
dpctl scale -t "$NAME" shop/web 5
"$PYTHON" -c '
import json, sys
from dataplane.agent import ready
from dataplane.state.store import StateDir
state = StateDir(sys.argv[1])
served = sorted(p for node in state.load_plan().nodes for p in ready.read(__import__("pathlib").Path(state.path), node.name).pods)
print(json.dumps(served))
' "$NAME"
findmnt -no PROPAGATION /run/netns
"""


def test_live_changes_work_where_run_netns_was_never_a_mount_point(tmp_path: Path) -> None:
    name = unique_name("fresh")
    path = write_topology(tmp_path, "services.yaml", name, CNI="vpc")
    try:
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", FRESH],
            capture_output=True, text=True, timeout=150, check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHON": sys.executable, "FILE": str(path), "NAME": name},
        )
        assert result.returncode == 0, result.stderr
        served, propagation = result.stdout.strip().splitlines()[-2:]
        assert all(f"shop/web-{i}" in served for i in range(5)), served
        assert propagation.strip() == "shared"  # dpctl made it shared, as ip netns add does
    finally:
        dpctl("down", name)
    assert netns.list_names(naming.prefix(name)) == []
