"""From a chosen route to a decision: the reference's behaviour cases
(waypoint-l7.md §7) at the decision level, with a seeded Random."""

from __future__ import annotations

import math
from collections import Counter
from random import Random

from dataplane.l7.routing import replies, table
from dataplane.l7.routing.decision import Forward, Respond, apply_headers, decide, location, replace_prefix
from dataplane.l7.routing.model import (
    Backend,
    Delay,
    Fault,
    HeaderModifier,
    PathMatch,
    PathModifier,
    Redirect,
    Request,
    Route,
)

from .helpers import PARENT, REVIEWS, SERVICES, V1, V2, get, http_route, virtual_service

REQUESTS = 1000


def route_of(text: str, request: Request | None = None, vs: bool = False) -> Route:
    attachments = virtual_service(text) if vs else http_route(PARENT + text)
    selected = table.build(REVIEWS, 9080, attachments).select(request or get())
    assert selected is not None
    return selected


def forward(route: Route, request: Request | None = None, seed: int = 1) -> Forward:
    decision = decide(route, request or get(), Random(seed), SERVICES)
    assert isinstance(decision, Forward), decision
    return decision


def respond(route: Route, request: Request | None = None, seed: int = 1) -> Respond:
    decision = decide(route, request or get(), Random(seed), SERVICES)
    assert isinstance(decision, Respond), decision
    return decision


def within_binomial(count: int, n: int, p: float) -> bool:
    """``count`` successes of ``n`` draws within three standard deviations of p."""
    return abs(count - n * p) <= 3 * math.sqrt(n * p * (1 - p))


def test_case_8_weights_90_10() -> None:
    route = route_of("""
rules:
- backendRefs: [{name: reviews-v1, port: 9080, weight: 90}, {name: reviews-v2, port: 9080, weight: 10}]
""")
    rng = Random(8)
    seen = Counter(forward_with(route, rng).backend.service for _ in range(REQUESTS))
    assert within_binomial(seen[V2], REQUESTS, 0.10)
    assert abs(seen[V2] / REQUESTS - 0.10) <= 0.03  # the reference's 10 % ± 3 %
    assert seen[V1] + seen[V2] == REQUESTS


def forward_with(route: Route, rng: Random) -> Forward:
    decision = decide(route, get(), rng, SERVICES)
    assert isinstance(decision, Forward)
    return decision


def test_case_10_a_header_sends_everything_to_v2() -> None:
    rules = """
rules:
- matches: [{headers: [{name: end-user, value: jason}]}]
  backendRefs: [{name: reviews-v2, port: 9080}]
- backendRefs: [{name: reviews-v1, port: 9080}]
"""
    jason = get(headers=(("end-user", "jason"),))
    for seed in range(20):
        assert forward(route_of(rules, jason), jason, seed).backend.service == V2
        assert forward(route_of(rules), seed=seed).backend.service == V1


def test_case_11_prefix_routes() -> None:
    rules = """
rules:
- matches: [{path: {type: PathPrefix, value: /abc}}]
  backendRefs: [{name: reviews-v2, port: 9080}]
- matches: [{path: {type: PathPrefix, value: /}}]
  backendRefs: [{name: reviews-v1, port: 9080}]
"""
    for path, service in (("/abc", V2), ("/abc/x", V2), ("/abcd", V1)):
        assert forward(route_of(rules, get(path)), get(path)).backend.service == service


def test_case_12_no_rule_matches_so_404_nr() -> None:
    built = table.build(REVIEWS, 9080, http_route(PARENT + """
rules: [{matches: [{path: {type: Exact, value: /api}}], backendRefs: [{name: reviews-v1, port: 9080}]}]
"""))
    assert built.select(get("/other")) is None
    reply = replies.no_route()
    assert (reply.status, reply.body, reply.flags, reply.headers) == (404, b"", "NR", ())


