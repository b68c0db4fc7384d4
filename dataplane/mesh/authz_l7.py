"""L7 authorization as a waypoint decides it, per request (``waypoint-l7.md`` §4).

Waypoints enforce the policies that name them with ``targetRefs`` (and only
those; ``selector`` policies are the ztunnel's): a Service in the policy's
namespace (requests to that Service), the waypoint's own Gateway (all its
traffic), or GatewayClass ``istio-waypoint`` from the root namespace (every
waypoint).  Order: any matching DENY denies, with no ALLOW the request passes,
else some ALLOW must match.  Before all of them, a matching CUSTOM policy
(``custom_policy``) sends the request to its external authorizer, whose
denial stops it (the waypoint asks; ``l7.routing.extauthz`` decides what the
answer means).  Sources are the *client*: the identity of HBONE
#1's certificate and the client pod's address, and the request principal
(``<iss>/<sub>``) and claims of a JWT a RequestAuthentication on the same
target verified (``jwt_rules``; no token: no principal, so ``requestPrincipals``
fails and ``notRequestPrincipals`` holds).  ``to.operation`` adds hosts,
methods and paths (Istio's ``*`` prefix/suffix forms and the ``{*}`` /
``{**}`` path templates) to ports; ``when`` adds ``request.headers[...]``
and ``request.auth.{principal,audiences,presenter}`` and
``request.auth.claims[<c>]`` (nested: ``[<c>][<inner>]``; a list claim
matches when one of its strings does, a claim of another type never).
A denial is Envoy's 403 ``RBAC: access denied`` with the matched policy in the
response-code details.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from dataplane.l7.routing import requestauthn
from dataplane.mesh import authz
from dataplane.topology.plan import (
    AuthorizationPolicy,
    HttpOperation,
    Plan,
    PolicyCondition,
    PolicyRule,
    PolicySource,
    PolicyTarget,
    Waypoint,
)

GATEWAY_GROUP = "gateway.networking.k8s.io"
WAYPOINT_CLASS = "istio-waypoint"
_CLAIMS = "request.auth.claims"


@dataclass(frozen=True)
class HttpRequest:
    """What a waypoint's RBAC filter reads of a request."""

    method: str
    path: str  # without the query
    host: str  # the authority as sent
    port: int  # the port the client called (the Service port)
    headers: tuple[tuple[str, str], ...]
    source_ip: str
    principal: str | None  # the client's SPIFFE id, from HBONE #1
    jwt: requestauthn.Identity | None = None  # the verified token's principal and claims


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    matched: str  # Envoy's code details: "none", or "ns[<ns>]-policy[<name>]-rule[<i>]"
    policy: str | None = None


def applies(plan: Plan, policy: AuthorizationPolicy, waypoint: Waypoint, service: tuple[str, str] | None) -> bool:
    """Whether ``policy`` is this waypoint's to enforce for a request to ``service`` (namespace, name)."""
    return _targeted(plan, policy.namespace, policy.target_refs, waypoint, service)


def _targeted(
    plan: Plan, namespace: str, targets: tuple[PolicyTarget, ...], waypoint: Waypoint, service: tuple[str, str] | None
) -> bool:
    for target in targets:
        if target.kind == "Service" and target.group == "" and service == (namespace, target.name):
            return True
        if (target.kind, target.group) == ("Gateway", GATEWAY_GROUP) and (namespace, target.name) == (
            waypoint.namespace, waypoint.name,
        ):
            return True
        if (target.kind, target.group, target.name) == ("GatewayClass", GATEWAY_GROUP, WAYPOINT_CLASS) and (
            namespace == plan.mesh_root_namespace
        ):
            return True
    return False


def jwt_rules(plan: Plan, waypoint: Waypoint, service: tuple[str, str] | None) -> tuple[requestauthn.JwtRule, ...]:
    """The JWT rules of every RequestAuthentication this waypoint applies to a
    request to ``service``, in plan order (the topology reported their problems)."""
    rules: list[requestauthn.JwtRule] = []
    for found in plan.request_authentications:
        if _targeted(plan, found.namespace, found.target_refs, waypoint, service):
            rules.extend(requestauthn.translate(found.spec, lambda *_: None, lambda *_: None))
    return tuple(rules)


