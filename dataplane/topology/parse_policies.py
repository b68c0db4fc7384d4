"""AuthorizationPolicy documents → the policies ztunnel enforces.

This step plays istiod's part (``pilot/.../ambient/authorization.go``): it
keeps what a node's ztunnel is given and says what is lost on the way.
ztunnel sees only TCP connections, so HTTP attributes (methods, paths,
request principals, ...) are recorded in ``PolicyRule.l7_fields`` and reported
as a Plan warning with istiod's wording; ``dataplane.mesh.authz`` decides what
they mean for ALLOW and DENY.  Policies with ``targetRefs`` are waypoint
policies: istiod never sends them to ztunnel, so they are left out with a
warning.  The API server's own validation (empty ``from``/``source``, a
``when`` with no values, bad ports and addresses) is a Problem, as
``kubectl apply`` would refuse the object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .model import Manifest, ObjectRef, Origin
from .plan import (
    AuthorizationPolicy,
    HttpOperation,
    PolicyCondition,
    PolicyOperation,
    PolicyRule,
    PolicySource,
    PolicyTarget,
)
from .rules import apply, check_labels, check_name, dns_subdomain, ipv4_address, ipv4_network
from .schema import Report, valid_items
from .yamlsource import child_path, item_path

# ``when`` keys ztunnel evaluates; every other key is an HTTP attribute.
L4_WHEN_KEYS = ("source.ip", "source.namespace", "source.principal", "destination.ip", "destination.port")
_SOURCE_L7 = ("requestPrincipals", "notRequestPrincipals", "remoteIpBlocks", "notRemoteIpBlocks")
_AS_PRINCIPAL = "write the account as a principal, e.g. cluster.local/ns/NS/sa/SA"
_OPERATION_L7 = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")


def parse_policy(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    report = origin.report
    metadata = clean.get("metadata", {})
    name = check_name(dns_subdomain, metadata.get("name"), "metadata.name", report)
    namespace = metadata.get("namespace", "default")
    spec = clean.get("spec", {})
    action = spec.get("action", "ALLOW")
    targets = policy_targets(spec, report)
    if action == "AUDIT":
        report("spec.action", "AUDIT is not supported: ztunnel enforces only ALLOW and DENY")
    elif action == "CUSTOM" and not targets:
        report("spec.action", "CUSTOM is enforced by waypoints only: name the waypoint or Service in targetRefs")
    provider = spec.get("provider", {}).get("name")
    if action == "CUSTOM" and provider is None:
        report("spec.provider.name", "CUSTOM needs the name of an extension provider from the Topology's meshConfig")
    elif action != "CUSTOM" and provider is not None:
        report("spec.provider", f"only a CUSTOM policy names a provider (this one is {action})")
    selector = spec.get("selector")
    labels = None if selector is None else selector.get("matchLabels", {})
    check_labels(labels or {}, "spec.selector.matchLabels", report)
    rules = [_rule(raw, item_path("spec.rules", i), report) for i, raw in valid_items(spec.get("rules", []))]
    if name is None:
        return
    manifest.objects.append(ObjectRef(origin, "AuthorizationPolicy", namespace, name))
    key = f"{namespace}/{name}"
    if targets:  # a waypoint's policy: HTTP fields are in force there
        manifest.policies.append(AuthorizationPolicy(namespace, name, action, None, tuple(rules), targets, provider))
        return
    found = dict.fromkeys(_short(f) for rule in rules for f in rule.l7_fields)
    if found:
        manifest.warnings.append(
            f"AuthorizationPolicy {key}: ztunnel does not support HTTP attributes (found: {', '.join(found)})"
        )
    manifest.policies.append(AuthorizationPolicy(namespace, name, action, labels, tuple(rules)))


def _short(field: str) -> str:
    """``to.operation.methods`` → ``methods``, ``when.request.headers[x]`` → ``request.headers[x]``."""
    return field.removeprefix("when.") if field.startswith("when.") else field.split(".", 2)[2]


def policy_targets(spec: dict[str, Any], report: Report) -> tuple[PolicyTarget, ...]:
    """``targetRefs`` (and the older single ``targetRef``) as waypoints read them
    (RequestAuthentication's too)."""
    refs = [("spec.targetRef", spec["targetRef"])] if "targetRef" in spec else []
    refs += [(item_path("spec.targetRefs", i), r) for i, r in valid_items(spec.get("targetRefs", []))]
    targets = []
    for at, ref in refs:
        kind, group, name = ref.get("kind"), ref.get("group", ""), ref.get("name")
        if not isinstance(name, str) or not isinstance(kind, str) or not isinstance(group, str):
            report(at, "a target needs kind and name (strings)")
        elif (group, kind) not in _TARGET_KINDS:
            report(f"{at}.kind", f"waypoints take Service, Gateway or GatewayClass targets, not {group or 'core'}/{kind}")
        else:
            targets.append(PolicyTarget(group, kind, name))
    return tuple(targets)


_TARGET_KINDS = {("", "Service"), ("gateway.networking.k8s.io", "Gateway"), ("gateway.networking.k8s.io", "GatewayClass")}


def _rule(raw: dict[str, Any], path: str, report: Report) -> PolicyRule:
    l7: list[str] = []
    sources = _clauses(raw, path, "from", "source", report, l7)
    operations = _clauses(raw, path, "to", "operation", report, l7)
    conditions = []
    http_conditions = []
    for i, when in valid_items(raw.get("when", [])):
        if (condition := _condition(when, item_path(f"{path}.when", i), report, l7)) is not None:
            conditions.append(condition)
        if isinstance(when.get("key"), str):
            http_conditions.append(
                condition or PolicyCondition(when["key"], tuple(_values(when, "values")), tuple(_values(when, "notValues")))
            )
    http_operations = tuple(
        _http_operation(entry.get("operation", {}), item_path(f"{path}.to", i), report)
        for i, entry in valid_items(raw.get("to", []))
        if entry.get("operation")
    )
    http_sources = (_http_source(entry.get("source", {})) for _, entry in valid_items(raw.get("from", [])))
    return PolicyRule(
        sources=tuple(s for s in sources if isinstance(s, PolicySource)),
        operations=tuple(o for o in operations if isinstance(o, PolicyOperation)),
        conditions=tuple(conditions),
        l7_fields=tuple(dict.fromkeys(l7)),
        has_from=bool(raw.get("from")),
        has_to=bool(raw.get("to")),
        http_operations=http_operations,
        http_conditions=tuple(http_conditions),
        http_sources=tuple(s for s in http_sources if any(dataclasses.astuple(s))),
    )


def _clauses(
    raw: dict[str, Any], path: str, clause: str, inner: str, report: Report, l7: list[str]
) -> list[PolicySource | PolicyOperation]:
    """The L4 part of each ``from[].source`` or ``to[].operation``; one left empty by
    dropping its HTTP fields is not kept (ztunnel skips an empty match)."""
    if clause in raw and not raw[clause]:
        report(f"{path}.{clause}", f"must not be empty; omit '{clause}' to match any {inner}")
    kept: list[PolicySource | PolicyOperation] = []
    for i, entry in valid_items(raw.get(clause, [])):
        entry_path = item_path(f"{path}.{clause}", i)
        fields = entry.get(inner, {})
        if not fields:
            report(entry_path, f"'{inner}' must set at least one field")
            continue
        convert = _source if inner == "source" else _operation
        http = _SOURCE_L7 if inner == "source" else _OPERATION_L7
        l7.extend(f"{clause}.{inner}.{f}" for f in http if f in fields)
        converted = convert(fields, child_path(entry_path, inner), report)
        if any(dataclasses.astuple(converted)):
            kept.append(converted)
    return kept


def _values(fields: dict[str, Any], name: str) -> list[str]:
    return [v for _, v in valid_items(fields.get(name, []))]


def _source(fields: dict[str, Any], path: str, report: Report) -> PolicySource:
    def blocks(name: str) -> tuple[str, ...]:
        return _checked(_cidr, fields, name, path, report)

    for name in ("serviceAccounts", "notServiceAccounts"):
        if name in fields:
            report(child_path(path, name), f"not supported: {_AS_PRINCIPAL}")
    return PolicySource(
        principals=tuple(_values(fields, "principals")),
        not_principals=tuple(_values(fields, "notPrincipals")),
        namespaces=tuple(_values(fields, "namespaces")),
        not_namespaces=tuple(_values(fields, "notNamespaces")),
        ip_blocks=blocks("ipBlocks"),
        not_ip_blocks=blocks("notIpBlocks"),
    )


def _operation(fields: dict[str, Any], path: str, report: Report) -> PolicyOperation:
    return PolicyOperation(
        ports=_checked(_port, fields, "ports", path, report),
        not_ports=_checked(_port, fields, "notPorts", path, report),
    )


def _http_source(fields: dict[str, Any]) -> PolicySource:
    """One ``from[].source`` as a waypoint reads it: with the request principals
    (problems were reported by the L4 conversion)."""
    return dataclasses.replace(
        _source(fields, "", lambda *_: None),
        request_principals=tuple(_values(fields, "requestPrincipals")),
        not_request_principals=tuple(_values(fields, "notRequestPrincipals")),
    )


def _http_operation(fields: dict[str, Any], path: str, report: Report) -> HttpOperation:
    ports = _operation(fields, path, lambda *_: None)  # reported once already, by the L4 conversion
    return HttpOperation(
        hosts=tuple(_values(fields, "hosts")), not_hosts=tuple(_values(fields, "notHosts")),
        methods=tuple(_values(fields, "methods")), not_methods=tuple(_values(fields, "notMethods")),
        paths=tuple(_values(fields, "paths")), not_paths=tuple(_values(fields, "notPaths")),
        ports=ports.ports, not_ports=ports.not_ports,
    )


def _condition(when: dict[str, Any], path: str, report: Report, l7: list[str]) -> PolicyCondition | None:
    key = when.get("key")
    if not (when.get("values") or when.get("notValues")):
        report(path, "a condition must set values or notValues")
    if key is None:
        return None
    if key not in L4_WHEN_KEYS:
        l7.append(f"when.{key}")
        return None
    rule = _CONDITION_VALUES.get(key, str)
    return PolicyCondition(
        key=key,
        values=_checked(rule, when, "values", path, report),
        not_values=_checked(rule, when, "notValues", path, report),
    )


def _checked(
    rule: Callable[[str], Any], fields: dict[str, Any], name: str, path: str, report: Report
) -> tuple[Any, ...]:
    """``rule`` applied to each value of list ``name``; the ones that fail are reported and dropped."""
    results = (
        apply(rule, value, item_path(child_path(path, name), i), report)
        for i, value in valid_items(fields.get(name, []))
    )
    return tuple(r for r in results if r is not None)


def _port(text: str) -> int:
    """Istio writes ports as strings of digits."""
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise ValueError(f"'{text}' is not a port number (1-65535)")
    return int(text)


def _port_text(text: str) -> str:
    return str(_port(text))


def _cidr(text: str) -> str:
    """A CIDR, or a bare address taken as its /32, as Istio reads ipBlocks."""
    return str(ipv4_network(text)) if "/" in text else f"{ipv4_address(text)}/32"


# How each L4 ``when`` key's values are checked and written; the others are names.
_CONDITION_VALUES: dict[str, Callable[[str], str]] = {
    "source.ip": _cidr,
    "destination.ip": _cidr,
    "destination.port": _port_text,
}
