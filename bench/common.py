"""Helpers shared by the benchmarks: bringing an emulation up and down, and
iperf3 from inside a pod's namespace."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
from collections.abc import Iterator

from dataplane.realize.teardown import teardown
from dataplane.realize.up import up
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan

IPERF_SECONDS = 5
IPERF_OMIT = 1


@contextlib.contextmanager
def emulation(topology: str, label: str) -> Iterator[Plan]:
    """Build ``topology`` (its ``NAME`` placeholder replaced by a fresh
    ``bench-xxxxxx`` name) and tear it down whatever happens."""
    name = f"bench-{secrets.token_hex(3)}"
    text = topology.replace("NAME", name)
    plan = plan_from_text(text, f"<bench {label}>")
    up(plan, text)
    try:
        yield plan
    finally:
        teardown(name)


def iperf(netns: str, target: str, port: int = 5201, streams: int = 1, seconds: int = IPERF_SECONDS) -> float:
    """Gbit/s received by an iperf3 run from namespace ``netns`` to
    ``target``:``port`` (``seconds`` after a 1 s omit, ``streams`` streams)."""
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "iperf3", "-c", target, "-p", str(port), "-t", str(seconds),
         "-O", str(IPERF_OMIT), "-P", str(streams), "-J"],
        capture_output=True, text=True, timeout=seconds + IPERF_OMIT + 30,
    )
    try:
        result = json.loads(out.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"iperf3 to {target}:{port}: {out.stderr.strip() or out.stdout[-300:]}") from exc
    if "error" in result:
        raise RuntimeError(f"iperf3 to {target}:{port}: {result['error']}")
    return float(result["end"]["sum_received"]["bits_per_second"]) / 1e9
