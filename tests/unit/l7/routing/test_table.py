"""Route tables: Gateway API precedence across every attached route,
VirtualService first-match order, who may attach, and GAMMA's 404."""

from __future__ import annotations

from dataplane.l7.routing import table
from dataplane.l7.routing.model import Attachment, Backend, Match, PathMatch, Route

from .helpers import NS, PARENT, REVIEWS, V1, V2, get, http_route, virtual_service


def route(origin: str, match: Match) -> Route:
    return Route(origin, match, (Backend(V1, 9080),))


def attach(*routes: Route, name: str = "r", order: int = 0, namespace: str = NS) -> Attachment:
    return Attachment("HTTPRoute", namespace, name, order, REVIEWS, None, routes)


def chosen(attachments: list[Attachment], path: str, **kwargs: object) -> str | None:
    selected = table.build(REVIEWS, 9080, attachments).select(get(path, **kwargs))  # type: ignore[arg-type]
    return None if selected is None else selected.origin


def test_exact_beats_prefix_beats_regex_whatever_the_length() -> None:
    routes = [
        route("regex", Match(PathMatch("RegularExpression", "/api/v1/users/.*"))),
        route("prefix", Match(PathMatch("PathPrefix", "/api"))),
        route("exact", Match(PathMatch("Exact", "/api/v1/users/x"))),
    ]
    attachments = [attach(*routes)]
    assert chosen(attachments, "/api/v1/users/x") == "exact"
    assert chosen(attachments, "/api/v1/users/y") == "prefix"


def test_the_longest_prefix_wins() -> None:
    attachments = [attach(route("short", Match(PathMatch("PathPrefix", "/a"))),
                          route("long", Match(PathMatch("PathPrefix", "/a/b"))))]
    assert chosen(attachments, "/a/b/c") == "long"
    assert chosen(attachments, "/a/c") == "short"


def test_method_then_more_headers_then_more_query_params() -> None:
    prefix = PathMatch("PathPrefix", "/")
    http_route_text = PARENT + """
rules:
- matches: [{queryParams: [{name: a, value: "1"}, {name: b, value: "1"}]}]
  backendRefs: [{name: reviews-v1, port: 9080}]
- matches: [{headers: [{name: x, value: "1"}], queryParams: [{name: a, value: "1"}]}]
  backendRefs: [{name: reviews-v1, port: 9080}]
- matches: [{headers: [{name: x, value: "1"}, {name: y, value: "1"}]}]
  backendRefs: [{name: reviews-v1, port: 9080}]
- matches: [{method: GET}]
  backendRefs: [{name: reviews-v1, port: 9080}]
"""
    attachments = list(http_route(http_route_text))
    order = [r.origin.split(" rule ")[1] for r in table.build(REVIEWS, 9080, attachments).routes]
    assert order == ["3 match 0", "2 match 0", "1 match 0", "0 match 0"]
    assert all(r.match.path == prefix for r in attachments[0].routes)


def test_ties_go_to_the_oldest_route_then_namespace_and_name_then_rule_order() -> None:
    same = Match(PathMatch("PathPrefix", "/"))
    older = attach(route("older", same), name="zz", order=1)
    newer = attach(route("newer", same), name="aa", order=2)
    assert chosen([newer, older], "/") == "older"
    by_name = [attach(route("b", same), name="b"), attach(route("a", same), name="a")]
    assert chosen(by_name, "/") == "a"
    by_rule = [attach(route("rule 0", same), route("rule 1", same))]
    assert chosen(by_rule, "/") == "rule 0"


def test_namespace_then_name_compare_as_a_pair_like_istio() -> None:
    same = Match(PathMatch("PathPrefix", "/"))
    service = "reviews.a.svc.cluster.local"
    a = Attachment("HTTPRoute", "a", "x", 0, service, None, (route("a/x", same),))
    ab = Attachment("HTTPRoute", "a-b", "x", 0, service, None, (route("a-b/x", same),))
    built = table.build(service, 9080, [ab, a], waypoint_namespace="a-b")
    assert [r.origin for r in built.routes] == ["a/x", "a-b/x"]  # "a" < "a-b", though "a-b/x" < "a/x"


def test_case_10_header_rule_then_default_rule() -> None:
    attachments = list(http_route(PARENT + """
rules:
- matches: [{headers: [{name: end-user, value: jason}]}]
  backendRefs: [{name: reviews-v2, port: 9080}]
- backendRefs: [{name: reviews-v1, port: 9080}]
"""))
    built = table.build(REVIEWS, 9080, attachments)
    with_header = built.select(get(headers=(("end-user", "jason"),)))
    without = built.select(get())
    assert with_header is not None and with_header.backends[0].service == V2
    assert without is not None and without.backends[0].service == V1


