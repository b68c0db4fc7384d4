"""The checks of ``dpctl verify``, each a function ``run(plan, progress) ->
list[CheckResult]``.  ``CHECKS`` lists every name the command accepts;
``IMPLEMENTED`` the ones that exist so far (the others are reported as
skipped, never as passed)."""

from __future__ import annotations

from collections.abc import Callable

from dataplane.topology.plan import Plan
from dataplane.verify.result import CheckResult

Progress = Callable[[int, int], None]  # (done, total) for the current check

CHECKS = ("connectivity", "dnat", "policy", "encryption", "path")


def runner(name: str) -> Callable[..., list[CheckResult]] | None:
    """The ``run`` function of check ``name``, or None when not implemented yet."""
    if name == "connectivity":
        from dataplane.verify.checks import connectivity

        return connectivity.run
    if name == "encryption":
        from dataplane.verify.checks import encryption

        return encryption.run
    if name == "policy":
        from dataplane.verify.checks import policy

        return policy.run
    return None


IMPLEMENTED = ("connectivity", "encryption", "policy")


def not_implemented(name: str) -> list[CheckResult]:
    return [CheckResult(name, name, ok=False, skipped=True, reason="not implemented yet")]


def run_check(name: str, plan: Plan, progress: Progress | None = None) -> list[CheckResult]:
    fn = runner(name)
    if fn is None:
        return not_implemented(name)
    return fn(plan, progress=progress)
