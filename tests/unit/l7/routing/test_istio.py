"""VirtualService -> routes: Istio's defaults and quirks, and the problems
and warnings of what is wrong or not emulated on a waypoint."""

from __future__ import annotations

import pytest

from dataplane.l7.routing.model import (
    Abort,
    Backend,
    Delay,
    DirectResponse,
    HeaderModifier,
    Mirror,
    PathMatch,
    PathModifier,
    Route,
    ValueMatch,
)

from .helpers import REVIEWS, V1, V2, Feedback, virtual_service

HOSTS = "hosts: [reviews]\n"
TO_V1 = "route: [{destination: {host: reviews-v1}}]"


def only_route(text: str) -> Route:
    (attachment,) = virtual_service(HOSTS + text)
    (route,) = attachment.routes
    return route


def test_hosts_are_completed_and_the_routes_named() -> None:
    (attachment,) = virtual_service(HOSTS + f"http: [{{{TO_V1}}}]")
    assert (attachment.kind, attachment.host, attachment.port) == ("VirtualService", REVIEWS, None)
    assert attachment.routes[0].origin == "VirtualService default/reviews http[0]"


def test_one_route_per_match_named_by_index() -> None:
    two = f"http: [{{match: [{{uri: {{exact: /a}}}}, {{uri: {{regex: '/b.*'}}}}], {TO_V1}}}]"
    (attachment,) = virtual_service(HOSTS + two)
    assert [r.origin for r in attachment.routes] == [
        "VirtualService default/reviews http[0] match[0]", "VirtualService default/reviews http[0] match[1]"
    ]
    assert attachment.routes[1].match.path == PathMatch("RegularExpression", "/b.*")


def test_match_fields() -> None:
    route = only_route("""
http:
- match:
  - uri: {prefix: /Api}
    ignoreUriCase: true
    method: {exact: POST}
    authority: {prefix: reviews}
    headers: {End-User: {exact: jason}, x-any: {}}
    withoutHeaders: {x-canary: {exact: "1"}}
    queryParams: {debug: {prefix: "t"}}
    port: 9080
  route: [{destination: {host: reviews-v2}}]
""")
    match = route.match
    assert match.path == PathMatch("Prefix", "/Api", ignore_case=True)
    assert match.headers == (
        ValueMatch("end-user", "Exact", "jason"), ValueMatch("x-any", "Present"),
        ValueMatch(":method", "Exact", "POST"), ValueMatch(":authority", "Prefix", "reviews"),
        ValueMatch("x-canary", "Exact", "1", invert=True),
    )
    assert match.query == (ValueMatch("debug", "Prefix", "t"),)
    assert match.port == 9080


def test_defaults_no_timeout_two_retries() -> None:
    route = only_route(f"http: [{{{TO_V1}}}]")
    assert route.timeout is None
    assert route.retry is not None and route.retry.attempts == 2
    assert route.retry.retry_on[-1] == "retriable-status-codes" and route.retry.status_codes == ()


def test_retries() -> None:
    route = only_route(f"http: [{{{TO_V1}, retries: {{attempts: 3, retryOn: '5xx,503', perTryTimeout: 0.5s}}}}]")
    assert route.retry is not None
    assert (route.retry.attempts, route.retry.retry_on, route.retry.status_codes, route.retry.per_try_timeout) == (
        3, ("5xx", "retriable-status-codes"), (503,), 0.5
    )
    assert only_route(f"http: [{{{TO_V1}, retries: {{perTryTimeout: 1s}}}}]").retry is None  # attempts unset: off
    assert only_route(f"http: [{{{TO_V1}, retries: {{attempts: 0}}}}]").retry is None
    assert only_route(f"http: [{{{TO_V1}, timeout: 1m30s}}]").timeout == 90.0
    assert only_route(f"http: [{{{TO_V1}, timeout: 0s}}]").timeout is None


def test_weights() -> None:
    single = only_route("http: [{route: [{destination: {host: reviews-v1}, weight: 30}]}]")
    assert single.backends == (Backend(V1, None, 1),)
    split = only_route("""
http:
- route:
  - {destination: {host: reviews-v1, subset: v1, port: {number: 9080}}, weight: 75}
  - {destination: {host: reviews-v2}, weight: 25}
  - {destination: {host: reviews}}
""")
    assert split.backends == (Backend(V1, 9080, 75, "v1"), Backend(V2, None, 25))


def test_all_weights_zero_answers_500_with_a_warning() -> None:
    feedback = Feedback()
    (attachment,) = virtual_service(HOSTS + """
http: [{route: [{destination: {host: reviews-v1}, weight: 0}, {destination: {host: reviews-v2}, weight: 0}]}]
""", feedback=feedback)
    assert attachment.routes[0].direct_response == DirectResponse(500)
    assert feedback.warning_paths == ["spec.http[0].route"]


