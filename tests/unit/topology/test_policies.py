"""AuthorizationPolicy documents → Plan.authorization_policies, as istiod hands them to ztunnel."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text
from dataplane.topology.plan import (
    AuthorizationPolicy,
    HttpOperation,
    Plan,
    PolicyCondition,
    PolicyOperation,
    PolicyRule,
    PolicySource,
    PolicyTarget,
)


def policy(name: str, spec: str, namespace: str = "default", api: str = "v1") -> str:
    return (
        f"---\napiVersion: security.istio.io/{api}\nkind: AuthorizationPolicy\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n"
    )


def plan(topology: Callable[..., str], *policies: str) -> Plan:
    return plan_from_text(topology() + "".join(policies), "t.yaml")


def test_fields_are_converted(topology: Callable[..., str]) -> None:
    rules = (
        "[{from: [{source: {principals: ['spiffe://cluster.local/ns/a/sa/b'], notNamespaces: [c],"
        " ipBlocks: [10.0.0.1, 10.1.0.0/16], notIpBlocks: [10.1.2.0/24]}}],"
        " to: [{operation: {ports: ['8080', '9090'], notPorts: ['22']}}],"
        " when: [{key: destination.port, values: ['8080']}, {key: source.ip, notValues: [10.0.0.2]}]}]"
    )
    spec = f"{{action: DENY, selector: {{matchLabels: {{app: web}}}}, rules: {rules}}}"
    [converted] = plan(topology, policy("p", spec)).authorization_policies
    source = PolicySource(
        principals=("spiffe://cluster.local/ns/a/sa/b",),
        not_namespaces=("c",),
        ip_blocks=("10.0.0.1/32", "10.1.0.0/16"),
        not_ip_blocks=("10.1.2.0/24",),
    )
    assert converted == AuthorizationPolicy(
        namespace="default",
        name="p",
        action="DENY",
        selector={"app": "web"},
        rules=(
            PolicyRule(
                sources=(source,),
                operations=(PolicyOperation(ports=(8080, 9090), not_ports=(22,)),),
                conditions=(
                    PolicyCondition("destination.port", values=("8080",)),
                    PolicyCondition("source.ip", not_values=("10.0.0.2/32",)),
                ),
                has_from=True,
                has_to=True,
                http_operations=(HttpOperation(ports=(8080, 9090), not_ports=(22,)),),
                http_conditions=(
                    PolicyCondition("destination.port", values=("8080",)),
                    PolicyCondition("source.ip", not_values=("10.0.0.2/32",)),
                ),
                http_sources=(source,),
            ),
        ),
    )


def test_defaults_empty_spec_and_v1beta1(topology: Callable[..., str]) -> None:
    p = plan(topology, policy("nothing", "{}", api="v1beta1"), policy("everything", "{rules: [{}], selector: {}}"))
    nothing, everything = p.authorization_policies
    assert (nothing.action, nothing.selector, nothing.rules) == ("ALLOW", None, ())
    assert everything.selector == {} and everything.rules == (PolicyRule(),)
    assert p.warnings == ()


def test_the_root_namespace_needs_no_declaration(topology: Callable[..., str]) -> None:
    p = plan(topology, policy("mesh-wide", "{action: DENY}", "istio-system"))
    assert [x.key for x in p.authorization_policies] == ["istio-system/mesh-wide"]
    assert p.mesh_root_namespace == "istio-system"


def test_waypoint_policies_keep_their_targets_and_http_fields(topology: Callable[..., str]) -> None:
    rules = "[{to: [{operation: {methods: [GET], paths: ['/api/*']}}], when: [{key: 'request.headers[x-id]', values: ['1']}]}]"
    p = plan(topology, policy("wp", f"{{targetRefs: [{{kind: Service, group: '', name: web}}], rules: {rules}}}"))
    [wp] = p.authorization_policies
    assert wp.target_refs == (PolicyTarget("", "Service", "web"),) and p.warnings == ()
    [rule] = wp.rules
    assert rule.http_operations == (HttpOperation(methods=("GET",), paths=("/api/*",)),)
    assert rule.http_conditions == (PolicyCondition("request.headers[x-id]", values=("1",)),)
    with pytest.raises(TopologyError, match=r"targetRefs\[0\].kind: waypoints take Service, Gateway or GatewayClass"):
        plan(topology, policy("bad", "{targetRefs: [{kind: Pod, group: '', name: web}]}"))


def test_http_fields_are_recorded_and_warned_about(topology: Callable[..., str]) -> None:
    rules = (
        "[{from: [{source: {requestPrincipals: ['*'], namespaces: [a]}}],"
        " to: [{operation: {methods: [GET], paths: [/x]}}],"
        " when: [{key: 'request.headers[x-id]', values: ['1']}]}]"
    )
    p = plan(topology, policy("l7", f"{{rules: {rules}}}"))
    [rule] = p.authorization_policies[0].rules
    assert rule.l7_fields == (
        "from.source.requestPrincipals",
        "to.operation.methods",
        "to.operation.paths",
        "when.request.headers[x-id]",
    )
    assert rule.sources == (PolicySource(namespaces=("a",)),)
    assert rule.http_sources == (PolicySource(namespaces=("a",), request_principals=("*",)),)  # for waypoints
    assert rule.operations == () and rule.has_to  # the only operation was HTTP-only
    assert p.warnings == (
        (
            "AuthorizationPolicy default/l7: ztunnel does not support HTTP attributes "
            "(found: requestPrincipals, methods, paths, request.headers[x-id])"
        ),
    )


def test_policies_round_trip_through_json(topology: Callable[..., str]) -> None:
    rules = (
        "[{from: [{source: {principals: [a/ns/b/sa/c], ipBlocks: [10.0.0.0/8]}}],"
        " to: [{operation: {notPorts: ['22'], hosts: [x]}}], when: [{key: source.namespace, values: [b]}]}, {}]"
    )
    p = plan(topology, policy("p", f"{{action: DENY, selector: {{matchLabels: {{app: x}}}}, rules: {rules}}}"))
    assert Plan.from_json(p.to_json()) == p
