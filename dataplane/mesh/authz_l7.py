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
#1's certificate and the client pod's address.  ``to.operation`` adds hosts,
methods and paths (Istio's ``*`` prefix/suffix forms and the ``{*}`` /
``{**}`` path templates) to ports; ``when`` adds ``request.headers[...]``.
JWT fields (``requestPrincipals``, ``request.auth.*``) are not emulated: an
ALLOW rule using them never matches, a DENY rule is evaluated without them.
A denial is Envoy's 403 ``RBAC: access denied`` with the matched policy in the
response-code details.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from dataplane.mesh import authz
from dataplane.topology.plan import AuthorizationPolicy, HttpOperation, Plan, PolicyCondition, PolicyRule, Waypoint

GATEWAY_GROUP = "gateway.networking.k8s.io"
WAYPOINT_CLASS = "istio-waypoint"
_JWT_FIELDS = ("from.source.requestPrincipals", "from.source.notRequestPrincipals")


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


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    matched: str  # Envoy's code details: "none", or "ns[<ns>]-policy[<name>]-rule[<i>]"
    policy: str | None = None


def applies(plan: Plan, policy: AuthorizationPolicy, waypoint: Waypoint, service: tuple[str, str] | None) -> bool:
    """Whether ``policy`` is this waypoint's to enforce for a request to ``service`` (namespace, name)."""
    for target in policy.target_refs:
        if target.kind == "Service" and target.group == "" and service == (policy.namespace, target.name):
            return True
        if (target.kind, target.group) == ("Gateway", GATEWAY_GROUP) and (policy.namespace, target.name) == (
            waypoint.namespace, waypoint.name,
        ):
            return True
        if (target.kind, target.group, target.name) == ("GatewayClass", GATEWAY_GROUP, WAYPOINT_CLASS) and (
            policy.namespace == plan.mesh_root_namespace
        ):
            return True
    return False


def custom_policy(
    plan: Plan, waypoint: Waypoint, service: tuple[str, str] | None, request: HttpRequest
) -> AuthorizationPolicy | None:
    """The CUSTOM policy whose provider must be asked about ``request``: its rules
    only select requests (read as an ALLOW's would be); the first in the plan wins,
    as istiod allows one provider per workload."""
    for policy in plan.authorization_policies:
        if policy.action == "CUSTOM" and applies(plan, policy, waypoint, service):
            if any(_rule_matches(rule, "ALLOW", request) for rule in policy.rules):
                return policy
    return None


def evaluate(plan: Plan, waypoint: Waypoint, service: tuple[str, str] | None, request: HttpRequest) -> Verdict:
    policies = [p for p in plan.authorization_policies if applies(plan, p, waypoint, service)]
    for policy in policies:
        if policy.action == "DENY":
            for i, rule in enumerate(policy.rules):
                if _rule_matches(rule, "DENY", request):
                    return Verdict(False, f"ns[{policy.namespace}]-policy[{policy.name}]-rule[{i}]", policy.key)
    allows = [p for p in policies if p.action == "ALLOW"]
    if not allows:
        return Verdict(True, "none")
    for policy in allows:
        if any(_rule_matches(rule, "ALLOW", request) for rule in policy.rules):
            return Verdict(True, "", policy.key)
    return Verdict(False, "none")


def _rule_matches(rule: PolicyRule, action: str, request: HttpRequest) -> bool:
    jwt = any(f in _JWT_FIELDS for f in rule.l7_fields)
    jwt = jwt or any(c.key.startswith("request.auth.") for c in rule.http_conditions)
    if action == "ALLOW" and jwt:
        return False
    connection = authz.Connection(request.source_ip, request.principal, "", request.port)
    sources_ok = not rule.sources or any(authz.source_matches(s, connection) for s in rule.sources)
    operations_ok = not rule.http_operations or any(_operation_matches(o, request) for o in rule.http_operations)
    return sources_ok and operations_ok and all(_condition_matches(c, request) for c in rule.http_conditions)


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
        return True  # JWT claims are not emulated (see the module's docstring); DENY evaluates without them
    else:
        connection = authz.Connection(request.source_ip, request.principal, "", request.port)
        return authz.condition_matches(condition, connection)
    return authz.field(condition.values, condition.not_values, test)


def path_matches(pattern: str, path: str) -> bool:
    """Istio's path match: exact, ``*`` prefix/suffix/presence, or a ``{*}``/``{**}`` template."""
    if "{*}" in pattern or "{**}" in pattern:
        parts = re.split(r"(\{\*\*\}|\{\*\})", pattern)
        regex = "".join("[^/]+" if p == "{*}" else ".+" if p == "{**}" else re.escape(p) for p in parts)
        return re.fullmatch(regex, path) is not None
    return authz.string_match(pattern, path)
