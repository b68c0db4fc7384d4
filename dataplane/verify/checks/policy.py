"""Policy: the allow/deny matrix the AuthorizationPolicies imply, compared
with real connection attempts.

For every meshed destination pod that at least one AuthorizationPolicy
applies to (``authz.policies_for``), and every source pod (meshed or not; a
deterministic sample when there are many), each TCP port the destination
serves is probed by pod IP.  The expectation is ``authz.evaluate`` with the
source's SPIFFE identity when it is meshed and none otherwise: allowed means
an answer, denied means the ztunnel accepts and then resets or closes
(``DENIED``).  A failure names the pair, the port and the policy that decided.

``run`` takes an optional ``expected`` plan: the matrix is computed from it
while the probes go to the running emulation (``plan``), so the expectation
of a known-good policy set can be checked against a data plane that changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dataplane.mesh import authz
from dataplane.mesh.enrollment import is_meshed
from dataplane.mesh.identity import pod_identity
from dataplane.topology.plan import Plan, Pod
from dataplane.verify.checks.connectivity import sample_sources, served_ports
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.probes import ANSWER, DENIED, Expected, Outcome, Probe, run_probes
from dataplane.verify.result import CheckResult

NAME = "policy"
ALLOW, DENY = "A", "D"


@dataclass(frozen=True)
class PolicyProbe:
    probe: Probe
    decision: authz.Decision


def _key(pod: Pod) -> str:
    return f"{pod.namespace}/{pod.name}"


def destinations(plan: Plan) -> list[Pod]:
    """Meshed pods with at least one AuthorizationPolicy applying to them."""
    return sorted(
        (p for p in plan.pods if is_meshed(plan, p) and authz.policies_for(plan, p)),
        key=lambda p: (p.namespace, p.name),
    )


def plan_probes(plan: Plan, expected: Plan | None = None, max_sources: int | None = None) -> list[PolicyProbe]:
    """Probes over ``plan``'s pods, expectations from ``expected`` (default: ``plan``)."""
    exp_plan = expected or plan
    probes: list[PolicyProbe] = []
    dests = [exp_plan.pod(d.namespace, d.name) for d in destinations(exp_plan)]
    for src in sample_sources(plan, max_sources):
        label = _key(src)
        try:
            exp_src = exp_plan.pod(src.namespace, src.name)
        except (KeyError, LookupError):
            exp_src = src
        identity = pod_identity(exp_plan, exp_src).principal if is_meshed(exp_plan, exp_src) else None
        for dst in dests:
            if dst.namespace == src.namespace and dst.name == src.name:
                continue
            for number, responder in served_ports(dst):
                decision = authz.evaluate(exp_plan, dst, authz.Connection(src.ip, identity, dst.ip, number))
                dest = f"{_key(dst)}:{number}"
                outcome = ANSWER if decision.allowed else DENIED
                probes.append(PolicyProbe(
                    Probe(label, src.netns, dest, f"{label} -> {dest}", dst.ip, number, responder,
                          Expected(frozenset({outcome}), why=decision.reason)),
                    decision,
                ))
    return probes


def judge(pp: PolicyProbe, outcome: Outcome, seconds: float) -> CheckResult:
    probe, decision = pp.probe, pp.decision
    want = ALLOW if decision.allowed else DENY
    got = ALLOW if outcome.kind == ANSWER else DENY if outcome.kind == DENIED else "?"
    ok = want == got
    decided = f"decided by {decision.policy}" if decision.policy else decision.reason
    reason = "" if ok else (
        f"expected {'allowed' if want == ALLOW else 'denied'} ({decided}), "
        f"observed {outcome.kind}: {outcome.detail}"
    )
    return CheckResult(
        NAME, probe.subject, ok, reason, evidence=f"expected {want}, observed {got}: {outcome.detail}",
        seconds=round(seconds, 3), source=probe.source, destination=probe.destination,
    )


def run(
    plan: Plan,
    progress: Callable[[int, int], None] | None = None,
    max_sources: int | None = None,
    expected: Plan | None = None,
    evidence: Evidence = NO_EVIDENCE,
) -> list[CheckResult]:
    probes = plan_probes(plan, expected, max_sources)
    if not probes:
        return [CheckResult(NAME, NAME, ok=True, skipped=True, reason="skipped: no meshed pod has an AuthorizationPolicy")]
    return run_probes(probes, lambda pp: pp.probe, judge, progress, evidence, [n.netns for n in plan.nodes])


def matrix_cell(result: CheckResult) -> str:
    """``A/A``-style cell: expected/observed, from the evidence."""
    text = result.evidence
    if text.startswith("expected ") and ", observed " in text:
        want = text[len("expected "):].split(",", 1)[0]
        got = text.split(", observed ", 1)[1].split(":", 1)[0]
        return f"{want}/{got}"
    return "?"
