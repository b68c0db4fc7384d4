"""Gateway API north-south, pure: listeners, hostname rules, route attachment and status, host tables."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from dataplane.edge import clienthello
from dataplane.l7.routing import attach, gateway, listeners, tlsroute
from dataplane.l7.routing.attach import ServedGateway
from dataplane.l7.routing.model import Request
from dataplane.l7.routing.table import build_hosts

SERVICES = frozenset({"web.shop.svc.cluster.local", "api.shop.svc.cluster.local"})


def _quiet(path: str, message: str) -> None:
    """Not under test."""


def _gateway(*raw: dict[str, Any]) -> ServedGateway:
    problems: list[tuple[str, str]] = []
    parsed = listeners.parse("infra", {"listeners": list(raw)}, lambda p, m: problems.append((p, m)), _quiet)
    assert problems == []
    return ServedGateway("infra", "edge", parsed)


HTTP = {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "*.example.com"}
HTTPS = {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "a.example.com",
         "tls": {"certificateRefs": [{"name": "a-cert"}]}, "allowedRoutes": {"namespaces": {"from": "All"}}}
PASS = {"name": "pass", "port": 443, "protocol": "TLS", "hostname": "b.example.com", "tls": {"mode": "Passthrough"}}


def _route(namespace: str = "infra", **spec: Any) -> Any:
    spec.setdefault("parentRefs", [{"name": "edge", "namespace": "infra"}])
    return gateway.north_south(namespace, "r", 0, spec, _quiet, _quiet)


@pytest.mark.parametrize(("pattern", "host", "expected"), [
    ("*.example.com", "a.example.com", True), ("*.example.com", "x.a.example.com", True),
    ("*.example.com", "example.com", False), ("a.example.com", "A.example.com", True), (None, "anything", True),
])
def test_wildcards_match_as_gateway_api_says(pattern: str | None, host: str, expected: bool) -> None:
    assert listeners.matches(pattern, host) is expected


@pytest.mark.parametrize(("listener", "route", "expected"), [
    ("*.example.com", ["a.example.com", "a.example.org"], ("a.example.com",)),
    ("a.example.com", ["*.example.com"], ("a.example.com",)),
    (None, [], ("*",)),
    ("a.example.com", [], ("a.example.com",)),
    ("a.example.com", ["b.example.com"], ()),
])
def test_route_and_listener_hostnames_intersect(listener: str | None, route: list[str], expected: tuple[str, ...]) -> None:
    assert listeners.intersect(listener, route) == expected


def test_sni_picks_the_most_specific_listener_and_no_sni_only_a_hostless_one() -> None:
    gw = _gateway(HTTPS, PASS, {**HTTPS, "name": "wild", "hostname": "*.example.com"})
    assert listeners.for_sni(gw.listeners, "a.example.com").name == "https"  # type: ignore[union-attr]
    assert listeners.for_sni(gw.listeners, "c.example.com").name == "wild"  # type: ignore[union-attr]
    assert listeners.for_sni(gw.listeners, None) is None  # what an ALB re-encrypting sends: refused
    hostless = _gateway({k: v for k, v in HTTPS.items() if k != "hostname"})
    assert listeners.for_sni(hostless.listeners, None).name == "https"  # type: ignore[union-attr]


@pytest.mark.parametrize(("listener", "path"), [
    ({**HTTPS, "tls": {"mode": "Passthrough"}}, "spec.listeners[0].tls.mode"),
    ({**HTTPS, "tls": {}}, "spec.listeners[0].tls.certificateRefs"),
    ({**HTTP, "hostname": "*"}, "spec.listeners[0].hostname"),
])
def test_bad_listeners_are_reported(listener: dict[str, Any], path: str) -> None:
    problems: list[str] = []
    assert listeners.parse("infra", {"listeners": [listener]}, lambda p, m: problems.append(p), _quiet) == ()
    assert problems == [path]


def test_attachment_by_section_kind_namespace_and_hostname() -> None:
    gw = _gateway(HTTP, HTTPS, PASS)
    cases = {
        "all": (_route(hostnames=["a.example.com"]), True, "Accepted", ["http", "https"]),
        "section": (_route(parentRefs=[{"name": "edge", "namespace": "infra", "sectionName": "https"}]),
                    True, "Accepted", ["https"]),
        "no-such-section": (_route(parentRefs=[{"name": "edge", "namespace": "infra", "sectionName": "x"}]),
                            False, "NoMatchingParent", []),
        "other-namespace": (_route("app", hostnames=["z.example.com"]), False, "NoMatchingListenerHostname", []),
        "same-only": (_route("app", parentRefs=[{"name": "edge", "namespace": "infra", "sectionName": "http"}]),
                      False, "NotAllowedByListeners", []),
        "no-gateway": (_route(parentRefs=[{"name": "nope"}]), False, "NoMatchingParent", []),
    }
    for label, (route, accepted, reason, bound) in cases.items():
        status = attach.attach(route, route.parents[0], gw if route.parents[0].name == "edge" else None, {}, SERVICES)
        assert (status.accepted.status, status.accepted.reason, [b.listener for b in status.bindings]) == (
            accepted, reason, bound), label


def test_selector_admits_labelled_namespaces_and_tls_routes_take_tls_listeners() -> None:
    gw = _gateway({**PASS, "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"e": "1"}}}}})
    route = tlsroute.translate("app", "t", 0, {"parentRefs": [{"name": "edge", "namespace": "infra"}],
                                              "rules": [{"backendRefs": [{"name": "vault", "port": 443}]}]},
                               _quiet, _quiet)
    assert route is not None
    assert attach.attach(route, route.parents[0], gw, {"app": {"e": "1"}}, SERVICES).accepted.status
    refused = attach.attach(route, route.parents[0], gw, {"app": {}}, SERVICES)
    assert refused.accepted.reason == "NotAllowedByListeners"
    assert (refused.resolved.status, refused.resolved.reason) == (False, "BackendNotFound")


def test_an_http_route_on_a_gateway_is_not_warned_about_and_gamma_is_untouched() -> None:
    warnings: list[str] = []
    spec = {"parentRefs": [{"name": "edge"}], "hostnames": ["a.example.com"]}
    assert gateway.translate("infra", "r", 0, spec, _quiet, lambda p, m: warnings.append(p)) == ()
    assert warnings == []


def test_host_table_prefers_exact_hosts_then_precedence() -> None:
    exact = _route(hostnames=["a.example.com"], rules=[
        {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}], "backendRefs": [{"name": "api", "port": 80}]},
        {"backendRefs": [{"name": "web", "port": 80}]},
    ])
    wild = _route(hostnames=["*.example.com"], rules=[{"backendRefs": [{"name": "web", "port": 8080}]}])
    table = build_hosts([(exact, ("a.example.com",)), (wild, ("*.example.com",))])

    def backend(host: str, path: str) -> Any:
        route = table.select(Request("GET", path, host))
        return None if route is None else (route.backends[0].service.split(".")[0], route.backends[0].port)

    assert backend("a.example.com:443", "/api/x") == ("api", 80)
    assert backend("a.example.com", "/apix") == ("web", 80)
    assert backend("b.example.com", "/") == ("web", 8080)
    assert backend("example.com", "/") is None


def test_client_hello_sni_is_read_in_place() -> None:
    bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(bio_in, bio_out, server_hostname="b.example.com")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = bio_out.read()
    assert clienthello.inspect(hello) == clienthello.Hello(True, True, "b.example.com")
    assert not clienthello.inspect(hello[:20]).complete
    assert clienthello.inspect(b"GET / HTTP/1.1\r\n") == clienthello.Hello(True, False)