def custom_policy(
    plan: Plan, waypoint: Waypoint, service: tuple[str, str] | None, request: HttpRequest
) -> AuthorizationPolicy | None:
    """The CUSTOM policy whose provider must be asked about ``request``: its rules
    only select requests (read as an ALLOW's would be); the first in the plan wins,
    as istiod allows one provider per workload."""
    for policy in plan.authorization_policies:
        if policy.action == "CUSTOM" and applies(plan, policy, waypoint, service):
            if any(_rule_matches(rule, request) for rule in policy.rules):
                return policy
    return None


def evaluate(plan: Plan, waypoint: Waypoint, service: tuple[str, str] | None, request: HttpRequest) -> Verdict:
    policies = [p for p in plan.authorization_policies if applies(plan, p, waypoint, service)]
    for policy in policies:
        if policy.action == "DENY":
            for i, rule in enumerate(policy.rules):
                if _rule_matches(rule, request):
                    return Verdict(False, f"ns[{policy.namespace}]-policy[{policy.name}]-rule[{i}]", policy.key)
    allows = [p for p in policies if p.action == "ALLOW"]
    if not allows:
        return Verdict(True, "none")
    for policy in allows:
        if any(_rule_matches(rule, request) for rule in policy.rules):
            return Verdict(True, "", policy.key)
    return Verdict(False, "none")


def _rule_matches(rule: PolicyRule, request: HttpRequest) -> bool:
    sources_ok = not rule.http_sources or any(_source_matches(s, request) for s in rule.http_sources)
    operations_ok = not rule.http_operations or any(_operation_matches(o, request) for o in rule.http_operations)
    return sources_ok and operations_ok and all(_condition_matches(c, request) for c in rule.http_conditions)


def _source_matches(source: PolicySource, request: HttpRequest) -> bool:
    connection = authz.Connection(request.source_ip, request.principal, "", request.port)
    principal = request.jwt.principal if request.jwt else None
    return authz.source_matches(source, connection) and authz.field(
        source.request_principals, source.not_request_principals, lambda p: authz.string_match(p, principal)
    )


def _operation_matches(operation: HttpOperation, request: HttpRequest) -> bool:
    host = request.host.lower()
    bare = host.rsplit(":", 1)[0] if ":" in host else host
    return (
        authz.field(operation.hosts, operation.not_hosts,
                    lambda h: authz.string_match(h.lower(), host) or authz.string_match(h.lower(), bare))
        and authz.field(operation.methods, operation.not_methods, lambda m: m == request.method)
        and authz.field(operation.paths, operation.not_paths, lambda p: path_matches(p, request.path))
        and authz.field(operation.ports, operation.not_ports, lambda p: p == request.port)
    )


def _condition_matches(condition: PolicyCondition, request: HttpRequest) -> bool:
    key = condition.key
    test: Callable[[str], bool]
    if key.startswith("request.headers[") and key.endswith("]"):
        name = key[len("request.headers["):-1].lower()
        value = ",".join(v for k, v in request.headers if k == name) or None
        test = lambda v: authz.string_match(v, value)  # noqa: E731
    elif key.startswith("request.auth."):
        found = _auth_attribute(key, request.jwt)
        test = lambda v: any(authz.string_match(v, f) for f in found)  # noqa: E731
    else:
        connection = authz.Connection(request.source_ip, request.principal, "", request.port)
        return authz.condition_matches(condition, connection)
    return authz.field(condition.values, condition.not_values, test)


def _auth_attribute(key: str, jwt: requestauthn.Identity | None) -> tuple[str, ...]:
    """The strings ``key`` (``request.auth.*``) names for the request's token;
    none without a token, or for a claim that is absent or not strings."""
    if jwt is None:
        return ()
    if key == "request.auth.principal":
        return (jwt.principal,)
    value: object
    if key == "request.auth.audiences":
        value = jwt.claims.get("aud")
    elif key == "request.auth.presenter":
        value = jwt.claims.get("azp")
    elif key.startswith(f"{_CLAIMS}[") and key.endswith("]"):
        value = jwt.claims
        for name in key[len(_CLAIMS) + 1:-1].split("]["):
            value = value.get(name) if isinstance(value, dict) else None
    else:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def path_matches(pattern: str, path: str) -> bool:
    """Istio's path match: exact, ``*`` prefix/suffix/presence, or a ``{*}``/``{**}`` template."""
    if "{*}" in pattern or "{**}" in pattern:
        parts = re.split(r"(\{\*\*\}|\{\*\})", pattern)
        regex = "".join("[^/]+" if p == "{*}" else ".+" if p == "{**}" else re.escape(p) for p in parts)
        return re.fullmatch(regex, path) is not None
    return authz.string_match(pattern, path)
