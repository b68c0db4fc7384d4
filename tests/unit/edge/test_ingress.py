"""Ingress -> ALB: selection, groups, listeners, rules and their order, the
default action, ssl-redirect, and the problems that fail a group."""

from __future__ import annotations

from dataplane.edge.albmatch import select
from dataplane.edge.albmodel import FixedResponse, Forward, HealthCheck, Redirect, TargetGroup

from .helpers import Feedback, P, backend, failed, ing, listener, one, translate

T19 = f"""
rules:
- http:
    paths:
    - {{path: /api, pathType: Prefix, backend: {backend("a")}}}
    - {{path: /api/health, pathType: Exact, backend: {backend("b")}}}
"""


def _service(action: object) -> str | None:
    return action.target_group.service if isinstance(action, Forward) else None


# -- selection and groups --------------------------------------------------------------------------


def test_only_the_alb_controllers_ingresses_become_albs() -> None:
    albs = translate(
        ing("by-class", T19),
        ing("legacy", T19, cls=None) | {"annotations": {"kubernetes.io/ingress.class": "alb"}},
        ing("nginx", T19, cls="nginx"),
        ing("missing-class", T19, cls="gone"),
        ing("no-class", T19, cls=None),
        # the annotation outranks spec.ingressClassName
        ing("overridden", T19) | {"annotations": {"kubernetes.io/ingress.class": "nginx"}},
    )
    assert [alb.name for alb in albs] == ["shop/by-class", "shop/legacy"]


def test_an_ingress_without_group_is_its_own_alb_with_lbc_defaults() -> None:
    alb = one(ing("web", T19))
    assert (alb.name, alb.ingresses, alb.scheme) == ("shop/web", ("shop/web",), "internal")
    (http,) = alb.listeners
    assert (http.protocol, http.port, http.certificates, http.ssl_policy) == ("HTTP", 80, (), "")
    group = http.rules[0].action.target_group  # type: ignore[union-attr]
    assert group == TargetGroup("shop", "b", 80, "instance", HealthCheck(), 300.0)
    assert group.health == HealthCheck("/", "traffic-port", "HTTP", 15.0, 5.0, 2, 2, ((200, 200),))
    assert alb.target_types() == ("instance",)


def test_t20_group_order_lower_first_then_namespace_and_name() -> None:
    root = f"rules: [{{http: {{paths: [{{path: /, pathType: Prefix, backend: {backend('%s')}}}]}}}}]"
    alb = one(
        ing("ten", root % "ten", group_name="g", group_order="10"),
        ing("one", root % "one", group_name="g", group_order="1"),
        ing("b-zero", root % "b-zero", group_name="g"),
        ing("a-zero", root % "a-zero", group_name="g", namespace="other"),
    )
    assert alb.name == "g"
    assert alb.ingresses == ("other/a-zero", "shop/b-zero", "shop/one", "shop/ten")
    (http,) = alb.listeners
    assert [rule.source for rule in http.rules][2:] == ["shop/one rule[0] path[0]", "shop/ten rule[0] path[0]"]
    # T20 proper: of the two ordered Ingresses, order 1 takes everything
    ordered = one(
        ing("ten", root % "ten", group_name="g", group_order="10"),
        ing("one", root % "one", group_name="g", group_order="1"),
    )
    _, action = select(ordered.listeners[0], "a.example.com", "/anything")
    assert _service(action) == "one"


def test_group_order_out_of_range_duplicate_or_not_a_number_fails_the_group() -> None:
    where = f'Ingress shop/a: metadata.annotations["{P}group.order"]'
    for bad, message in [("0", "within [1:1000]"), ("1001", "within [1:1000]"), ("x", "group order")]:
        (problem,) = failed(ing("a", T19, group_name="g", group_order=bad), ing("b", T19, group_name="g"))
        assert problem[0] == where and message in problem[1]
    (problem,) = failed(
        ing("a", T19, group_name="g", group_order="5"), ing("b", T19, group_name="g", group_order="5")
    )
    assert problem[0] == f'Ingress shop/b: metadata.annotations["{P}group.order"]'
    assert "conflict Ingress group order: 5" in problem[1] and "shop/a" in problem[1]


def test_a_bad_group_name_drops_only_that_ingress() -> None:
    feedback = Feedback()
    albs = translate(ing("bad", T19, group_name="Bad_Name"), ing("long", T19, group_name="a" * 64),
                     ing("good", T19), feedback=feedback)
    assert [alb.name for alb in albs] == ["shop/good"]
    assert [path for path, _ in feedback.problems] == [
        f'Ingress shop/bad: metadata.annotations["{P}group.name"]',
        f'Ingress shop/long: metadata.annotations["{P}group.name"]',
    ]


