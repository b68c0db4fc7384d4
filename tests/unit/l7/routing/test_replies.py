"""Envoy's local replies, byte for byte (waypoint-l7.md §4.3)."""

from __future__ import annotations

import pytest

from dataplane.l7.routing import replies
from dataplane.l7.routing.replies import LocalReply

TEXT = (("content-type", "text/plain"),)
UPSTREAM = b"upstream connect error or disconnect/reset before headers. "


@pytest.mark.parametrize(
    ("reply", "status", "body", "flags"),
    [
        (replies.rbac_denied(), 403, b"RBAC: access denied", "-"),
        (replies.fault_abort(503), 503, b"fault filter abort", "FI"),
        (replies.upstream_timeout(), 504, b"upstream request timeout", "UT"),
        (replies.no_healthy_upstream(), 503, b"no healthy upstream", "UH"),
        (replies.connect_failure(), 503, UPSTREAM + b"reset reason: connection failure", "UF"),
        (replies.connect_failure(retried=True), 503,
         UPSTREAM + b"retried and the latest reset reason: connection failure", "UF,URX"),
        (replies.overflow(), 503, UPSTREAM + b"reset reason: overflow", "UO"),
    ],
)
def test_text_replies(reply: LocalReply, status: int, body: bytes, flags: str) -> None:
    assert (reply.status, reply.body, reply.flags, reply.headers) == (status, body, flags, TEXT)


def test_rbac_body_is_19_bytes_and_names_the_policy() -> None:
    assert len(replies.rbac_denied().body) == 19
    assert replies.rbac_denied().details == "rbac_access_denied_matched_policy[none]"
    denied = replies.rbac_denied("ns[default]-policy[deny-x]-rule[0]")
    assert denied.details == "rbac_access_denied_matched_policy[ns[default]-policy[deny-x]-rule[0]]"


@pytest.mark.parametrize(
    ("reply", "status", "flags"), [(replies.no_route(), 404, "NR"), (replies.invalid_backend(), 500, "-")]
)
def test_empty_replies_have_no_content_type(reply: LocalReply, status: int, flags: str) -> None:
    assert (reply.status, reply.body, reply.flags, reply.headers) == (status, b"", flags, ())


def test_details() -> None:
    assert replies.no_route().details == "route_not_found"
    assert replies.fault_abort(500).details == "fault_filter_abort"
    assert replies.upstream_timeout().details == "response_timeout"
    assert replies.upstream_timeout(per_try=True).details == "upstream_per_try_timeout"
    assert replies.no_healthy_upstream().details == "no_healthy_upstream"


def test_grpc_abort_is_a_trailers_only_200() -> None:
    reply = replies.fault_abort(200, grpc_status=14)
    assert (reply.status, reply.body) == (200, b"")
    assert ("grpc-status", "14") in reply.headers and ("content-type", "application/grpc") in reply.headers


def test_flags_join_in_envoy_order() -> None:
    assert replies.with_flag(replies.fault_abort(503), "DI").flags == "DI,FI"
    assert replies.with_flag(replies.invalid_backend(), "DI").flags == "DI"
    assert replies.join_flags("URX", "UF") == "UF,URX"
    assert replies.join_flags("UT", "DI") == "UT,DI"


def test_redirect_and_direct_response() -> None:
    assert replies.redirect(301, "https://x/").headers == (("location", "https://x/"),)
    assert replies.direct_response(200, b"ok").headers == TEXT
    assert replies.direct_response(204, b"").headers == ()
