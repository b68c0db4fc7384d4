"""nftables inside an emulation namespace, through the ``nft`` tool.

``nft -f`` applies a whole file as one transaction: either every rule of it
is in place or none is, which is how a node's ruleset is replaced without a
moment where a Service has no rules.  The tool runs under ``nsenter --net``
so it only ever sees the namespace it is given (never the host's), without
the mount-namespace copy ``ip netns exec`` would make.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from dataplane.kernel import netns


class NftError(RuntimeError):
    """nft refused a ruleset; the message carries nft's own diagnostics."""


def _nft(netns_name: str, args: list[str], stdin: str | None = None) -> str:
    if not netns.exists(netns_name):
        raise NftError(f"network namespace {netns_name} does not exist")
    result = subprocess.run(
        ["nsenter", f"--net={netns.path(netns_name)}", "nft", *args],
        input=stdin,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise NftError(f"nft {' '.join(args)} in {netns_name} failed: {result.stderr.strip()}")
    return result.stdout


def apply(netns_name: str, ruleset: str) -> None:
    """Apply ``ruleset`` (nft -f syntax) atomically inside ``netns_name``."""
    _nft(netns_name, ["-f", "-"], stdin=ruleset)


def ruleset(netns_name: str) -> str:
    return _nft(netns_name, ["list", "ruleset"])


def ruleset_json(netns_name: str) -> list[dict[str, Any]]:
    """The namespace's ruleset as nft's JSON objects (for inspection and tests)."""
    data = json.loads(_nft(netns_name, ["-j", "list", "ruleset"]) or '{"nftables": []}')
    return list(data.get("nftables", []))