def test_group_level_settings_must_agree() -> None:
    (problem,) = failed(ing("a", T19, group_name="g", scheme="internet-facing"),
                        ing("b", T19, group_name="g", scheme="internal"))
    assert problem[0] == f'Ingress shop/b: metadata.annotations["{P}scheme"]'
    assert "conflicting scheme" in problem[1] and "shop/a: internet-facing" in problem[1]
    # set once (or the same everywhere) is fine, and load-balancer attributes merge key by key
    alb = one(
        ing("a", T19, group_name="g", scheme="internet-facing",
            load_balancer_attributes="idle_timeout.timeout_seconds=600"),
        ing("b", T19, group_name="g", load_balancer_attributes="routing.http2.enabled=true"),
    )
    assert alb.scheme == "internet-facing"
    assert alb.attributes == (("idle_timeout.timeout_seconds", "600"), ("routing.http2.enabled", "true"))
    (problem,) = failed(ing("a", T19, group_name="g", load_balancer_attributes="idle_timeout.timeout_seconds=600"),
                        ing("b", T19, group_name="g", load_balancer_attributes="idle_timeout.timeout_seconds=60"))
    assert "conflicting load balancer attributes idle_timeout.timeout_seconds" in problem[1]
    assert failed(ing("a", T19, scheme="public"))[0][1].startswith("unknown scheme")


# -- rules -----------------------------------------------------------------------------------------


def test_t19_exact_beats_prefix_and_paths_are_case_sensitive() -> None:
    (http,) = one(ing("web", T19)).listeners
    assert [(rule.paths, _service(rule.action)) for rule in http.rules] == [
        (("/api/health",), "b"),
        (("/api", "/api/*"), "a"),
    ]
    paths = ("/api/health", "/api/x", "/api", "/apix", "/API/x")
    answers = {path: select(http, "shop.example.com", path)[1] for path in paths}
    assert [_service(answers[p]) for p in ("/api/health", "/api/x", "/api")] == ["b", "a", "a"]
    assert answers["/apix"] == answers["/API/x"] == FixedResponse(404, "text/plain", "")


def test_path_types_become_elbv2_patterns_in_lbc_order() -> None:
    spec = f"""
rules:
- host: Shop.Example.com
  http:
    paths:
    - {{path: /impl*, pathType: ImplementationSpecific, backend: {backend("i")}}}
    - {{path: /a/, pathType: Prefix, backend: {backend("short")}}}
    - {{path: /, pathType: Prefix, backend: {backend("root")}}}
    - {{path: /longer, pathType: Prefix, backend: {backend("long")}}}
    - {{path: /x, pathType: Exact, backend: {backend("x")}}}
    - {{path: /nopathtype, backend: {backend("n")}}}
"""
    (http,) = one(ing("web", spec)).listeners
    assert [(rule.hosts, rule.paths, rule.source) for rule in http.rules] == [
        (("shop.example.com",), ("/x",), "shop/web rule[0] path[4]"),
        (("shop.example.com",), ("/longer", "/longer/*"), "shop/web rule[0] path[3]"),
        (("shop.example.com",), ("/a", "/a/*"), "shop/web rule[0] path[1]"),
        (("shop.example.com",), ("/*",), "shop/web rule[0] path[2]"),
        (("shop.example.com",), ("/impl*",), "shop/web rule[0] path[0]"),
        (("shop.example.com",), ("/nopathtype",), "shop/web rule[0] path[5]"),
    ]


def test_wildcards_in_exact_or_prefix_paths_are_rejected() -> None:
    spec = f"rules: [{{http: {{paths: [{{path: '/a*', pathType: Exact, backend: {backend('a')}}}]}}}}]"
    (problem,) = failed(ing("web", spec))
    assert problem == (
        "Ingress shop/web: spec.rules[0].http.paths[0].path", "exact path shouldn't contain wildcards: /a*"
    )
    prefix = spec.replace("Exact", "Prefix").replace("/a*", "/a?")
    assert failed(ing("web", prefix))[0][1] == "prefix path shouldn't contain wildcards: /a?"


