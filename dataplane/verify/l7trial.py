"""What the l7 check sends and what it expects back, and who sends it.

A ``Trial`` is one route rule or one policy decision: the same request sent
``requests`` times from one client pod to a Service's VIP, and the share of
each outcome the plan implies.  Outcomes are labels both sides compute the
same way: the backend that answered (named from the pods behind it) or the
waypoint's own reply (``reply_label``), so a count and its expectation can
be compared by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataplane.l7.routing import replies
from dataplane.l7.routing.model import Request
from dataplane.mesh import authz_l7
from dataplane.mesh.enrollment import is_enrolled
from dataplane.mesh.identity import pod_identity
from dataplane.mesh.waypoints import is_waypoint_pod
from dataplane.topology.plan import Plan, Pod, Service, Waypoint

ROUTE, POLICY = "route", "policy"


def reply_label(status: int, body: bytes, location: str | None = None) -> str:
    """A proxy's answer as an outcome: status, then the redirect target or the body's start."""
    text = body[:60].decode("utf-8", "replace")
    return f"{status} -> {location}" if location else f"{status} {text!r}" if text else f"{status} (empty)"


def local_label(reply: replies.LocalReply) -> str:
    return reply_label(reply.status, reply.body, dict(reply.headers).get("location"))


DENIED = local_label(replies.rbac_denied())
PASSED = "not RBAC-denied"


@dataclass(frozen=True)
class Trial:
    """One rule or decision to test: ``expected`` maps outcome labels to their share
    (summing to 1); ``pods`` maps a backend pod (``ns/name``) to its outcome label."""

    kind: str  # ROUTE | POLICY
    subject: str
    client: str  # ns/pod
    client_netns: str
    ip: str
    port: int
    request: Request
    expected: tuple[tuple[str, float], ...]
    requests: int
    pods: tuple[tuple[str, str], ...] = ()
    note: str = ""

    def describe(self) -> str:
        """The request as a person would retype it."""
        headers = "".join(f" -H '{k}: {v}'" for k, v in self.request.headers)
        return f"{self.request.method} {self.request.path}{headers} (Host {self.request.authority}) from {self.client}"


@dataclass(frozen=True)
class Unchecked:
    """A rule or policy no request could be planned for, and why."""

    subject: str
    reason: str


def clients(plan: Plan, service: Service, backends: frozenset[str] = frozenset()) -> list[Pod]:
    """Pods whose requests reach ``service`` through its waypoint (ambient, ready,
    not a waypoint), the plainest first: not one of ``backends`` (``ns/name``),
    then the Service's namespace, then by name."""
    found = [
        p for p in plan.pods
        if is_enrolled(plan, p) and not is_waypoint_pod(p) and p.ready and not p.terminating
    ]
    return sorted(found, key=lambda p: (p.key in backends, p.namespace != service.namespace, p.namespace, p.name))


def attributes(plan: Plan, client: Pod, request: Request, port: int) -> authz_l7.HttpRequest:
    """What the waypoint's RBAC filter reads of ``request`` from ``client``."""
    principal = pod_identity(plan, client).principal
    path = request.path.split("?", 1)[0]
    return authz_l7.HttpRequest(request.method, path, request.authority, port, request.headers, client.ip, principal)


def verdict(
    plan: Plan, waypoint: Waypoint, service: Service, client: Pod, request: Request, port: int
) -> authz_l7.Verdict | None:
    """The waypoint's ALLOW/DENY verdict on ``request``; None when a CUSTOM
    policy would ask an external authorizer (whose answer the plan cannot say)."""
    called = (service.namespace, service.name)
    asked = attributes(plan, client, request, port)
    if authz_l7.custom_policy(plan, waypoint, called, asked) is not None:
        return None
    return authz_l7.evaluate(plan, waypoint, called, asked)
