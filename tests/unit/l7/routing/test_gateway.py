"""HTTPRoute -> routes: Istio's translation, the API server's defaults, and
the problems and warnings a bad or partly emulated route gets."""

from __future__ import annotations

import pytest

from dataplane.l7.routing.model import Backend, DirectResponse, HeaderModifier, PathMatch, PathModifier, ValueMatch

from .helpers import PARENT, REVIEWS, V1, V2, Feedback, http_route


def test_a_rule_becomes_one_route_per_match_named_after_it() -> None:
    (attachment,) = http_route(PARENT + """
rules:
- matches: [{path: {type: Exact, value: /a}}, {path: {type: PathPrefix, value: /b/}}]
  backendRefs: [{name: reviews-v1, port: 9080}]
""")
    assert (attachment.host, attachment.port) == (REVIEWS, 9080)
    first, second = attachment.routes
    assert first.origin == "HTTPRoute default/reviews rule 0 match 0"
    assert second.origin == "HTTPRoute default/reviews rule 0 match 1"
    assert first.match.path == PathMatch("Exact", "/a")
    assert second.match.path == PathMatch("PathPrefix", "/b")  # trailing "/" ignored
    assert first.backends == (Backend(V1, 9080),)


def test_api_server_defaults() -> None:
    (attachment,) = http_route(PARENT + "rules: [{backendRefs: [{name: reviews-v1, port: 9080}]}]")
    (route,) = attachment.routes
    assert route.match.path == PathMatch("PathPrefix", "/")
    assert route.backends[0].weight == 1
    (no_rules,) = http_route(PARENT)
    assert no_rules.routes[0].direct_response == DirectResponse(500)  # default rule, no backend


def test_istio_route_defaults_no_timeout_and_two_retries() -> None:
    (attachment,) = http_route(PARENT + "rules: [{backendRefs: [{name: reviews-v1, port: 9080}]}]")
    route = attachment.routes[0]
    assert route.timeout is None
    assert route.retry is not None and route.retry.attempts == 2 and route.retry.status_codes == ()
    assert route.retry.retry_on == ("connect-failure", "refused-stream", "unavailable", "cancelled",
                                    "retriable-status-codes")


def test_headers_lower_cased_query_names_kept() -> None:
    (attachment,) = http_route(PARENT + """
rules:
- matches:
  - headers: [{name: End-User, value: jason}, {name: x-v, type: RegularExpression, value: "v[0-9]"}]
    queryParams: [{name: Debug, value: "1"}]
    method: POST
  backendRefs: [{name: reviews-v2, port: 9080}]
""")
    match = attachment.routes[0].match
    assert match.headers == (ValueMatch("end-user", "Exact", "jason"), ValueMatch("x-v", "RegularExpression", "v[0-9]"))
    assert match.query == (ValueMatch("Debug", "Exact", "1"),)
    assert match.method == "POST"


def test_a_repeated_header_match_counts_once_with_a_warning() -> None:
    feedback = Feedback()
    (attachment,) = http_route(PARENT + """
rules:
- matches: [{headers: [{name: x-a, value: "1"}, {name: X-A, value: "2"}]}]
  backendRefs: [{name: reviews-v2, port: 9080}]
""", feedback=feedback)
    assert attachment.routes[0].match.headers == (ValueMatch("x-a", "Exact", "1"),)
    assert feedback.warning_paths == ["spec.rules[0].matches[0].headers[1].name"]


def test_weights_zero_weight_backends_dropped_all_zero_answers_500() -> None:
    (split,) = http_route(PARENT + """
rules:
- backendRefs: [{name: reviews-v1, port: 9080, weight: 90}, {name: reviews-v2, port: 9080, weight: 0}]
""")
    assert split.routes[0].backends == (Backend(V1, 9080, 90),)
    (zero,) = http_route(PARENT + """
rules:
- backendRefs: [{name: reviews-v1, port: 9080, weight: 0}, {name: reviews-v2, port: 9080, weight: 0}]
""")
    assert zero.routes[0].backends == () and zero.routes[0].direct_response == DirectResponse(500)


