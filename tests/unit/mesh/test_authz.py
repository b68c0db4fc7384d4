"""L4 authorization: ztunnel's order, scopes, field matching and the fate of HTTP fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.mesh.authz import Connection, Decision, evaluate, policies_for, scope
from dataplane.topology import load_plan, plan_from_text
from dataplane.topology.plan import Plan
from tests.unit.mesh.topologies import one_node_topology

ROOT = Path(__file__).resolve().parents[3]
UI = "cluster.local/ns/front/sa/ui"
WEB_PORT = 8080

CLUSTER = one_node_topology("authz") + """apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: front, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  containers: [{name: app, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec:
  containers: [{name: app, ports: [{containerPort: 5432}]}]
"""


def policy(name: str, spec: str, namespace: str = "shop") -> str:
    """An AuthorizationPolicy document; ``spec`` is the YAML of its spec, flow style."""
    return (
        f"---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n"
    )


def cluster(*policies: str) -> Plan:
    return plan_from_text(CLUSTER + "".join(policies), "authz.yaml")


def check(
    plan: Plan,
    identity: str | None = UI,
    src: str = "192.168.1.50",
    port: int = WEB_PORT,
    pod: str = "web",
) -> Decision:
    dst = plan.pod("shop", pod)
    return evaluate(plan, dst, Connection(src, identity, dst.ip, port))


def allowed(*policies: str, **conn: object) -> bool:
    return check(cluster(*policies), **conn).allowed  # type: ignore[arg-type]


def test_no_policy_allows() -> None:
    assert check(cluster()) == Decision(True, None, "no allow policies")


def test_deny_is_checked_before_allow() -> None:
    plan = cluster(
        policy("allow-all", "{action: ALLOW, rules: [{}]}"),
        policy("deny-front", "{action: DENY, rules: [{from: [{source: {namespaces: [front]}}]}]}"),
    )
    assert check(plan) == Decision(False, "shop/deny-front", "explicitly denied by: shop/deny-front")
    web = "cluster.local/ns/shop/sa/web"
    assert check(plan, identity=web) == Decision(True, "shop/allow-all", "allowed by shop/allow-all")


def test_an_allow_with_no_rules_denies_everything_and_a_deny_with_none_does_nothing() -> None:
    plan = cluster(policy("allow-nothing", "{}"))
    assert plan.authorization_policies[0].rules == ()
    assert check(plan) == Decision(False, None, "allow policies exist, but none allowed")
    assert allowed(policy("deny-nothing", "{action: DENY}"))


def test_a_mesh_wide_policy_in_the_root_namespace_applies_everywhere() -> None:
    strict = "{action: DENY, rules: [{from: [{source: {notPrincipals: ['*']}}]}]}"  # PeerAuthentication STRICT
    plan = cluster(policy("deny-plaintext", strict, "istio-system"))
    [mesh_wide] = plan.authorization_policies
    assert scope(mesh_wide, plan) == "Global"
    assert policies_for(plan, plan.pod("shop", "db")) == (mesh_wide,)
    assert check(plan, identity=None).reason == "explicitly denied by: istio-system/deny-plaintext"
    assert check(plan).allowed


def test_selector_and_namespace_scoping() -> None:
    plan = cluster(
        policy("db-only", "{selector: {matchLabels: {app: db}}}"),
        policy("front-wide", "{}", "front"),
        policy("root-selector", "{selector: {matchLabels: {app: web}}}", "istio-system"),
        policy("shop-wide", "{action: DENY}"),
    )
    db_only, _, _, shop_wide = plan.authorization_policies
    assert [scope(p, plan) for p in plan.authorization_policies] == [
        "WorkloadSelector",
        "Namespace",
        "WorkloadSelector",
        "Namespace",
    ]
    assert policies_for(plan, plan.pod("shop", "web")) == (shop_wide,)
    assert policies_for(plan, plan.pod("shop", "db")) == (db_only, shop_wide)
    assert check(plan).allowed
    assert not check(plan, pod="db", port=5432).allowed


def allow_from(source: str) -> str:
    return policy("allow", f"{{rules: [{{from: [{{source: {source}}}]}}]}}")


@pytest.mark.parametrize(
    ("source", "identity", "expected"),
    [
        ("{principals: [cluster.local/ns/front/sa/ui]}", UI, True),
        ("{principals: ['spiffe://cluster.local/ns/front/sa/ui']}", UI, True),
        ("{principals: ['cluster.local/ns/front/*']}", UI, True),
        ("{principals: ['*/sa/ui']}", UI, True),
        ("{principals: ['*']}", UI, True),
        ("{principals: [cluster.local/ns/front/sa/admin]}", UI, False),
        ("{notPrincipals: [cluster.local/ns/front/sa/ui]}", UI, False),
        ("{notPrincipals: ['*/sa/admin']}", UI, True),
        ("{namespaces: [front]}", UI, True),
        ("{namespaces: ['fr*']}", UI, True),
        ("{namespaces: [shop]}", UI, False),
        ("{notNamespaces: [front]}", UI, False),
        ("{notNamespaces: [shop]}", UI, True),
        ("{namespaces: [front], notPrincipals: [cluster.local/ns/front/sa/ui]}", UI, False),
        # plaintext: positive identity fields fail, negative ones hold
        ("{principals: ['*']}", None, False),
        ("{namespaces: [front]}", None, False),
        ("{notPrincipals: ['*']}", None, True),
        ("{notNamespaces: [front]}", None, True),
    ],
)
def test_identity_fields(source: str, identity: str | None, expected: bool) -> None:
    assert allowed(allow_from(source), identity=identity) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{ipBlocks: [192.168.1.0/24]}", True),
        ("{ipBlocks: [192.168.1.50]}", True),
        ("{ipBlocks: [10.0.0.0/8, 192.168.1.51]}", False),
        ("{notIpBlocks: [192.168.1.48/30]}", False),
        ("{notIpBlocks: [10.0.0.0/8]}", True),
        ("{ipBlocks: [192.168.0.0/16], notIpBlocks: [192.168.1.50]}", False),
    ],
)
def test_ip_blocks_match_the_source_address(source: str, expected: bool) -> None:
    assert allowed(allow_from(source), identity=None) is expected


def test_sources_are_ored_and_fields_inside_one_are_anded() -> None:
    sources = "[{source: {namespaces: [shop]}}, {source: {ipBlocks: [192.168.1.50/32]}}]"
    either = policy("allow", f"{{rules: [{{from: {sources}}}]}}")
    assert allowed(either)
    both = allow_from("{namespaces: [shop], ipBlocks: [192.168.1.50/32]}")
    assert not allowed(both)


@pytest.mark.parametrize(
    ("operation", "port", "expected"),
    [
        ("{ports: ['8080']}", 8080, True),
        ("{ports: ['80', '443']}", 8080, False),
        ("{notPorts: ['8080']}", 8080, False),
        ("{notPorts: ['9090']}", 8080, True),
    ],
)
def test_ports_match_the_target_port(operation: str, port: int, expected: bool) -> None:
    assert allowed(policy("allow", f"{{rules: [{{to: [{{operation: {operation}}}]}}]}}"), port=port) is expected


def test_from_and_to_must_both_hold() -> None:
    rule = "{from: [{source: {namespaces: [front]}}], to: [{operation: {ports: ['8080']}}]}"
    plan = cluster(policy("allow", f"{{rules: [{rule}]}}"))
    assert check(plan).allowed
    assert not check(plan, port=9090).allowed
    assert not check(plan, identity="cluster.local/ns/shop/sa/web").allowed


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{key: source.ip, values: [192.168.1.0/24]}", True),
        ("{key: source.ip, notValues: [192.168.1.50]}", False),
        ("{key: source.namespace, values: [front]}", True),
        ("{key: source.namespace, notValues: ['f*']}", False),
        ("{key: source.principal, values: ['spiffe://cluster.local/ns/front/sa/ui']}", True),
        ("{key: source.principal, values: ['*/sa/admin']}", False),
        ("{key: destination.ip, values: [192.168.1.0/24]}", True),
        ("{key: destination.ip, notValues: [192.168.0.0/16]}", False),
        ("{key: destination.port, values: ['8080']}", True),
        ("{key: destination.port, values: ['80'], notValues: ['8080']}", False),
    ],
)
def test_when_conditions(when: str, expected: bool) -> None:
    assert allowed(policy("allow", f"{{rules: [{{when: [{when}]}}]}}")) is expected


def test_every_when_must_hold() -> None:
    whens = "[{key: source.namespace, values: [front]}, {key: destination.port, values: ['9090']}]"
    assert not allowed(policy("allow", f"{{rules: [{{when: {whens}}}]}}"))


def test_an_allow_rule_with_http_fields_never_matches() -> None:
    rules = "[{from: [{source: {namespaces: [front]}}], to: [{operation: {methods: [GET]}}]}]"
    plan = cluster(policy("allow-get", f"{{rules: {rules}}}"))
    assert plan.warnings == (
        "AuthorizationPolicy shop/allow-get: ztunnel does not support HTTP attributes (found: methods)",
    )
    assert check(plan) == Decision(False, None, "allow policies exist, but none allowed")


def test_a_deny_rule_is_evaluated_without_its_http_fields() -> None:
    rules = "[{from: [{source: {namespaces: [front]}}], to: [{operation: {methods: [DELETE]}}]}]"
    plan = cluster(policy("deny-delete", f"{{action: DENY, rules: {rules}}}"))
    assert check(plan).policy == "shop/deny-delete"  # every connection from front, not only DELETEs
    assert check(plan, identity="cluster.local/ns/shop/sa/web").allowed


def test_a_deny_entry_left_empty_is_skipped_and_its_l4_siblings_kept() -> None:
    operations = "[{operation: {paths: [/admin]}}, {operation: {ports: ['9090']}}]"
    plan = cluster(policy("deny", f"{{action: DENY, rules: [{{to: {operations}}}]}}"))
    assert check(plan).allowed
    assert not check(plan, port=9090).allowed


def test_a_deny_with_only_http_fields_is_a_no_op() -> None:
    only_http = "[{to: [{operation: {methods: [DELETE]}}], when: [{key: 'request.headers[x-user]', values: [eve]}]}]"
    plan = cluster(policy("deny-http", f"{{action: DENY, rules: {only_http}}}"))
    assert plan.warnings == (
        (
            "AuthorizationPolicy shop/deny-http: ztunnel does not support HTTP attributes "
            "(found: methods, request.headers[x-user])"
        ),
    )
    assert check(plan).allowed


def test_a_deny_drops_an_http_when_but_keeps_its_l4_ones() -> None:
    whens = "[{key: 'request.auth.claims[iss]', values: [x]}, {key: source.namespace, values: [front]}]"
    plan = cluster(policy("deny", f"{{action: DENY, rules: [{{when: {whens}}}]}}"))
    assert not check(plan).allowed
    assert check(plan, identity="cluster.local/ns/shop/sa/web").allowed


@pytest.fixture
def retail(monkeypatch: pytest.MonkeyPatch) -> Plan:
    monkeypatch.chdir(ROOT)
    return load_plan("topologies/retail-store-mesh.yaml")


def test_the_retail_store_mesh_policies(retail: Plan) -> None:
    def decide(src: str, dst: str, port: int) -> str:
        namespace, name = src.split("/")
        client = retail.pod(namespace, name)
        server = retail.pod(*dst.split("/"))
        identity = f"cluster.local/ns/{client.namespace}/sa/{client.service_account}"
        decision = evaluate(retail, server, Connection(client.ip, identity, server.ip, port))
        return decision.reason

    assert decide("ui/ui-0", "catalog/catalog-0", 8080) == "allowed by catalog/catalog-from-ui"
    assert decide("ui/ui-0", "catalog/catalog-0", 9090) == "allow policies exist, but none allowed"
    assert decide("carts/carts-0", "catalog/catalog-0", 8080) == "allow policies exist, but none allowed"
    assert decide("catalog/catalog-0", "catalog/catalog-mysql-0", 3306) == "allowed by catalog/mysql-from-catalog"
    assert decide("carts/carts-0", "orders/orders-0", 8080) == "explicitly denied by: orders/deny-carts"
    assert decide("checkout/checkout-0", "orders/orders-0", 8080) == "no allow policies"
    assert decide("orders/orders-0", "carts/carts-0", 8080) == "explicitly denied by: carts/deny-delete-from-orders"
    assert retail.warnings == (
        "AuthorizationPolicy carts/deny-delete-from-orders: ztunnel does not support HTTP attributes (found: methods)",
    )
