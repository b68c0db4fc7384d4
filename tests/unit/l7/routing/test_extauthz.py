"""The external authorizer's check request and decisions (``waypoint-l7.md`` §4.2)."""

from __future__ import annotations

from typing import Any

import pytest

from dataplane.l7.routing import extauthz
from dataplane.l7.routing.model import Request
from dataplane.l7.routing.replies import LocalReply


def provider(**fields: Any) -> extauthz.Provider:
    raw = {"name": "p", "envoyExtAuthzHttp": {"service": "authz.foo.svc.cluster.local", "port": "8000", **fields}}
    problems: list[tuple[str, str]] = []
    found = extauthz.providers({"extensionProviders": [raw]}, lambda path, message: problems.append((path, message)))
    assert problems == []
    return found["p"]


REQUEST = Request(
    "POST", "/api/x?q=1", "web:80",
    headers=(("authorization", "Bearer t"), ("x-ext-authz", "allow"), ("x-other", "1"), ("cookie", "c"),
             ("content-length", "5")),
)


def test_istio_defaults() -> None:
    p = provider()
    assert (p.port, p.timeout, p.status_on_error, p.fail_open, p.path_prefix) == (8000, 600.0, 403, False, "")
    assert p.to_downstream_on_deny is None


def test_the_check_request_carries_method_path_host_and_only_the_listed_headers() -> None:
    check, body = extauthz.check_request(provider(pathPrefix="/check", includeRequestHeadersInCheck=["X-Ext-*"],
                                                  includeAdditionalHeadersInCheck={"X-Fixed": "1"}),
                                         REQUEST, b"hello")
    assert (check.method, check.path, check.authority) == ("POST", "/check/api/x?q=1", "web:80")
    assert check.headers == (
        ("authorization", "Bearer t"), ("x-ext-authz", "allow"), ("x-fixed", "1"), ("content-length", "0"),
    )
    assert body == b""


def test_the_body_goes_along_only_when_asked_and_within_its_limit() -> None:
    _, body = extauthz.check_request(provider(includeRequestBodyInCheck={"maxRequestBytes": 3, "allowPartialMessage": True}),
                                     REQUEST, b"hello")
    assert body == b"hel"
    refused = extauthz.check_request(provider(includeRequestBodyInCheck={"maxRequestBytes": 3}), REQUEST, b"hello")
    assert isinstance(refused, LocalReply) and refused.status == 413


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("x-ext-authz", "X-Ext-Authz", True), ("x-*", "x-a", True), ("*-id", "x-request-id", True),
    ("*", "anything", True), ("x-a", "x-ab", False), ("x-*", "y-a", False),
])
def test_header_patterns(pattern: str, name: str, expected: bool) -> None:
    assert extauthz.header_matches(pattern, name) is expected


def test_200_allows_and_copies_the_headers_the_provider_names() -> None:
    decision = extauthz.decide(
        provider(headersToUpstreamOnAllow=["x-ext-authz-check-result"], headersToDownstreamOnAllow=["x-down"]),
        200, (("x-ext-authz-check-result", "allowed"), ("x-down", "d"), ("x-else", "e")), b"",
    )
    assert decision.allowed and decision.reply is None
    assert decision.upstream_headers == (("x-ext-authz-check-result", "allowed"),)
    assert decision.downstream_headers == (("x-down", "d"),)


def test_a_denial_carries_the_authorizers_status_body_and_headers() -> None:
    answer = (("x-ext-authz-check-result", "denied"), ("host", "h"), ("content-length", "6"), ("x-more", "m"))
    every = extauthz.decide(provider(), 401, answer, b"denied")
    assert not every.allowed and every.reply is not None
    assert (every.reply.status, every.reply.body, every.reply.flags) == (401, b"denied", "UAEX")
    assert every.reply.headers == (("x-ext-authz-check-result", "denied"), ("x-more", "m"))  # all but Host and framing
    listed = extauthz.decide(provider(headersToDownstreamOnDeny=["x-ext-authz-check-result"]), 403, answer, b"no")
    assert listed.reply is not None and listed.reply.headers == (("x-ext-authz-check-result", "denied"),)


@pytest.mark.parametrize("fail_open", [False, True])
def test_an_authorizer_error_answers_status_on_error_unless_fail_open(fail_open: bool) -> None:
    p = provider(failOpen=fail_open, statusOnError="503")
    for decision in (extauthz.decide(p, 500, (), b"oops"), extauthz.failed(p)):
        assert decision.allowed is fail_open
        if not fail_open:
            assert decision.reply is not None and (decision.reply.status, decision.reply.body) == (503, b"")
            assert decision.reply.details == "ext_authz_error"


def test_a_namespace_qualified_service_names_its_host() -> None:
    assert provider(service="foo/Authz.foo.svc.cluster.local").service == "authz.foo.svc.cluster.local"