def test_rules_follow_the_listen_ports_of_their_ingress() -> None:
    alb = one(
        ing("web", T19, group_name="g", listen_ports='[{"HTTP": 80}, {"HTTP": 8080}]'),
        ing("admin", T19.replace('"a"', '"admin"'), group_name="g", listen_ports='[{"HTTP": 8080}]'),
    )
    assert [entry.port for entry in alb.listeners] == [80, 8080]
    assert {rule.source.split()[0] for rule in listener(alb, 80).rules} == {"shop/web"}
    assert [rule.source.split()[0] for rule in listener(alb, 8080).rules] == ["shop/admin"] * 2 + ["shop/web"] * 2


# -- default action --------------------------------------------------------------------------------


def test_the_default_action_is_404_one_default_backend_or_an_error() -> None:
    assert one(ing("web", T19)).listeners[0].default == FixedResponse()
    with_default = f"defaultBackend: {backend('fallback', 'http')}\n" + T19
    alb = one(ing("web", with_default, group_name="g"), ing("other", T19, group_name="g"))
    default = alb.listeners[0].default
    assert isinstance(default, Forward)
    assert (default.target_group.service, default.target_group.port) == ("fallback", "http")
    assert alb.target_groups()[-1] == default.target_group
    (problem,) = failed(ing("a", with_default, group_name="g"), ing("b", with_default, group_name="g"))
    assert problem == (
        "Ingress shop/b: spec.defaultBackend", "multiple ingress defined default backend: [shop/a shop/b]"
    )


# -- listeners, TLS and ssl-redirect ---------------------------------------------------------------


def test_a_certificate_makes_the_default_listener_https_443() -> None:
    alb = one(ing("web", T19, certificate_arn="arn:a, arn:b"))
    (https,) = alb.listeners
    assert (https.protocol, https.port, https.certificates) == ("HTTPS", 443, ("arn:a", "arn:b"))
    assert https.ssl_policy == "ELBSecurityPolicy-2016-08"


