"""The l7 check's plan (which request tests which rule, how often, expecting
what), its binomial rule, and its judgement of counted answers."""

from __future__ import annotations

from collections import Counter
from math import comb

import pytest

from dataplane.l7.routing.model import Match, PathMatch, ValueMatch
from dataplane.topology import plan_from_text
from dataplane.verify import binomial
from dataplane.verify.checks.l7 import judge, outcome
from dataplane.verify.keepalive import HttpAnswer
from dataplane.verify.l7authz import path_example
from dataplane.verify.l7plan import plan_trials, rule_name
from dataplane.verify.l7requests import candidates, regex_example
from dataplane.verify.l7trial import DENIED, PASSED, Trial, Unchecked

from .plans import TOPOLOGIES, plan

P = plan("waypoint.yaml")
PLANNED = plan_trials(P)
TRIALS = {t.subject: t for t in PLANNED if isinstance(t, Trial)}
WEIGHTED = "HTTPRoute default/reviews rule[1] for default/reviews:9080 (weights reviews-v1 90, reviews-v2 10)"
JASON = "HTTPRoute default/reviews rule[0] for default/reviews:9080 (backend reviews-v2)"
FAULT = "VirtualService default/details http[0] for default/details:9080 (backend details, abort 503 at 75%)"


def with_docs(*docs: str):  # type: ignore[no-untyped-def]
    text = (TOPOLOGIES / "waypoint.yaml").read_text().replace("NAME", "t").replace("CNI", "vpc")
    return plan_from_text(text + "".join(f"\n---\n{d}" for d in docs), "waypoint.yaml")


def test_every_rule_and_policy_decision_of_the_waypoint_topology_is_planned() -> None:
    assert all(isinstance(t, Trial) for t in PLANNED), [t for t in PLANNED if isinstance(t, Unchecked)]
    assert set(TRIALS) >= {WEIGHTED, JASON, FAULT}
    assert {t.subject.split(" for ")[0] for t in PLANNED if t.kind == "route"} == {
        "HTTPRoute default/reviews rule[0]", "HTTPRoute default/reviews rule[1]",
        "VirtualService default/details http[0]", "VirtualService default/details http[1]",
        "VirtualService default/details http[2]",
    }


def test_a_weighted_rule_expects_each_backend_by_its_pods_from_a_client_the_policy_allows() -> None:
    trial = TRIALS[WEIGHTED]
    assert dict(trial.expected) == {"reviews-v1": 0.9, "reviews-v2": 0.1}
    assert dict(trial.pods) == {"default/reviews-v1-0": "reviews-v1", "default/reviews-v2-0": "reviews-v2"}
    assert trial.request.method == "GET" and trial.request.headers == ()  # jason's rule would take it otherwise
    assert trial.client == "default/curl"  # reviews-get allows only sa/curl
    assert trial.ip == next(s.cluster_ip for s in P.services if s.name == "reviews") and trial.port == 9080
    assert trial.requests == binomial.sample_size([0.9, 0.1]) == 545


def test_a_header_rule_gets_its_header_and_a_fault_its_abort_share() -> None:
    assert TRIALS[JASON].request.headers == (("end-user", "jason"),)
    assert dict(TRIALS[JASON].expected) == {"reviews-v2": 1.0} and TRIALS[JASON].requests == binomial.CERTAIN
    fault = TRIALS[FAULT]
    assert fault.request.headers == (("x-fault", "yes"),)
    assert dict(fault.expected) == {"503 'fault filter abort'": 0.75, "details": 0.25}
    delay = next(t for t in PLANNED if t.subject.startswith("VirtualService default/details http[1]"))
    assert isinstance(delay, Trial) and delay.request.path == "/delay"


def test_policy_decisions_get_an_allowed_and_a_denied_request() -> None:
    policy = {t.subject: t for t in PLANNED if t.kind == "policy"}
    allowed, denied = (s for s in policy if "reviews-get" in s)
    assert policy[allowed].request.method == "GET" and dict(policy[allowed].expected) == {PASSED: 1.0}
    assert policy[denied].request.method == "DELETE" and dict(policy[denied].expected) == {DENIED: 1.0}
    block = next(t for s, t in policy.items() if "default/block" in s and s.endswith("denied"))
    assert block.request.headers == (("x-block", "1"),)


def test_a_rule_no_request_can_reach_is_reported_not_checkable_with_the_route_that_takes_them() -> None:
    shadowed = with_docs("""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: default}
spec:
  hosts: [httpbin]
  http:
    - route: [{destination: {host: httpbin}}]
    - match: [{headers: {x-late: {exact: "1"}}}]
      route: [{destination: {host: httpbin}}]""")
    found = {t.subject: t for t in plan_trials(shadowed)}
    late = found["VirtualService default/httpbin http[1] for default/httpbin:8000"]
    assert isinstance(late, Unchecked)
    assert late.reason == "not checkable: the requests it matches go to VirtualService default/httpbin http[0] first"