def test_filters() -> None:
    (attachment,) = http_route(PARENT + """
rules:
- matches: [{path: {value: /old}}]
  filters:
  - type: RequestHeaderModifier
    requestHeaderModifier: {set: [{name: X-Env, value: prod}], add: [{name: x-a, value: "1"}], remove: [X-Drop]}
  - type: ResponseHeaderModifier
    responseHeaderModifier: {add: [{name: x-wp, value: "yes"}]}
  - type: URLRewrite
    urlRewrite: {hostname: v2.internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
  - type: RequestMirror
    requestMirror: {backendRef: {name: reviews-v2, port: 9080}, fraction: {numerator: 1, denominator: 4}}
  backendRefs:
  - name: reviews-v1
    port: 9080
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-backend, value: v1}]}}]
""")
    route = attachment.routes[0]
    assert route.request_headers == HeaderModifier((("x-env", "prod"),), (("x-a", "1"),), ("x-drop",))
    assert route.response_headers == HeaderModifier(add=(("x-wp", "yes"),))
    assert route.rewrite is not None and route.rewrite.hostname == "v2.internal"
    assert route.rewrite.path == PathModifier("ReplacePrefixMatch", "/v2")
    assert [(m.service, m.port, m.percent) for m in route.mirrors] == [(V2, 9080, 25.0)]
    assert route.backends[0].request_headers == HeaderModifier(set=(("x-backend", "v1"),))


def test_redirect_defaults_to_302_keeping_the_port() -> None:
    (attachment,) = http_route(PARENT + "rules: [{filters: [{type: RequestRedirect, requestRedirect: "
                                        "{hostname: example.com}}]}]")
    redirect = attachment.routes[0].redirect
    assert redirect is not None
    assert (redirect.status, redirect.hostname, redirect.keep_port) == (302, "example.com", True)
    assert attachment.routes[0].direct_response is None
    (https,) = http_route(PARENT + "rules: [{filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]}]")
    assert https.routes[0].redirect is not None and https.routes[0].redirect.keep_port is False


def test_timeouts_and_retry() -> None:
    (attachment,) = http_route(PARENT + """
rules:
- backendRefs: [{name: reviews-v1, port: 9080}]
  timeouts: {request: 1m30s, backendRequest: 500ms}
  retry: {attempts: 3, codes: [503, 504], backoff: 100ms}
- backendRefs: [{name: reviews-v1, port: 9080}]
  timeouts: {request: 10s, backendRequest: 2s}
- backendRefs: [{name: reviews-v1, port: 9080}]
  timeouts: {request: 0s}
  retry: {attempts: 0}
""")
    with_retry, without_retry, disabled = attachment.routes
    assert with_retry.timeout == 90.0
    assert with_retry.retry is not None
    assert (with_retry.retry.attempts, with_retry.retry.status_codes) == (3, (503, 504))
    assert with_retry.retry.per_try_timeout == 0.5 and with_retry.retry.backoff_base == 0.1
    assert "retriable-status-codes" in with_retry.retry.retry_on and "5xx" not in with_retry.retry.retry_on
    assert without_retry.timeout == 2.0  # backendRequest is the route timeout without retry
    assert disabled.timeout is None and disabled.retry is None


def test_every_parent_port_gets_the_routes() -> None:
    attachments = http_route("""
parentRefs:
- {group: "", kind: Service, name: reviews}
- {group: "", kind: Service, name: ratings, namespace: other, port: 8080}
rules: [{backendRefs: [{name: reviews-v1, port: 9080}]}]
""")
    assert [(a.host, a.port) for a in attachments] == [
        (REVIEWS, None), ("ratings.other.svc.cluster.local", 8080)
    ]


