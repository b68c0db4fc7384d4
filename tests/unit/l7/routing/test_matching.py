"""Every kind of match and its edges, as Envoy evaluates them."""

from __future__ import annotations

import pytest

from dataplane.l7.routing.matching import matches, path_matches, query_value
from dataplane.l7.routing.model import Match, PathMatch, ValueMatch

from .helpers import get

ABC_SEGMENTS = PathMatch("PathPrefix", "/abc")


@pytest.mark.parametrize(
    ("path", "hit"),
    [("/abc", True), ("/abc/", True), ("/abc/def", True), ("/abc?x=1", True), ("/abcd", False), ("/ab", False),
     ("/ABC", False)],
)
def test_httproute_path_prefix_is_element_wise(path: str, hit: bool) -> None:
    assert path_matches(ABC_SEGMENTS, path) is hit


def test_path_prefix_slash_matches_everything() -> None:
    assert path_matches(PathMatch("PathPrefix", "/"), "/anything/at/all")


@pytest.mark.parametrize(("path", "hit"), [("/abc", True), ("/abcd", True), ("/abc/x", True), ("/ab", False)])
def test_virtualservice_prefix_is_a_plain_string_prefix(path: str, hit: bool) -> None:
    assert path_matches(PathMatch("Prefix", "/abc"), path) is hit


def test_virtualservice_prefix_sees_the_query_like_envoy() -> None:
    assert path_matches(PathMatch("Prefix", "/a?debug"), "/a?debug=1")


def test_exact_ignores_the_query_string() -> None:
    exact = PathMatch("Exact", "/api")
    assert path_matches(exact, "/api") and path_matches(exact, "/api?x=1")
    assert not path_matches(exact, "/api/") and not path_matches(exact, "/API")


def test_ignore_uri_case() -> None:
    assert path_matches(PathMatch("Exact", "/api", ignore_case=True), "/API")
    assert path_matches(PathMatch("Prefix", "/Api", ignore_case=True), "/aPI/x")


def test_regex_is_a_full_match_of_the_path_without_query() -> None:
    regex = PathMatch("RegularExpression", "/users/[0-9]+")
    assert path_matches(regex, "/users/42?verbose=1")
    assert not path_matches(regex, "/users/42/orders")
    assert not path_matches(regex, "/v1/users/42")


def test_header_names_are_case_insensitive_values_are_not() -> None:
    match = Match(headers=(ValueMatch("end-user", "Exact", "jason"),))
    assert matches(match, get(headers=(("end-user", "jason"),)))
    assert not matches(match, get(headers=(("end-user", "Jason"),)))
    assert not matches(match, get())


def test_a_repeated_header_is_matched_as_its_joined_values() -> None:
    request = get(headers=(("x-tag", "a"), ("x-tag", "b")))
    assert matches(Match(headers=(ValueMatch("x-tag", "Exact", "a,b"),)), request)
    assert not matches(Match(headers=(ValueMatch("x-tag", "Exact", "a"),)), request)


def test_header_prefix_regex_and_presence() -> None:
    request = get(headers=(("user-agent", "curl/8.5.0"),))
    assert matches(Match(headers=(ValueMatch("user-agent", "Prefix", "curl/"),)), request)
    assert matches(Match(headers=(ValueMatch("user-agent", "RegularExpression", r"curl/[0-9.]+"),)), request)
    assert not matches(Match(headers=(ValueMatch("user-agent", "RegularExpression", "curl"),)), request)
    assert matches(Match(headers=(ValueMatch("user-agent", "Present"),)), request)


def test_without_headers_matches_an_absent_header_and_a_different_value() -> None:
    without = Match(headers=(ValueMatch("x-canary", "Exact", "1", invert=True),))
    assert matches(without, get())
    assert matches(without, get(headers=(("x-canary", "0"),)))
    assert not matches(without, get(headers=(("x-canary", "1"),)))


def test_pseudo_headers() -> None:
    assert matches(Match(headers=(ValueMatch(":authority", "Prefix", "reviews"),)), get())
    assert matches(Match(headers=(ValueMatch(":method", "RegularExpression", "GET|HEAD"),)), get())


def test_query_params_first_occurrence_and_decoding() -> None:
    assert query_value("a=1&a=2", "a") == "1"
    assert query_value("name=J%C3%A9r%C3%B4me", "name") == "Jérôme"
    assert query_value("flag&x=1", "flag") == ""
    assert query_value("x=1", "y") is None
    match = Match(query=(ValueMatch("debug", "Exact", "true"),))
    assert matches(match, get("/?debug=true"))
    assert not matches(match, get("/?debug=false")) and not matches(match, get("/"))
    assert not matches(match, get("/?Debug=true"))  # query names are case-sensitive


def test_method() -> None:
    assert matches(Match(method="POST"), get(method="POST"))
    assert not matches(Match(method="POST"), get())


def test_conditions_are_anded_and_an_empty_match_matches_all() -> None:
    both = Match(PathMatch("Exact", "/a"), "GET", (ValueMatch("x", "Exact", "1"),))
    assert matches(both, get("/a", (("x", "1"),)))
    assert not matches(both, get("/a"))
    assert matches(Match(), get("/whatever"))
