"""Envoy's local replies: what the proxy itself answers, byte for byte.

Clients and tests recognise a waypoint by these exact bodies, flags and
code details (``waypoint-l7.md`` §4.3), so they are constants here rather
than strings composed by the runtime.  A body always comes with
``content-type: text/plain``; an empty one with no content type, as Envoy
sends them.  ``flags`` is the access log's response-flags field (``-`` for
none); ``details`` its response-code-details field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .model import Headers

TEXT = (("content-type", "text/plain"),)
CONNECT_ERROR = "upstream connect error or disconnect/reset before headers. "
# the order in which Envoy writes response flags (its ALL_RESPONSE_STRINGS_FLAGS table)
FLAG_ORDER = ("LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC", "URX", "SI")


@dataclass(frozen=True)
class LocalReply:
    status: int
    body: bytes
    flags: str
    details: str
    headers: Headers = ()


def join_flags(flags: str, flag: str) -> str:
    """``flags`` ("-" for none) with ``flag`` added, in Envoy's order."""
    present = {f for f in flags.split(",") if f != "-"} | {flag}
    return ",".join(sorted(present, key=lambda f: FLAG_ORDER.index(f) if f in FLAG_ORDER else len(FLAG_ORDER)))


def with_flag(reply: LocalReply, flag: str) -> LocalReply:
    """``reply`` also flagged ``flag`` (``DI`` when a fault delay ran first)."""
    return replace(reply, flags=join_flags(reply.flags, flag))


def _text(status: int, body: str, flags: str, details: str) -> LocalReply:
    return LocalReply(status, body.encode(), flags, details, TEXT)


def rbac_denied(matched: str = "none") -> LocalReply:
    """403 from the RBAC filter; ``matched`` is ``none`` when no ALLOW policy
    matched, or ``ns[<ns>]-policy[<name>]-rule[<i>]`` for the DENY that did."""
    return _text(403, "RBAC: access denied", "-", f"rbac_access_denied_matched_policy[{matched}]")


def jwt_denied(status: str, uri: str) -> LocalReply:
    """Envoy's jwt_authn refusal: 401 with jwt_verify_lib's ``status`` text as
    the body (403 when only the audience is wrong), a ``www-authenticate``
    challenge naming the request's ``uri`` (``<proto>://<host><path>``), no
    response flag, and the reason in the details with its spaces as ``_``."""
    code = 403 if status == "Audiences in Jwt are not allowed" else 401
    challenge = (("www-authenticate", f'Bearer realm="{uri}", error="invalid_token"'),)
    details = "jwt_authn_access_denied{" + "_".join(status.split(" ")) + "}"
    return LocalReply(code, status.encode(), "-", details, TEXT + challenge)


def fault_abort(status: int, grpc_status: int | None = None) -> LocalReply:
    """The fault filter's abort, ``FI``.  A gRPC abort is a trailers-only
    200 carrying the status."""
    if grpc_status is not None:
        grpc = (("content-type", "application/grpc"), ("grpc-status", str(grpc_status)),
                ("grpc-message", "fault filter abort"))
        return LocalReply(200, b"", "FI", "fault_filter_abort", grpc)
    return _text(status, "fault filter abort", "FI", "fault_filter_abort")


def upstream_timeout(per_try: bool = False) -> LocalReply:
    """504 ``UT`` for the route timeout or, when retries are exhausted on
    them, a per-try timeout."""
    return _text(504, "upstream request timeout", "UT",
                 "upstream_per_try_timeout" if per_try else "response_timeout")


def no_route() -> LocalReply:
    """404 ``NR``, empty: routes are attached and none matched (GAMMA)."""
    return LocalReply(404, b"", "NR", "route_not_found")


def no_healthy_upstream() -> LocalReply:
    return _text(503, "no healthy upstream", "UH", "no_healthy_upstream")


def connect_failure(retried: bool = False) -> LocalReply:
    """503 ``UF``; after retries Envoy says so and adds ``URX``.  Newer
    Envoys append ``, transport failure reason: ...``; dpctl has no TLS
    failure reason to report and leaves it out."""
    if retried:
        return _text(503, CONNECT_ERROR + "retried and the latest reset reason: connection failure", "UF,URX",
                     "upstream_reset_before_response_started{connection_failure}")
    return _text(503, CONNECT_ERROR + "reset reason: connection failure", "UF",
                 "upstream_reset_before_response_started{connection_failure}")


def overflow() -> LocalReply:
    """503 ``UO``: a connection-pool circuit breaker tripped.  The body is
    **unconfirmed** (no primary source found): Envoy reports a pool overflow
    through the same reset path as a connect failure, with reset reason
    ``overflow``, which is what this text assumes."""
    return _text(503, CONNECT_ERROR + "reset reason: overflow", "UO",
                 "upstream_reset_before_response_started{overflow}")


def invalid_backend() -> LocalReply:
    """500, empty: every backend weight is 0, or the chosen backend does not
    exist (Gateway API requires 500 for that share; Istio writes a direct
    response, hence the details)."""
    return LocalReply(500, b"", "-", "direct_response")


def redirect(status: int, location: str) -> LocalReply:
    return LocalReply(status, b"", "-", "direct_response", (("location", location),))


def direct_response(status: int, body: bytes) -> LocalReply:
    return LocalReply(status, body, "-", "direct_response", TEXT if body else ())
