"""The l7 check's policy trials: for each ALLOW or DENY AuthorizationPolicy a
waypoint enforces, one request it lets through and one it refuses.

Requests are made up from the policy's own rules -- the methods, paths
(Istio's ``*`` and ``{*}``/``{**}`` forms filled in) and ``request.headers``
conditions it names, plus plain ones -- and sent from each ambient client in
turn (sources differ by identity), and judged by ``authz_l7.evaluate``, the
code the waypoint runs.  The refused request is one this policy refuses: a
DENY rule it matches, or, for an ALLOW policy, no ALLOW matching.  The let
through one passes every policy on the Service, so the answer must be
anything but ``RBAC: access denied``.  Requests a CUSTOM policy would send to
an external authorizer are never chosen.  A policy that names Services is
tried on each of them; one on a whole waypoint on its first Service.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from dataplane.l7.routing.model import Request
from dataplane.mesh import authz_l7
from dataplane.topology.plan import AuthorizationPolicy, Plan, Pod, Service, ServicePort, Waypoint
from dataplane.verify import binomial
from dataplane.verify.l7requests import FILLER
from dataplane.verify.l7trial import DENIED, PASSED, POLICY, Trial, Unchecked, clients, verdict

HEADER_KEY = "request.headers["


def path_example(pattern: str) -> str:
    """A path Istio's ``pattern`` matches: exact, ``*`` prefix/suffix/presence, or a template."""
    if "{*}" in pattern or "{**}" in pattern:
        return pattern.replace("{**}", f"{FILLER}/{FILLER}").replace("{*}", FILLER)
    if pattern == "*":
        return "/"
    if pattern.endswith("*"):
        return pattern[:-1] or "/"
    if pattern.startswith("*"):
        return f"/{FILLER}{pattern[1:]}"
    return pattern


def value_example(pattern: str) -> str:
    """A header value Istio's string ``pattern`` matches."""
    if pattern == "*":
        return FILLER
    return pattern[:-1] if pattern.endswith("*") else FILLER + pattern[1:] if pattern.startswith("*") else pattern


def _options(policy: AuthorizationPolicy) -> tuple[list[str], list[str], list[tuple[tuple[str, str], ...]]]:
    """(methods, paths, header sets) worth trying against ``policy``, the plainest first."""
    operations = [o for rule in policy.rules for o in rule.http_operations]
    methods = ["GET", *(m for o in operations for m in (*o.methods, *o.not_methods) if "*" not in m), "DELETE", "POST"]
    paths = ["/", *(path_example(p) for o in operations for p in (*o.paths, *o.not_paths))]
    headers: list[tuple[tuple[str, str], ...]] = [()]
    for condition in (c for rule in policy.rules for c in rule.http_conditions):
        if condition.key.startswith(HEADER_KEY) and condition.key.endswith("]"):
            name = condition.key[len(HEADER_KEY):-1].lower()
            headers += [((name, value_example(v)),) for v in (*condition.values, *condition.not_values)]
    return list(dict.fromkeys(methods)), list(dict.fromkeys(paths)), list(dict.fromkeys(headers))


def _requests(plan: Plan, policy: AuthorizationPolicy, service: Service, port: int) -> Iterator[tuple[Pod, Request]]:
    methods, paths, headers = _options(policy)
    authority = f"{service.name}.{service.namespace}:{port}"
    for client, method, path, sent in itertools.product(clients(plan, service), methods, paths, headers):
        yield client, Request(method, path, authority, headers=sent)


def _decided(policy: AuthorizationPolicy, found: authz_l7.Verdict, allowed: bool) -> bool:
    """Whether ``found`` is the outcome wanted, decided by (or, for an ALLOW's refusal, for lack of) ``policy``."""
    if found.allowed != allowed:
        return False
    if allowed:
        return policy.action == "DENY" or found.policy == policy.key
    return found.policy == policy.key if policy.action == "DENY" else found.matched == "none"


def decision_trials(
    plan: Plan, policy: AuthorizationPolicy, waypoint: Waypoint, service: Service, port: int
) -> list[Trial | Unchecked]:
    """The let-through and the refused trial of ``policy`` on ``service``:``port``."""
    chosen: dict[bool, tuple[Pod, Request]] = {}
    for client, request in _requests(plan, policy, service, port):
        found = verdict(plan, waypoint, service, client, request, port)
        if found is None:
            continue
        for allowed in (True, False):
            if allowed not in chosen and _decided(policy, found, allowed):
                chosen[allowed] = (client, request)
        if len(chosen) == 2:
            break
    where = f"AuthorizationPolicy {policy.key} ({policy.action}) at waypoint {waypoint.key} for {service.key}:{port}"
    out: list[Trial | Unchecked] = []
    for allowed in (True, False):
        word = "allowed" if allowed else "denied"
        if allowed not in chosen:
            out.append(Unchecked(f"{where}: {word}", f"not checkable: no request made up from its rules is {word} by it"))
            continue
        client, request = chosen[allowed]
        summary = f"{request.method} {request.path}" + "".join(f" {k}: {v}" for k, v in request.headers)
        out.append(Trial(
            POLICY, f"{where}: {summary} from {client.key} {word}", client.key, client.netns,
            service.cluster_ip or "", port, request, ((PASSED if allowed else DENIED, 1.0),), binomial.CERTAIN,
        ))
    return out


def policy_trials(
    plan: Plan, bound: list[tuple[Service, Waypoint]], ports: Callable[[Service], list[ServicePort]]
) -> list[Trial | Unchecked]:
    """Trials of every ALLOW/DENY policy with ``targetRefs`` on the ``bound`` Services with HTTP ``ports``."""
    out: list[Trial | Unchecked] = []
    enforcing = list({w.key: w for _, w in bound}.values())
    for policy in plan.authorization_policies:
        if policy.action not in ("ALLOW", "DENY") or not policy.target_refs:
            continue
        for waypoint in enforcing:
            served = [
                s for s, w in bound
                if w == waypoint and ports(s) and authz_l7.applies(plan, policy, waypoint, (s.namespace, s.name))
            ]
            if not any(t.kind == "Service" for t in policy.target_refs):
                served = served[:1]
            for service in served:
                out += decision_trials(plan, policy, waypoint, service, ports(service)[0].port)
    return out
