"""L7: every route rule and L7 policy decision of the waypoints, by counting real answers.

``l7plan`` says, from the plan alone, which request tests each HTTPRoute
rule, VirtualService ``http[]`` entry and AuthorizationPolicy decision, from
which ambient client, how many times, and what share of the answers each
backend (or the waypoint's own reply) should have.  Here the requests are
sent for real on keep-alive connections from the client pod's namespace to
the Service's VIP (its ztunnel takes them to the waypoint), each answer is
named -- the pod that answered, from the built-in responder's JSON, mapped to
its backend; else the waypoint's status and body -- and the counts are
judged with the exact binomial test of ``binomial.bounds``.  A result names
the rule and shows every count and its bound; a failure says which outcome
was off.  A failed trial is retried with a few requests while its client's
namespace is captured (the plaintext HTTP between the app and its in-pod
ztunnel is on that namespace's loopback).

``run`` takes an optional ``expected`` plan: the trials are planned from it
while the requests go to the running emulation, so the rules of a known-good
configuration can be checked against a data plane that changed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dataplane.topology.plan import Plan
from dataplane.verify import binomial, keepalive
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.l7plan import plan_trials
from dataplane.verify.l7trial import DENIED, PASSED, POLICY, Trial, Unchecked, reply_label
from dataplane.verify.result import CheckResult
from dataplane.verify.sniffers import Captures

NAME = "l7"
WORKERS = 4
TIMEOUT = 10.0
CAPTURE_REQUESTS = 5
EVIDENCE_BPF = "tcp"


def outcome(trial: Trial, answer: keepalive.HttpAnswer | str) -> str:
    """The label of one answer: its backend, the waypoint's reply, or the error met."""
    if isinstance(answer, str):
        return f"error {answer[:80]}"
    location = answer.headers.get("location") if 300 <= answer.status < 400 else None
    label = reply_label(answer.status, answer.body, location)
    if trial.kind == POLICY:
        return DENIED if label == DENIED else PASSED
    try:
        report = json.loads(answer.body)
        pod = f"{report['namespace']}/{report['pod']}"
    except (ValueError, KeyError, TypeError):
        return label
    return dict(trial.pods).get(pod, f"pod {pod}")


def send(trial: Trial, count: int) -> list[keepalive.HttpAnswer | str]:
    calls = [(trial.request.method, trial.request.path, dict(trial.request.headers))] * count
    return keepalive.answers(trial.client_netns, trial.ip, trial.port, calls, trial.request.authority, TIMEOUT)


def _share(share: float) -> str:
    return f"{share * 100:g}%"


def judge(trial: Trial, counts: Counter[str], seconds: float) -> CheckResult:
    """Every expected share within its binomial bound and nothing unexpected."""
    n = sum(counts.values())
    shown: list[str] = []
    off: list[str] = []
    for label, share in trial.expected:
        got = counts.get(label, 0)
        lo, hi = binomial.bounds(n, share)
        shown.append(f"{label} {got}/{n} (expected {_share(share)}, bound {lo}-{hi})")
        if not lo <= got <= hi:
            off.append(f"{label} {got}/{n} ({got / max(n, 1):.1%}), expected {_share(share)} (bound {lo}-{hi})")
    for label, got in counts.most_common():
        if label not in dict(trial.expected):
            shown.append(f"{label} {got}/{n} (unexpected)")
            off.append(f"{got}/{n} unexpected: {label}")
    evidence = "; ".join(part for part in (trial.describe(), ", ".join(shown), trial.note) if part)
    return CheckResult(NAME, trial.subject, not off, "; ".join(off), evidence, seconds=round(seconds, 3))


def _try(trial: Trial) -> CheckResult:
    started = time.monotonic()
    counts = Counter(outcome(trial, answer) for answer in send(trial, trial.requests))
    return judge(trial, counts, time.monotonic() - started)


def _with_capture(trial: Trial, failed: CheckResult, evidence: Evidence) -> CheckResult:
    """``failed`` with the frames of ``CAPTURE_REQUESTS`` more requests seen in the client's namespace."""
    with Captures([trial.client_netns], EVIDENCE_BPF) as captures:
        again = Counter(outcome(trial, answer) for answer in send(trial, CAPTURE_REQUESTS))
        time.sleep(0.05)  # the last frames reach the sniffer
    frames = [(netns, frame) for netns, packets in captures.packets.items() for frame in packets]
    seen = ", ".join(f"{label} {got}" for label, got in again.most_common())
    return evidence.keep(failed, frames, note=f"{CAPTURE_REQUESTS} requests again under capture: {seen}")


def _skipped(item: Unchecked) -> CheckResult:
    return CheckResult(NAME, item.subject, ok=True, reason=item.reason, skipped=True)


def run(
    plan: Plan,
    progress: Callable[[int, int], None] | None = None,
    expected: Plan | None = None,
    evidence: Evidence = NO_EVIDENCE,
) -> list[CheckResult]:
    planned = plan_trials(expected or plan)
    if not planned:
        return [CheckResult(NAME, NAME, ok=True, skipped=True,
                            reason="skipped: no Service bound to a waypoint has routes or L7 AuthorizationPolicies")]
    trials = [item for item in planned if isinstance(item, Trial)]
    done: dict[str, CheckResult] = {}
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="verify-l7") as pool:
        futures = [pool.submit(_try, trial) for trial in trials]
        for n, (trial, future) in enumerate(zip(trials, futures, strict=True), 1):
            result = future.result()
            done[trial.subject] = _with_capture(trial, result, evidence) if evidence.wanted(result) else result
            if progress:
                progress(n, len(trials))
    return [_skipped(item) if isinstance(item, Unchecked) else done[item.subject] for item in planned]
