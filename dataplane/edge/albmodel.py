"""The values an Ingress group becomes: one Application Load Balancer.

They mirror what the LBC asks ELBv2 for (``pkg/ingress/model_build_*.go``):
a listener per listen port, its rules in priority order, a default action,
and a target group per Service port an Ingress routes to.  Every value is a
frozen dataclass of plain fields so that a Plan can store ALBs and read back
identical objects, as it does with ``dataplane.l7.routing.model``.

Durations are float seconds.  Host patterns are lower case (the host-header
condition is case-insensitive); path patterns keep their case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# (where, message), where being "Ingress <namespace>/<name>: <field path>"; the
# same shape as dataplane.l7.routing's Report, not imported so that the two
# packages stay independent (one layer, "|", in pyproject's contracts).
Report = Callable[[str, str], None]

DEFAULT_SSL_POLICY = "ELBSecurityPolicy-2016-08"  # the LBC's --default-ssl-policy
DEFAULT_DEREGISTRATION_DELAY = 300.0  # AWS's deregistration_delay.timeout_seconds
TRAFFIC_PORT = "traffic-port"


@dataclass(frozen=True)
class HealthCheck:
    """A target group's health check with the defaults the LBC sends (not
    AWS's own 30/5/5/2).  ``port`` is ``traffic-port``, a number, or a
    Service port name still to resolve; ``success_codes`` are inclusive
    ranges (``200,201`` is ((200, 200), (201, 201)), ``200-299`` one range)."""

    path: str = "/"
    port: int | str = TRAFFIC_PORT
    protocol: str = "HTTP"
    interval: float = 15.0
    timeout: float = 5.0
    healthy_threshold: int = 2
    unhealthy_threshold: int = 2
    success_codes: tuple[tuple[int, int], ...] = ((200, 200),)

    def accepts(self, status: int) -> bool:
        """Whether a check answered with ``status`` passes."""
        return any(low <= status <= high for low, high in self.success_codes)


@dataclass(frozen=True)
class TargetGroup:
    """One Service port behind the ALB.  ``port`` is the Ingress backend's
    service port, a number or a port name; ``target_type`` ``ip`` sends to
    pod IPs, ``instance`` to every node's NodePort.  ``protocol`` is the
    backend protocol (``HTTPS`` re-encrypts, not validating the target's
    certificate); ``attributes`` keeps every target-group attribute as
    written, sorted by key, for the ones not modelled as fields."""

    namespace: str
    service: str
    port: int | str
    target_type: str = "instance"
    health: HealthCheck = HealthCheck()
    deregistration_delay: float = DEFAULT_DEREGISTRATION_DELAY
    protocol: str = "HTTP"
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Forward:
    """To one target group, or -- ``weights`` set, the first of them being
    ``target_group`` -- to several, each request drawn by weight (ELBv2's
    weighted forward action, what an HTTPRoute's backendRefs become)."""

    target_group: TargetGroup
    weights: tuple[tuple[TargetGroup, int], ...] = ()

    def groups(self) -> tuple[tuple[TargetGroup, int], ...]:
        return self.weights or ((self.target_group, 1),)


@dataclass(frozen=True)
class Redirect:
    """The ``ssl-redirect`` answer: same host, path and query, another
    protocol and port (ELBv2 keeps ``#{host}``, ``#{path}``, ``#{query}``)."""

    protocol: str = "HTTPS"
    port: str = "443"
    status: int = 301


@dataclass(frozen=True)
class FixedResponse:
    """The ALB answers itself; the LBC's listener default is this 404."""

    status: int = 404
    content_type: str = "text/plain"
    body: str = ""


Action = Forward | Redirect | FixedResponse


@dataclass(frozen=True)
class Condition:
    """An ELBv2 rule condition beyond host and path: ``http-header`` (``name``
    the header, ``values`` wildcard patterns, case-insensitive),
    ``query-string`` (``name`` the key, ``values`` patterns of its value) or
    ``http-request-method`` (``values`` the methods, case-sensitive)."""

    field: str
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """A listener rule: it matches when the host matches one of ``hosts``
    (empty: any host), the path one of ``paths`` (empty: any path) and every
    one of ``conditions`` holds.  ``source`` names the Ingress path (or the
    route) it came from, for errors and traces, e.g. ``shop/web rule[0] path[1]``."""

    hosts: tuple[str, ...]
    paths: tuple[str, ...]
    action: Action
    source: str
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Listener:
    """One listen port.  ``rules`` are in priority order (the first match
    wins, else ``default``).  ``certificates``: explicit ARNs, the first the
    default; ``discover``: the host names whose certificates ACM discovery
    must add (Ingresses on this port that name no ARN).  ``ssl_policy`` is
    empty on HTTP listeners."""

    protocol: str
    port: int
    rules: tuple[Rule, ...]
    default: Action
    certificates: tuple[str, ...] = ()
    ssl_policy: str = ""
    discover: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alb:
    """One IngressGroup's load balancer, or an AWS Gateway's.  ``name`` is the
    group name, ``<namespace>/<ingress>`` for an Ingress in no group, or
    ``gateway:<namespace>/<name>``; ``ingresses`` are ``namespace/name`` in
    group order (none for a Gateway); ``hostnames`` every host the rules and
    ``tls`` name (for certificates and DNS), in first-seen order;
    ``attributes`` the load-balancer attributes, sorted by key."""

    name: str
    ingresses: tuple[str, ...]
    scheme: str
    listeners: tuple[Listener, ...]
    hostnames: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()

    def target_groups(self) -> tuple[TargetGroup, ...]:
        """Every target group a rule or default forwards to, in listener
        and rule order, each once (health checks run once per group)."""
        found: dict[TargetGroup, None] = {}
        for listener in self.listeners:
            for action in (*(rule.action for rule in listener.rules), listener.default):
                if isinstance(action, Forward):
                    for group, _weight in action.groups():
                        found.setdefault(group)
        return tuple(found)

    def target_types(self) -> tuple[str, ...]:
        """The target types in use, sorted: what the data path must wire
        (``ip``: ALB to pod; ``instance``: ALB to every node's NodePort)."""
        return tuple(sorted({group.target_type for group in self.target_groups()}))