def test_certificates_merge_across_a_group_and_policies_must_agree() -> None:
    alb = one(
        ing("a", T19, group_name="g", certificate_arn="arn:b,arn:c", ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06"),
        ing("b", T19, group_name="g", certificate_arn="arn:a,arn:b"),
    )
    (https,) = alb.listeners
    assert https.certificates == ("arn:b", "arn:c", "arn:a")
    assert https.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    (problem,) = failed(
        ing("a", T19, group_name="g", certificate_arn="arn:a", ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06"),
        ing("b", T19, group_name="g", certificate_arn="arn:a", ssl_policy="ELBSecurityPolicy-2016-08"),
    )
    assert "conflicting ssl-policy" in problem[1]
    assert "SSLPolicyNotFound" in failed(ing("a", T19, certificate_arn="arn:a", ssl_policy="MyPolicy"))[0][1]


def test_without_certificate_arn_hosts_are_left_for_discovery() -> None:
    spec = T19.replace("- http:", "- host: B.example.com\n  http:") + "tls: [{hosts: [a.example.com]}]"
    alb = one(ing("web", spec, listen_ports='[{"HTTPS": 443}]'))
    (https,) = alb.listeners
    assert (https.certificates, https.discover) == ((), ("a.example.com", "b.example.com"))
    assert alb.hostnames == ("b.example.com", "a.example.com")
    (problem,) = failed(ing("web", T19, listen_ports='[{"HTTPS": 443}]'))
    assert "no certificate" in problem[1]


def test_t18_ssl_redirect_drops_http_rules_and_answers_301() -> None:
    both = '[{"HTTP": 80}, {"HTTPS": 443}]'
    alb = one(ing("web", T19, certificate_arn="arn:a", listen_ports=both, ssl_redirect="443"))
    http, https = alb.listeners
    assert (http.port, http.rules, http.default) == (80, (), Redirect("HTTPS", "443", 301))
    assert select(http, "a.example.com", "/api/health?q=1") == (None, Redirect())
    assert len(https.rules) == 2 and https.default == FixedResponse()


def test_ssl_redirect_must_name_an_https_listen_port() -> None:
    where = f'Ingress shop/web: metadata.annotations["{P}ssl-redirect"]'
    (problem,) = failed(ing("web", T19, listen_ports='[{"HTTP": 80}, {"HTTP": 8080}]', ssl_redirect="8080"))
    assert problem[0] == where and "non-SSL" in problem[1]
    (problem,) = failed(ing("web", T19, ssl_redirect="443"))
    assert problem[0] == where and "does not exist" in problem[1]


def test_bad_listen_ports_are_reported_on_the_annotation() -> None:
    where = f'Ingress shop/web: metadata.annotations["{P}listen-ports"]'
    for bad, message in [
        ('[{"HTTP": 80}', "not JSON"),
        ('{"HTTP": 80}', "JSON list"),
        ("[]", "empty"),
        ('[{"HTTP": 0}]', "[1, 65535]"),
        ('[{"TCP": 80}]', "[HTTP, HTTPS]"),
        ('[{"HTTP": "80"}]', "not an integer"),
    ]:
        (problem,) = failed(ing("web", T19, listen_ports=bad))
        assert problem[0] == where and message in problem[1], (bad, problem)
    (problem,) = failed(ing("a", T19, group_name="g", listen_ports='[{"HTTP": 443}]'),
                        ing("b", T19, group_name="g", listen_ports='[{"HTTPS": 443}]', certificate_arn="arn:a"))
    assert problem[0] == f'Ingress shop/b: metadata.annotations["{P}listen-ports"]'
    assert "conflicting protocol" in problem[1]


# -- target groups ---------------------------------------------------------------------------------


def test_target_group_settings_from_ingress_annotations() -> None:
    alb = one(ing(
        "web", T19, target_type="ip", backend_protocol="HTTPS", healthcheck_path="/healthz",
        healthcheck_port="8081", healthcheck_interval_seconds="10", healthcheck_timeout_seconds="3",
        healthy_threshold_count="3", unhealthy_threshold_count="4", success_codes="200-299,301",
        target_group_attributes="deregistration_delay.timeout_seconds=30,stickiness.enabled=true",
    ))
    group = alb.listeners[0].rules[0].action.target_group  # type: ignore[union-attr]
    assert (group.target_type, group.protocol, group.deregistration_delay) == ("ip", "HTTPS", 30.0)
    assert group.health == HealthCheck("/healthz", 8081, "HTTPS", 10.0, 3.0, 3, 4, ((200, 299), (301, 301)))
    assert group.health.accepts(204) and not group.health.accepts(300)
    assert group.attributes == (("deregistration_delay.timeout_seconds", "30"), ("stickiness.enabled", "true"))


def test_service_annotations_override_the_ingress_key_by_key() -> None:
    services = {("shop", "b"): {P + "healthcheck-path": "/ready", P + "target-type": "ip"}}
    alb = one(ing("web", T19, healthcheck_path="/healthz", healthcheck_interval_seconds="20"), services=services)
    by_service = {group.service: group for group in alb.target_groups()}
    b = by_service["b"]
    assert (b.health.path, b.health.interval, b.target_type) == ("/ready", 20.0, "ip")
    assert (by_service["a"].health.path, by_service["a"].target_type) == ("/healthz", "instance")
    assert alb.target_types() == ("instance", "ip")


def test_bad_target_group_values_are_reported_where_they_were_read() -> None:
    services = {("shop", "b"): {P + "healthcheck-interval-seconds": "1"}}
    feedback = Feedback()
    assert translate(ing("web", T19, target_group_attributes="deregistration_delay.timeout_seconds=4000",
                         success_codes="100"), feedback=feedback, services=services) == ()
    assert sorted(feedback.problems) == [
        ('Ingress shop/web: metadata.annotations["alb.ingress.kubernetes.io/success-codes"]',
         "'100': codes must run upwards within 200-499"),
        ('Ingress shop/web: metadata.annotations["alb.ingress.kubernetes.io/target-group-attributes"]',
         "deregistration_delay.timeout_seconds=4000: must be 0-3600 seconds"),
        ('Service shop/b: metadata.annotations["alb.ingress.kubernetes.io/healthcheck-interval-seconds"]',
         "1 must be within [5, 300]"),
    ]
    (problem,) = failed(ing("web", T19, healthcheck_interval_seconds="5", healthcheck_timeout_seconds="5"))
    assert "less than the interval" in problem[1]
    assert failed(ing("web", T19, target_type="pod"))[0][1] == "'pod' must be one of instance, ip"


def test_annotations_not_emulated_are_warned_about() -> None:
    services = {("shop", "a"): {P + "tags": "team=x", P + "healthcheck-path": "/h"}}
    feedback = Feedback()
    web = ing("web", T19, wafv2_acl_arn="arn:waf")
    web["annotations"][P + "actions.x"] = "{}"
    assert len(translate(web, feedback=feedback, services=services)) == 1
    assert feedback.problems == []
    assert [(path, message.split(":")[0]) for path, message in feedback.warnings] == [
        (f'Ingress shop/web: metadata.annotations["{P}actions.x"]', "not emulated"),
        (f'Ingress shop/web: metadata.annotations["{P}wafv2-acl-arn"]', "not emulated"),
        (f'Service shop/a: metadata.annotations["{P}tags"]', "not emulated"),
    ]