def test_faults() -> None:
    route = only_route(f"""
http:
- {TO_V1}
  fault:
    abort: {{httpStatus: 503, percentage: {{value: 75}}}}
    delay: {{fixedDelay: 5s, percentage: {{value: 100}}}}
""")
    assert route.fault is not None
    assert route.fault.abort == Abort(503, 75.0) and route.fault.delay == Delay(5.0, 100.0)
    grpc = only_route(f"http: [{{{TO_V1}, fault: {{abort: {{grpcStatus: UNAVAILABLE, "
                      "percentage: {value: 10.5}}}}]")
    assert grpc.fault is not None and grpc.fault.abort == Abort(200, 10.5, 14)
    legacy = only_route(f"http: [{{{TO_V1}, fault: {{delay: {{fixedDelay: 1s, percent: 50}}}}}}]")
    assert legacy.fault is not None and legacy.fault.delay == Delay(1.0, 50.0)


def test_a_fault_without_percentage_injects_nothing_and_says_so() -> None:
    feedback = Feedback()
    (attachment,) = virtual_service(HOSTS + f"http: [{{{TO_V1}, fault: {{abort: {{httpStatus: 503}}}}}}]",
                                    feedback=feedback)
    fault = attachment.routes[0].fault
    assert fault is not None and fault.abort is None
    assert feedback.warning_paths == ["spec.http[0].fault.abort"]


def test_redirect_rewrite_direct_response() -> None:
    redirect = only_route("http: [{redirect: {uri: /new, authority: example.com}}]").redirect
    assert redirect is not None
    assert (redirect.status, redirect.hostname, redirect.keep_port) == (301, "example.com", False)
    assert redirect.path == PathModifier("ReplaceFullPath", "/new")
    derived = only_route("http: [{redirect: {scheme: https, derivePort: FROM_REQUEST_PORT}}]").redirect
    assert derived is not None and derived.keep_port and derived.scheme == "https"
    rewrite = only_route(f"http: [{{{TO_V1}, rewrite: {{uri: /v2, authority: v2.internal}}}}]").rewrite
    assert rewrite is not None and rewrite.path == PathModifier("ReplacePrefixMatch", "/v2")
    regex = only_route(f"http: [{{{TO_V1}, rewrite: {{uriRegexRewrite: "
                       "{match: '^/old/(.*)', rewrite: '/new/\\1'}}}]")
    assert regex.rewrite is not None and regex.rewrite.path == PathModifier("RegexRewrite", "/new/\\1", "^/old/(.*)")
    direct = only_route("http: [{directResponse: {status: 418, body: {bytes: aGVsbG8=}}}]")
    assert direct.direct_response == DirectResponse(418, b"hello")


def test_mirrors_and_headers() -> None:
    mirrored = only_route(f"""
http:
- {TO_V1}
  mirror: {{host: reviews-v2}}
  mirrorPercentage: {{value: 12.5}}
  headers:
    request: {{set: {{x-env: prod}}, add: {{X-A: "1"}}, remove: [x-drop]}}
    response: {{add: {{x-wp: "yes"}}}}
""")
    assert mirrored.mirrors == (Mirror(V2, None, 12.5),)
    assert mirrored.request_headers == HeaderModifier((("x-env", "prod"),), (("x-a", "1"),), ("x-drop",))
    assert mirrored.response_headers == HeaderModifier(add=(("x-wp", "yes"),))
    many = only_route(f"http: [{{{TO_V1}, mirrors: [{{destination: {{host: reviews-v2}}}}, "
                      "{destination: {host: reviews}, percentage: {value: 5}}]}]")
    assert many.mirrors == (Mirror(V2, None, 100.0), Mirror(REVIEWS, None, 5.0))


def test_matches_bound_only_to_gateways_are_dropped() -> None:
    feedback = Feedback()
    (attachment,) = virtual_service(HOSTS + f"""
http:
- match: [{{gateways: [ingress], uri: {{prefix: /a}}}}, {{uri: {{prefix: /b}}}}]
  {TO_V1}
""", feedback=feedback)
    assert [r.match.path for r in attachment.routes] == [PathMatch("Prefix", "/b")]
    assert feedback.warning_paths == ["spec.http[0].match[0].gateways"]


