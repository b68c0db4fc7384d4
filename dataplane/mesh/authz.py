"""L4 authorization as the destination's ztunnel decides it (``zt:src/rbac.rs``).

Only the destination's ztunnel checks policies, on every new inbound
connection, from what it knows at L4: the peer's address, the SPIFFE
identity in its certificate (none for plaintext captured on 15006) and the
pod address and *target* port the client asked for.

Order (``assert_rbac``): any matching DENY denies; with no ALLOW policy the
connection is allowed; otherwise some ALLOW must match.

Matching, per the reference (``ztunnel.md`` §3):

* a policy with zero rules never matches (``spec: {}`` ALLOW = deny all);
  a rule with no from/to/when matches every connection;
* ``from`` sources are ORed, ``to`` operations are ORed, the from clause, the
  to clause and every ``when`` are ANDed; inside one source or operation
  every field set must hold, each as "any of the values, none of the not-values";
* HTTP attributes (``PolicyRule.l7_fields``): an ALLOW rule using any never
  matches.  A DENY rule is evaluated without them, so it denies more than
  written: a from or to entry left with no L4 field is skipped (a clause
  left with no entry at all is dropped), and a rule left with nothing L4 is
  a no-op rather than a deny-all;
* identities: ``principals``, ``namespaces`` and ``source.principal`` /
  ``source.namespace`` are read from the SPIFFE id.  Without one (plaintext)
  the positive lists fail, and the negative lists hold, because an absent
  identity is in no list — which is why PeerAuthentication STRICT becomes
  ``DENY notPrincipals: ["*"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import TypeVar

from dataplane.topology.plan import (
    AuthorizationPolicy,
    Plan,
    Pod,
    PolicyCondition,
    PolicyOperation,
    PolicyRule,
    PolicySource,
)

SPIFFE_SCHEME = "spiffe://"

T = TypeVar("T")


@dataclass(frozen=True)
class Connection:
    """What ztunnel knows of a new inbound connection."""

    src_ip: str  # the TCP peer: the source pod (or a gateway in front of it)
    src_identity: str | None  # SPIFFE id without the scheme, e.g. "cluster.local/ns/a/sa/b"; None for plaintext
    dst_ip: str  # the destination pod
    dst_port: int  # the resolved target port, not 15008 and not the Service port


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: str | None  # "ns/name" of the policy that decided, if one did
    reason: str


def scope(policy: AuthorizationPolicy, plan: Plan) -> str:
    """istiod's scope names: ``Global``, ``Namespace`` or ``WorkloadSelector``."""
    if policy.selector is not None:
        return "WorkloadSelector"
    return "Global" if policy.namespace == plan.mesh_root_namespace else "Namespace"


def policies_for(plan: Plan, pod: Pod) -> tuple[AuthorizationPolicy, ...]:
    """The policies ztunnel checks for connections to ``pod``, in plan order
    (``targetRefs`` policies are waypoints', which ztunnel ignores)."""
    return tuple(p for p in plan.authorization_policies if not p.target_refs and _applies(p, plan, pod))


def _applies(policy: AuthorizationPolicy, plan: Plan, pod: Pod) -> bool:
    if policy.selector is None:
        return policy.namespace in (pod.namespace, plan.mesh_root_namespace)
    return policy.namespace == pod.namespace and policy.selector.items() <= pod.labels.items()


def evaluate(plan: Plan, dst_pod: Pod, conn: Connection) -> Decision:
    """Allow or deny ``conn`` to ``dst_pod``, and which policy said so."""
    policies = policies_for(plan, dst_pod)
    for policy in policies:
        if policy.action == "DENY" and _matches(policy, conn):
            return Decision(False, policy.key, f"explicitly denied by: {policy.key}")
    allows = [p for p in policies if p.action == "ALLOW"]
    if not allows:
        return Decision(True, None, "no allow policies")
    for policy in allows:
        if _matches(policy, conn):
            return Decision(True, policy.key, f"allowed by {policy.key}")
    return Decision(False, None, "allow policies exist, but none allowed")


def _matches(policy: AuthorizationPolicy, conn: Connection) -> bool:
    return any(_rule_matches(rule, policy.action, conn) for rule in policy.rules)


def _rule_matches(rule: PolicyRule, action: str, conn: Connection) -> bool:
    if rule.l7_fields and (action == "ALLOW" or not (rule.sources or rule.operations or rule.conditions)):
        return False
    return (
        (not rule.sources or any(source_matches(s, conn) for s in rule.sources))
        and (not rule.operations or any(_operation_matches(o, conn) for o in rule.operations))
        and all(condition_matches(c, conn) for c in rule.conditions)
    )


def source_matches(source: PolicySource, conn: Connection) -> bool:
    principal, namespace = _principal(conn), _namespace(conn)
    return (
        field(source.principals, source.not_principals, lambda p: string_match(_strip(p), principal))
        and field(source.namespaces, source.not_namespaces, lambda n: string_match(n, namespace))
        and field(source.ip_blocks, source.not_ip_blocks, lambda b: _in_block(conn.src_ip, b))
    )


def _operation_matches(operation: PolicyOperation, conn: Connection) -> bool:
    return field(operation.ports, operation.not_ports, lambda p: p == conn.dst_port)


def condition_matches(condition: PolicyCondition, conn: Connection) -> bool:
    test: Callable[[str], bool] = {
        "source.ip": lambda v: _in_block(conn.src_ip, v),
        "source.namespace": lambda v: string_match(v, _namespace(conn)),
        "source.principal": lambda v: string_match(_strip(v), _principal(conn)),
        "destination.ip": lambda v: _in_block(conn.dst_ip, v),
        "destination.port": lambda v: int(v) == conn.dst_port,
    }[condition.key]
    return field(condition.values, condition.not_values, test)


def field(values: tuple[T, ...], not_values: tuple[T, ...], test: Callable[[T], bool]) -> bool:
    """A field holds when some value matches (if any are given) and no not-value does."""
    return (not values or any(map(test, values))) and not any(map(test, not_values))


def string_match(pattern: str, value: str | None) -> bool:
    """Istio's string match: ``*`` = present, ``x*`` prefix, ``*x`` suffix, else exact.
    An absent value (no identity) matches no pattern."""
    if value is None:
        return False
    if pattern == "*":
        return value != ""
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def _strip(principal: str) -> str:
    return principal.removeprefix(SPIFFE_SCHEME)


def _principal(conn: Connection) -> str | None:
    return None if conn.src_identity is None else _strip(conn.src_identity)


def _namespace(conn: Connection) -> str | None:
    """``ns`` of ``<trust domain>/ns/<ns>/sa/<sa>``; None without a (well-formed) identity."""
    parts = (_principal(conn) or "").split("/")
    return parts[2] if len(parts) == 5 and parts[1] == "ns" and parts[3] == "sa" else None


def _in_block(address: str, block: str) -> bool:
    return IPv4Address(address) in IPv4Network(block)