def test_case_13_header_modifiers() -> None:
    route = route_of("""
rules:
- filters:
  - type: RequestHeaderModifier
    requestHeaderModifier: {set: [{name: x-env, value: prod}], add: [{name: x-a, value: "1"}], remove: [x-drop]}
  - type: ResponseHeaderModifier
    responseHeaderModifier: {add: [{name: x-wp, value: "yes"}]}
  backendRefs: [{name: reviews-v1, port: 9080}]
""")
    request = get(headers=(("x-env", "dev"), ("x-drop", "1"), ("x-a", "0"), ("accept", "*/*")))
    decision = forward(route, request)
    assert decision.request.headers == (("x-a", "0"), ("accept", "*/*"), ("x-env", "prod"), ("x-a", "1"))
    response: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
    for modifier in decision.response_headers:
        response = apply_headers(response, modifier)
    assert ("x-wp", "yes") in response


def test_case_14_redirect_keeps_the_port_and_never_calls_the_backend() -> None:
    route = route_of("rules: [{filters: [{type: RequestRedirect, requestRedirect: {hostname: example.com}}]}]")
    decision = respond(route, get("/a/b?x=1"))
    assert decision.reply.status == 302
    assert decision.reply.headers == (("location", "http://example.com:9080/a/b?x=1"),)
    assert decision.reply.body == b""


def test_redirect_locations() -> None:
    request = Request("GET", "/old/x?q=1", "reviews:9080")
    prefix = PathMatch("PathPrefix", "/old")
    assert location(Redirect(301, scheme="https", keep_port=False), prefix, request) == "https://reviews/old/x?q=1"
    assert location(Redirect(302, port=80), prefix, request) == "http://reviews/old/x?q=1"  # default port not written
    assert location(Redirect(302, port=8443, scheme="https"), prefix, request) == "https://reviews:8443/old/x?q=1"
    prefixed = Redirect(302, path=PathModifier("ReplacePrefixMatch", "/new"))
    assert location(prefixed, prefix, request) == "http://reviews:9080/new/x?q=1"
    full = Redirect(302, path=PathModifier("ReplaceFullPath", "/moved"))
    assert location(full, prefix, request) == "http://reviews:9080/moved?q=1"
    assert location(Redirect(302), None, Request("GET", "/", "[fd00::1]:9080")) == "http://[fd00::1]:9080/"


def test_case_15_rewrite_replaces_the_matched_prefix() -> None:
    rules = """
rules:
- matches: [{path: {type: PathPrefix, value: /old}}]
  filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}}]
  backendRefs: [{name: reviews-v1, port: 9080}]
"""
    assert forward(route_of(rules, get("/old/x")), get("/old/x")).request.path == "/v2/x"
    assert forward(route_of(rules, get("/old?y=1")), get("/old?y=1")).request.path == "/v2?y=1"


def test_prefix_replacement_rules() -> None:
    segments = PathMatch("PathPrefix", "/foo")
    assert replace_prefix("/", segments, "/foo/bar") == "/bar"
    assert replace_prefix("/", segments, "/foo") == "/"
    assert replace_prefix("/xyz/", segments, "/foo/bar") == "/xyz/bar"
    assert replace_prefix("/xyz", PathMatch("PathPrefix", "/"), "/foo") == "/xyz/foo"
    assert replace_prefix("/v2", PathMatch("Prefix", "/old"), "/oldest") == "/v2est"  # plain string prefix
    assert replace_prefix("/v2", PathMatch("Exact", "/api"), "/api") == "/v2"
    assert replace_prefix("/v2", None, "/foo") == "/v2foo"  # VirtualService rewrite without a uri match


def test_regex_rewrite_and_host_rewrite() -> None:
    route = route_of("""
hosts: [reviews]
http:
- route: [{destination: {host: reviews-v1}}]
  rewrite: {authority: v1.internal, uriRegexRewrite: {match: '^/api/(v[0-9])/(.*)', rewrite: '/\\2?version=\\1'}}
""", vs=True)
    decision = forward(route, get("/api/v1/users"))
    assert decision.request.path == "/users?version=v1"
    assert decision.request.authority == "v1.internal"


def test_case_16_mirror_every_request() -> None:
    route = route_of("""
rules:
- filters: [{type: RequestMirror, requestMirror: {backendRef: {name: reviews-v2, port: 9080}}}]
  backendRefs: [{name: reviews-v1, port: 9080}]
""")
    for seed in range(50):
        decision = forward(route, seed=seed)
        assert decision.backend.service == V1
        assert [m.service for m in decision.mirrors] == [V2]