BAD = [
    (f"http: [{{match: [{{uri: {{regex: '(a'}}}}], {TO_V1}}}]", "spec.http[0].match[0].uri.regex"),
    (f"http: [{{match: [{{uri: {{exact: /a, prefix: /a}}}}], {TO_V1}}}]", "spec.http[0].match[0].uri"),
    (f"http: [{{match: [{{headers: {{'x y': {{exact: a}}}}}}], {TO_V1}}}]", "spec.http[0].match[0].headers.x y"),
    ("http: [{redirect: {uri: /x}, route: [{destination: {host: reviews-v1}}]}]", "spec.http[0]"),
    ("http: [{timeout: 5s}]", "spec.http[0]"),
    (f"http: [{{{TO_V1}, retries: {{attempts: 2, retryOn: 'sometimes'}}}}]", "spec.http[0].retries.retryOn"),
    (f"http: [{{{TO_V1}, timeout: '5'}}]", "spec.http[0].timeout"),
    (f"http: [{{{TO_V1}, fault: {{abort: {{grpcStatus: SOMETIMES, percentage: {{value: 1}}}}}}}}]",
     "spec.http[0].fault.abort.grpcStatus"),
    (f"http: [{{{TO_V1}, fault: {{abort: {{httpStatus: 99, percentage: {{value: 1}}}}}}}}]",
     "spec.http[0].fault.abort.httpStatus"),
    (f"http: [{{{TO_V1}, fault: {{abort: {{httpStatus: 503, percentage: {{value: 101}}}}}}}}]",
     "spec.http[0].fault.abort.percentage.value"),
    ("http: [{redirect: {uri: /x, redirectCode: 200}}]", "spec.http[0].redirect.redirectCode"),
    (f"http: [{{{TO_V1}, mirror: {{host: reviews-v2}}, mirrors: [{{destination: {{host: reviews-v2}}}}]}}]",
     "spec.http[0]"),
    ("http: [{route: [{destination: {host: '*.default.svc.cluster.local'}}]}]",
     "spec.http[0].route[0].destination.host"),
    ("http: [{directResponse: {status: 200, body: {bytes: '!!'}}}]", "spec.http[0].directResponse.body.bytes"),
]


@pytest.mark.parametrize(("http", "path"), BAD)
def test_problems_are_reported_at_their_field(http: str, path: str) -> None:
    feedback = Feedback()
    assert virtual_service(HOSTS + http, feedback=feedback) == ()
    assert path in feedback.problem_paths, feedback.problems


def test_hosts_are_required_and_star_is_refused() -> None:
    feedback = Feedback()
    virtual_service(f"http: [{{{TO_V1}}}]", feedback=feedback)
    virtual_service(f"hosts: ['*']\nhttp: [{{{TO_V1}}}]", feedback=feedback)
    assert feedback.problem_paths == ["spec.hosts", "spec.hosts"]


WARNED = [
    (f"http: [{{match: [{{sourceLabels: {{app: curl}}}}], {TO_V1}}}]", "spec.http[0].match[0].sourceLabels"),
    (f"http: [{{match: [{{sourceNamespace: x}}], {TO_V1}}}]", "spec.http[0].match[0].sourceNamespace"),
    (f"http: [{{match: [{{uri: {{regex: '/a'}}, ignoreUriCase: true}}], {TO_V1}}}]",
     "spec.http[0].match[0].ignoreUriCase"),
    (f"http: [{{match: [{{headers: {{uri: {{exact: /a}}}}}}], {TO_V1}}}]", "spec.http[0].match[0].headers.uri"),
    (f"http: [{{{TO_V1}, corsPolicy: {{allowOrigins: [{{exact: x}}]}}}}]", "spec.http[0].corsPolicy"),
    (f"http: [{{{TO_V1}, retries: {{attempts: 1, retryRemoteLocalities: true}}}}]",
     "spec.http[0].retries.retryRemoteLocalities"),
    (f"http: [{{{TO_V1}, fault: {{abort: {{http2Error: x, percentage: {{value: 1}}}}}}}}]",
     "spec.http[0].fault.abort.http2Error"),
    ("http: [{delegate: {name: x}}]", "spec.http[0].delegate"),
    (f"tcp: [{{route: []}}]\nhttp: [{{{TO_V1}}}]", "spec.tcp"),
    (f"gateways: [ingress]\nhttp: [{{{TO_V1}}}]", "spec.gateways"),
]


@pytest.mark.parametrize(("text", "path"), WARNED)
def test_what_waypoints_ignore_is_warned_about_never_silenced(text: str, path: str) -> None:
    feedback = Feedback()
    virtual_service(HOSTS + text, feedback=feedback)
    assert feedback.problems == []
    assert path in feedback.warning_paths, feedback.warnings


def test_a_virtualservice_for_gateways_only_gives_waypoints_nothing() -> None:
    assert virtual_service(HOSTS + f"gateways: [ingress]\nhttp: [{{{TO_V1}}}]") == ()
    assert virtual_service(HOSTS + f"gateways: [ingress, mesh]\nhttp: [{{{TO_V1}}}]") != ()
