"""The kernel accepts every golden ruleset, twice in a row, without touching other tables.

Each load runs ``nft`` in a throwaway network namespace (``unshare -n``): the
namespace lives exactly as long as the subprocess, so nothing can reach the
host's ruleset and nothing is left behind, whatever happens.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .test_golden import GOLDEN

pytestmark = pytest.mark.dpctl_root

OTHER = "table inet bystander {\n chain c {\n  type filter hook input priority 10; policy accept;\n }\n}"

# Load a table someone else owns, apply the ruleset twice (the second run
# replaces the first), then show both tables.
SCRIPT = """set -e
printf '%s\\n' "$2" | nft -f -
nft -f "$1"
nft -f "$1"
nft list tables
"""


def _in_throwaway_netns(ruleset: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "--net", "sh", "-c", SCRIPT, "load", str(ruleset), OTHER],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.nft")), ids=lambda p: p.stem)
def test_golden_ruleset_loads_and_reloads(golden: Path) -> None:
    result = _in_throwaway_netns(golden)
    assert result.returncode == 0, result.stderr
    tables = set(result.stdout.split("\n")) - {""}
    table = "table ip dpctl-lb" if golden.stem == "loadbalancer-cloud" else "table ip kube-proxy"
    assert tables == {table, "table inet bystander"}