def test_a_mirror_percentage_is_drawn_per_request() -> None:
    route = route_of("""
hosts: [reviews]
http: [{route: [{destination: {host: reviews-v1}}], mirror: {host: reviews-v2}, mirrorPercentage: {value: 20}}]
""", vs=True)
    rng = Random(16)
    mirrored = sum(1 for _ in range(REQUESTS) if forward_with(route, rng).mirrors)
    assert within_binomial(mirrored, REQUESTS, 0.20)


def test_case_19_abort_75_percent() -> None:
    route = route_of("""
hosts: [reviews]
http:
- route: [{destination: {host: reviews-v1}}]
  fault: {abort: {httpStatus: 503, percentage: {value: 75}}}
""", vs=True)
    rng = Random(19)
    outcomes = [decide(route, get(), rng, SERVICES) for _ in range(REQUESTS)]
    aborted = [o for o in outcomes if isinstance(o, Respond)]
    assert within_binomial(len(aborted), REQUESTS, 0.75)
    assert abs(len(aborted) / REQUESTS - 0.75) <= 0.05  # the reference's 75 % ± 5 %
    assert {(o.reply.status, o.reply.body, o.reply.flags) for o in aborted} == {(503, b"fault filter abort", "FI")}
    assert all(isinstance(o, Forward) and o.backend.service == V1 for o in outcomes if o not in aborted)


def test_case_20_delay_is_slept_then_forwarded_with_di() -> None:
    route = Route("r", backends=(Backend(V1, 9080),), fault=Fault(delay=Delay(5.0, 100.0)))
    decision = forward(route)
    assert (decision.delay, decision.flags) == (5.0, "DI")


def test_a_delayed_abort_is_flagged_di_fi() -> None:
    route = route_of("""
hosts: [reviews]
http:
- route: [{destination: {host: reviews-v1}}]
  fault: {abort: {httpStatus: 500, percentage: {value: 100}}, delay: {fixedDelay: 1s, percentage: {value: 100}}}
""", vs=True)
    decision = respond(route)
    assert (decision.delay, decision.reply.status, decision.reply.flags) == (1.0, 500, "DI,FI")


def test_case_26_zero_weights_and_a_missing_backend_answer_500() -> None:
    zero = route_of("rules: [{backendRefs: [{name: reviews-v1, port: 9080, weight: 0}]}]")
    missing = route_of("rules: [{backendRefs: [{name: ratings, port: 9080}]}]")
    for route in (zero, missing):
        reply = respond(route).reply
        assert (reply.status, reply.body, reply.headers) == (500, b"", ())


def test_a_missing_backend_only_costs_its_share() -> None:
    route = route_of("rules: [{backendRefs: [{name: reviews-v1, port: 9080}, {name: ratings, port: 9080}]}]")
    rng = Random(26)
    failed = sum(1 for _ in range(REQUESTS) if isinstance(decide(route, get(), rng, SERVICES), Respond))
    assert within_binomial(failed, REQUESTS, 0.5)


def test_direct_response() -> None:
    route = route_of("hosts: [reviews]\nhttp: [{directResponse: {status: 418, body: {string: teapot}}}]", vs=True)
    reply = respond(route).reply
    assert (reply.status, reply.body, reply.headers) == (418, b"teapot", (("content-type", "text/plain"),))


def test_backend_modifiers_run_before_the_route_s() -> None:
    route = Route(
        "r", backends=(Backend(V1, 9080, request_headers=HeaderModifier(set=(("x-who", "backend"),))),),
        request_headers=HeaderModifier(set=(("x-who", "route"),)),
    )
    assert forward(route).request.headers == (("x-who", "route"),)


def test_timeouts_and_retries_are_handed_over() -> None:
    route = route_of("""
rules:
- backendRefs: [{name: reviews-v1, port: 9080}]
  timeouts: {request: 1s, backendRequest: 250ms}
  retry: {attempts: 2, codes: [503]}
""")
    decision = forward(route)
    assert decision.timeout == 1.0
    assert decision.retry is not None and decision.retry.per_try_timeout == 0.25
