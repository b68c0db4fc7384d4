"""A snapshot of everything of the host's own network namespace that an
emulation must never change: links, addresses, routes, rules, the nftables
ruleset and the forwarding sysctls."""

from __future__ import annotations

import re
import subprocess

_SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv4/conf/default/forwarding",
    "net/ipv4/conf/all/proxy_arp",
    "net/ipv4/conf/all/rp_filter",
    "net/ipv6/conf/all/forwarding",
)


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def _links() -> str:
    # Counters and timers change by themselves; keep names, flags, kinds, addresses.
    text = _run("ip", "-d", "-o", "link", "show")
    return re.sub(r"\s+(?:numtxqueues|numrxqueues|gso_max_\w+|gro_max_\w+|tso_max_\w+)\s+\d+", "", text)


def snapshot() -> dict[str, str]:
    shot = {
        "links": _links(),
        "addresses": _run("ip", "-o", "addr", "show"),
        "routes": _run("ip", "route", "show", "table", "all"),
        "rules": _run("ip", "rule", "show"),
        "neighbours-permanent": _run("ip", "neigh", "show", "nud", "permanent"),
        "nftables": _run("nft", "list", "ruleset"),
    }
    for key in _SYSCTLS:
        with open(f"/proc/sys/{key}") as handle:
            shot[key] = handle.read()
    return shot


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [key for key in before if before[key] != after.get(key)]
