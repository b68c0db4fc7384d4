"""ELBv2 conditions: host-header case-insensitive, path-pattern case-
sensitive, ``*`` and ``?`` wildcards over the whole value, first rule wins."""

from __future__ import annotations

import pytest

from dataplane.edge.albmatch import host_of, select, wildcard_match
from dataplane.edge.albmodel import FixedResponse, Forward, Listener, Rule, TargetGroup

A, B, C = (Forward(TargetGroup("shop", name, 80)) for name in "abc")
LISTENER = Listener(
    "HTTP", 80,
    rules=(
        Rule(("*.example.com",), ("/a/*",), A, "r0"),
        Rule(("api?.example.com",), (), B, "r1"),
        Rule((), ("/c", "/c/*"), C, "r2"),
    ),
    default=FixedResponse(),
)


@pytest.mark.parametrize(
    ("host", "path", "source"),
    [
        ("a.example.com", "/a/x", "r0"),
        ("A.Example.COM:8080", "/a/x?q=1", "r0"),  # case-insensitive host, port and query ignored
        ("x.y.example.com", "/a/", "r0"),  # '*' crosses dots
        ("example.com", "/a/x", None),  # '*.example.com' needs something before the dot
        ("api1.example.com", "/A/x", "r1"),  # the path's case matters: r0 does not match /A/x
        ("api12.example.com", "/z", None),  # '?' is exactly one character
        ("other.test", "/c", "r2"),
        ("other.test", "/cx", None),
    ],
)
def test_the_first_matching_rule_decides(host: str, path: str, source: str | None) -> None:
    rule, action = select(LISTENER, host, path)
    assert (rule.source if rule else None) == source
    assert action == (rule.action if rule else FixedResponse())


def test_wildcards_match_the_whole_value_and_escape_the_rest() -> None:
    assert wildcard_match("/a.b", "/a.b") and not wildcard_match("/a.b", "/axb")
    assert wildcard_match("/*", "/") and not wildcard_match("/a", "/a/")
    assert wildcard_match("A*", "abc", ignore_case=True) and not wildcard_match("A*", "abc")


def test_the_port_is_stripped_from_the_host_header() -> None:
    assert [host_of(h) for h in ("a.example.com:443", "a.example.com", "[::1]:80", "[::1]")] == [
        "a.example.com", "a.example.com", "[::1]", "[::1]",
    ]