def test_case_11_path_prefix_is_element_wise_vs_prefix_is_not() -> None:
    gateway_table = table.build(REVIEWS, 9080, http_route(PARENT + """
rules:
- matches: [{path: {type: PathPrefix, value: /abc}}]
  backendRefs: [{name: reviews-v2, port: 9080}]
- matches: [{path: {type: PathPrefix, value: /}}]
  backendRefs: [{name: reviews-v1, port: 9080}]
"""))

    def backend(built: table.RouteTable, path: str) -> str:
        selected = built.select(get(path))
        assert selected is not None
        return selected.backends[0].service

    assert [backend(gateway_table, p) for p in ("/abc", "/abc/x", "/abcd")] == [V2, V2, V1]
    istio_table = table.build(REVIEWS, 9080, virtual_service("""
hosts: [reviews]
http:
- match: [{uri: {prefix: /abc}}]
  route: [{destination: {host: reviews-v2}}]
- route: [{destination: {host: reviews-v1}}]
"""))
    assert backend(istio_table, "/abcd") == V2


def test_case_12_gamma_no_matching_rule_is_a_404() -> None:
    built = table.build(REVIEWS, 9080, http_route(PARENT + """
rules: [{matches: [{path: {type: Exact, value: /api}}], backendRefs: [{name: reviews-v1, port: 9080}]}]
"""))
    assert built.attached
    assert built.select(get("/api")) is not None
    assert built.select(get("/other")) is None


def test_without_routes_the_inbound_default_forwards_to_the_service() -> None:
    built = table.build(REVIEWS, 9080, [])
    assert not built.attached
    selected = built.select(get("/anything"))
    assert selected is not None and selected.backends == (Backend(REVIEWS, 9080),)
    assert selected.timeout is None
    assert selected.retry is not None and selected.retry.retry_on == ("reset-before-request",)
    assert table.build(REVIEWS, 9080, [], grpc=True).routes[0].retry is None


def test_a_parent_port_limits_the_route_to_that_port() -> None:
    attachments = list(http_route(PARENT + "rules: [{backendRefs: [{name: reviews-v1, port: 9080}]}]"))
    assert table.build(REVIEWS, 9080, attachments).attached
    assert not table.build(REVIEWS, 9090, attachments).attached


def test_consumer_routes_are_ignored_the_waypoint_namespace_counts() -> None:
    consumer = attach(route("consumer", Match()), namespace="client")
    built = table.build(REVIEWS, 9080, [consumer])
    assert not built.attached and "consumer routes are ignored" in built.ignored[0]
    assert table.build(REVIEWS, 9080, [consumer], waypoint_namespace="client").attached


def test_mixing_apis_uses_the_httproutes_and_says_so() -> None:
    attachments = [*http_route(PARENT + "rules: [{backendRefs: [{name: reviews-v1, port: 9080}]}]"),
                   *virtual_service("hosts: [reviews]\nhttp: [{route: [{destination: {host: reviews-v2}}]}]")]
    built = table.build(REVIEWS, 9080, attachments)
    assert all(r.origin.startswith("HTTPRoute") for r in built.routes)
    assert built.ignored == (("VirtualService default/reviews: HTTPRoutes are attached too (mixing them is "
                             "undefined in Istio; dpctl uses the HTTPRoutes)"),)


def test_virtualservice_first_match_wins_in_document_order() -> None:
    built = table.build(REVIEWS, 9080, virtual_service("""
hosts: [reviews]
http:
- match: [{uri: {prefix: /}}]
  route: [{destination: {host: reviews-v1}}]
- match: [{uri: {exact: /api}}]
  route: [{destination: {host: reviews-v2}}]
"""))
    selected = built.select(get("/api"))
    assert selected is not None and selected.origin == "VirtualService default/reviews http[0]"


def test_virtualservice_port_matches_are_decided_per_table() -> None:
    attachments = virtual_service("""
hosts: [reviews]
http:
- match: [{port: 9090, uri: {prefix: /}}]
  route: [{destination: {host: reviews-v2}}]
- match: [{port: 9080}]
  route: [{destination: {host: reviews-v1}}]
""")
    on_9080 = table.build(REVIEWS, 9080, attachments)
    assert [r.origin for r in on_9080.routes] == ["VirtualService default/reviews http[1]"]


def test_the_oldest_virtualservice_serves_a_host_an_exact_host_before_a_wildcard() -> None:
    wildcard = virtual_service("hosts: ['*.default.svc.cluster.local']\nhttp: [{route: [{destination: "
                               "{host: reviews-v2}}]}]", name="all", order=0)
    exact = virtual_service("hosts: [reviews]\nhttp: [{route: [{destination: {host: reviews-v1}}]}]", order=1)
    newer = virtual_service("hosts: [reviews]\nhttp: [{route: [{destination: {host: reviews-v2}}]}]",
                            name="newer", order=2)
    built = table.build(REVIEWS, 9080, [*wildcard, *newer, *exact])
    assert built.routes[0].backends[0].service == V1
    assert len(built.ignored) == 2