def test_a_missing_backend_and_one_without_endpoints_are_the_waypoints_own_replies() -> None:
    odd = with_docs("""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: httpbin, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: httpbin, port: 8000}]
  rules:
    - backendRefs: [{name: httpbin, port: 8000, weight: 2}, {name: ext-authz-down, port: 8000, weight: 1},
                    {name: reviews, port: 9080, weight: 1}]""")
    trial = next(t for t in plan_trials(odd) if t.subject.startswith("HTTPRoute default/httpbin rule[0]"))
    assert isinstance(trial, Trial)
    assert dict(trial.expected) == {"httpbin": 0.5, "503 'no healthy upstream'": 0.25, "reviews": 0.25}


def test_rule_names_from_route_origins() -> None:
    assert rule_name("HTTPRoute default/reviews rule 1 match 0") == "HTTPRoute default/reviews rule[1]"
    assert rule_name("VirtualService ns/vs http[2] match[1]") == "VirtualService ns/vs http[2]"
    assert rule_name("VirtualService ns/vs http[0]") == "VirtualService ns/vs http[0]"


@pytest.mark.parametrize(("pattern", "example"), [
    ("/api/v[0-9]+/items", "/api/v1/items"), ("/users/[^/]+", "/users/x"), (".*\\.html", ".html"),
    ("^/exact$", "/exact"), ("/(a|b)", None),
])
def test_regex_examples_are_checked_with_re2(pattern: str, example: str | None) -> None:
    assert regex_example(pattern) == example


def test_candidates_satisfy_every_condition_and_leave_out_negated_headers() -> None:
    match = Match(PathMatch("PathPrefix", "/abc"), "POST", (ValueMatch("x-a", "Present"), ValueMatch("x-b", "Exact", "1", invert=True)),
                  (ValueMatch("q", "Exact", "v w"),))
    first = next(candidates(match, "h:80"))
    assert (first.method, first.path, first.headers) == ("POST", "/abc?q=v%20w", (("x-a", "dpctl-verify"),))


def test_istio_path_patterns_get_matching_paths() -> None:
    assert [path_example(p) for p in ("/down*", "*.html", "/a/{*}/b", "*", "/x")] == [
        "/down", "/dpctl-verify.html", "/a/dpctl-verify/b", "/", "/x",
    ]


def test_sample_sizes_follow_the_stated_rule() -> None:
    assert binomial.CERTAIN == 44  # 0.9 ** 44 < 1 %: a 10 % leak is seen
    assert binomial.sample_size([1.0]) == 44
    assert binomial.sample_size([0.75, 0.25]) == 1136
    assert binomial.sample_size([0.5, 0.5]) == 1514
    lo, hi = binomial.bounds(545, 0.1)
    assert lo < 54.5 < hi
    caught = 1 - sum(comb(545, k) * 0.2**k * 0.8 ** (545 - k) for k in range(hi + 1))
    assert caught > 0.99  # a share 10 points off (20 %) falls past the bound
    assert binomial.bounds(44, 1.0) == (44, 44) and binomial.bounds(10, 0.0) == (0, 0)


def test_the_bounds_are_the_exact_two_sided_test() -> None:
    n, p = 200, 0.1
    lo, hi = binomial.bounds(n, p)
    below = sum(comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(lo))
    above = sum(comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(hi + 1, n + 1))
    assert below <= binomial.ALPHA / 2 and above <= binomial.ALPHA / 2
    assert below + comb(n, lo) * p**lo * (1 - p) ** (n - lo) > binomial.ALPHA / 2


def _answer(pod: str) -> HttpAnswer:
    return HttpAnswer(200, {}, b'{"pod": "%s", "namespace": "default"}' % pod.encode())


def test_answers_are_named_by_backend_reply_or_policy() -> None:
    trial = TRIALS[FAULT]
    assert outcome(trial, _answer("details-0")) == "details"
    assert outcome(trial, _answer("httpbin-0")) == "pod default/httpbin-0"
    assert outcome(trial, HttpAnswer(503, {}, b"fault filter abort")) == "503 'fault filter abort'"
    assert outcome(trial, "ConnectionResetError: reset").startswith("error ")
    denied = next(t for t in PLANNED if t.kind == "policy" and t.subject.endswith("denied"))
    assert outcome(denied, HttpAnswer(403, {}, b"RBAC: access denied")) == DENIED
    assert outcome(denied, HttpAnswer(404, {}, b"")) == PASSED


def test_judgement_names_the_share_that_is_off_and_shows_every_count() -> None:
    trial = TRIALS[WEIGHTED]
    good = judge(trial, Counter({"reviews-v1": 490, "reviews-v2": 55}), 1.0)
    assert good.ok and "reviews-v2 55/545 (expected 10%, bound" in good.evidence
    bad = judge(trial, Counter({"reviews-v1": 272, "reviews-v2": 273}), 1.0)
    assert not bad.ok and bad.subject == WEIGHTED
    assert bad.reason.startswith("reviews-v1 272/545 (49.9%), expected 90% (bound ")
    stray = judge(TRIALS[JASON], Counter({"reviews-v2": 40, "pod default/reviews-v1-0": 4}), 1.0)
    assert not stray.ok and "4/44 unexpected: pod default/reviews-v1-0" in stray.reason
