"""The checks of ``dpctl verify``, each a function ``run(plan, progress, evidence)
-> list[CheckResult]``.  ``CHECKS`` lists every name the command accepts;
``evidence`` (``verify/evidence.py``) keeps the frames behind each failure."""

from __future__ import annotations

import time
from collections.abc import Callable

from dataplane.topology.plan import Plan
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.result import CheckResult, Report

Progress = Callable[[int, int], None]  # (done, total) for the current check

CHECKS = ("connectivity", "dnat", "policy", "encryption", "path", "l7", "edge", "reachability")
DEFAULT_CHECKS = ("connectivity", "dnat", "encryption", "path", "edge", "reachability")
"""What runs without ``--only``: policy is opt-in (it tries every source against every meshed port), and so
is l7 (hundreds to thousands of requests per weighted rule, about 2 ms each through a waypoint: seconds per
rule, and only meaningful where waypoints are)."""


def runner(name: str) -> Callable[..., list[CheckResult]]:
    """The ``run`` function of check ``name`` (imported only when asked for)."""
    if name == "connectivity":
        from dataplane.verify.checks import connectivity

        return connectivity.run
    if name == "dnat":
        from dataplane.verify.checks import dnat

        return dnat.run
    if name == "encryption":
        from dataplane.verify.checks import encryption

        return encryption.run
    if name == "policy":
        from dataplane.verify.checks import policy

        return policy.run
    if name == "path":
        from dataplane.verify.checks import path

        return path.run
    if name == "l7":
        from dataplane.verify.checks import l7

        return l7.run
    if name == "edge":
        from dataplane.verify.checks import edge

        return edge.run
    if name == "reachability":
        from dataplane.verify.checks import reachability

        return reachability.run
    raise KeyError(f"no check {name!r}; choose from {', '.join(CHECKS)}")


def run_check(name: str, plan: Plan, progress: Progress | None = None, evidence: Evidence = NO_EVIDENCE) -> list[CheckResult]:
    return runner(name)(plan, progress=progress, evidence=evidence)


def run_checks(
    plan: Plan,
    names: tuple[str, ...] = DEFAULT_CHECKS,
    progress: Callable[[str], Progress] | None = None,
    evidence: Evidence = NO_EVIDENCE,
) -> Report:
    """Run ``names`` in order; ``progress(name)`` gives each check its progress callback."""
    report = Report()
    for name in names:
        started = time.monotonic()
        report.extend(run_check(name, plan, progress(name) if progress else None, evidence))
        report.seconds[name] = time.monotonic() - started
    return report