BAD = [
    ("rules: [{matches: [{path: {type: RegularExpression, value: '(a'}}]}]", "spec.rules[0].matches[0].path.value"),
    ("rules: [{matches: [{path: {type: PathPrefix, value: 'api'}}]}]", "spec.rules[0].matches[0].path.value"),
    ("rules: [{matches: [{path: {type: Exact, value: '/a//b'}}]}]", "spec.rules[0].matches[0].path.value"),
    ("rules: [{matches: [{headers: [{name: 'bad header', value: x}]}]}]", "spec.rules[0].matches[0].headers[0].name"),
    ("rules: [{matches: [{queryParams: [{name: q, type: RegularExpression, value: '[z'}]}]}]",
     "spec.rules[0].matches[0].queryParams[0].value"),
    (("rules: [{filters: [{type: RequestRedirect, requestRedirect: {hostname: x}}], "
     "backendRefs: [{name: reviews-v1, port: 9080}]}]"), "spec.rules[0].backendRefs"),
    ("rules: [{filters: [{type: ExtensionRef, extensionRef: {group: x, kind: y, name: z}}]}]",
     "spec.rules[0].filters[0].type"),
    ("rules: [{backendRefs: [{name: reviews-v1, port: 9080, kind: ServiceImport, group: multicluster.x-k8s.io}]}]",
     "spec.rules[0].backendRefs[0].kind"),
    ("rules: [{backendRefs: [{name: reviews-v1}]}]", "spec.rules[0].backendRefs[0].port"),
    ("rules: [{backendRefs: [{name: reviews-v1.default.svc.cluster.local, port: 9080}]}]",
     "spec.rules[0].backendRefs[0].name"),
    ("rules: [{backendRefs: [{name: reviews-v1, port: 9080, weight: 1000001}]}]",
     "spec.rules[0].backendRefs[0].weight"),
    ("rules: [{filters: [{type: RequestRedirect, requestRedirect: {statusCode: 305}}]}]",
     "spec.rules[0].filters[0].requestRedirect.statusCode"),
    ("rules: [{filters: [{type: RequestRedirect}]}]", "spec.rules[0].filters[0]"),
    (("rules: [{filters: [{type: URLRewrite, urlRewrite: {hostname: a}}, "
     "{type: URLRewrite, urlRewrite: {hostname: b}}]}]"),
     "spec.rules[0].filters[1].type"),
    (("rules: [{matches: [{path: {type: Exact, value: /a}}], filters: [{type: URLRewrite, urlRewrite: "
     "{path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]}]"), "spec.rules[0].filters"),
    ("rules: [{filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath}}}]}]",
     "spec.rules[0].filters[0].urlRewrite.path"),
    ("rules: [{timeouts: {request: 1.5s}}]", "spec.rules[0].timeouts.request"),
    ("rules: [{timeouts: {request: 1s, backendRequest: 2s}}]", "spec.rules[0].timeouts.backendRequest"),
    ("rules: [{retry: {codes: [200]}}]", "spec.rules[0].retry.codes[0]"),
    (("rules: [{backendRefs: [{name: reviews-v1, port: 9080, filters: [{type: RequestMirror, requestMirror: "
     "{backendRef: {name: reviews-v2, port: 9080}}}]}]}]"), "spec.rules[0].backendRefs[0].filters[0].type"),
    (("rules: [{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: reviews-v2, port: 9080}, "
     "fraction: {numerator: 5, denominator: 4}}}]}]"), "spec.rules[0].filters[0].requestMirror.fraction"),
]


@pytest.mark.parametrize(("rules", "path"), BAD)
def test_problems_are_reported_at_their_field_and_the_route_is_rejected(rules: str, path: str) -> None:
    feedback = Feedback()
    assert http_route(PARENT + rules, feedback=feedback) == ()
    assert path in feedback.problem_paths, feedback.problems


def test_the_extension_ref_message_says_the_route_is_rejected() -> None:
    feedback = Feedback()
    http_route(PARENT + "rules: [{filters: [{type: ExtensionRef, extensionRef: {name: z}}]}]", feedback=feedback)
    assert any("rejected" in message for _, message in feedback.problems)


WARNED = [
    ("parentRefs: [{kind: Service, name: reviews}]", "spec.parentRefs[0].group"),
    ("parentRefs: [{group: multicluster.x-k8s.io, kind: ServiceImport, name: reviews}]", "spec.parentRefs[0]"),
    ('parentRefs: [{group: "", kind: Service, name: reviews, sectionName: http}]', "spec.parentRefs[0].sectionName"),
    (PARENT + "hostnames: [reviews.example.com]", "spec.hostnames"),
    (PARENT + "rules: [{filters: [{type: CORS, cors: {allowOrigins: ['*']}}], backendRefs: [{name: reviews-v1, "
     "port: 9080}]}]", "spec.rules[0].filters[0].type"),
    (PARENT + "rules: [{backendRefs: [{name: reviews-v1, namespace: other, port: 9080}]}]",
     "spec.rules[0].backendRefs[0].namespace"),
    ("rules: [{backendRefs: [{name: reviews-v1, port: 9080}]}]", "spec.parentRefs"),
]


@pytest.mark.parametrize(("text", "path"), WARNED)
def test_what_is_not_emulated_is_warned_about_never_silenced(text: str, path: str) -> None:
    feedback = Feedback()
    http_route(text, feedback=feedback)
    assert feedback.problems == []
    assert path in feedback.warning_paths, feedback.warnings


def test_a_service_parent_without_the_core_group_attaches_to_nothing() -> None:
    assert http_route("parentRefs: [{kind: Service, name: reviews}]") == ()
