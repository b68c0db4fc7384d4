"""RE2 patterns: what Envoy would refuse is refused, RE2 spellings translated."""

from __future__ import annotations

import pytest

from dataplane.l7.routing.regex import check, full_match


def test_a_regex_matches_the_whole_value_only() -> None:
    assert full_match("/api/v[0-9]+", "/api/v12")
    assert not full_match("/api/v[0-9]+", "/api/v12/users")
    assert not full_match("v[0-9]+", "/api/v1")


@pytest.mark.parametrize(
    "pattern", ["(a", "a(?=b)", "(?<!a)b", r"(a)\1", "(?P<x>a)(?P=x)", "a*+", "a++", "(?>a)", r"\pL", r"a\Z", "(?x)a"]
)
def test_what_re2_or_the_emulation_refuses_is_reported(pattern: str) -> None:
    why = check(pattern)
    assert why is not None and repr(pattern) in why


def test_re2_spellings_work() -> None:
    assert check(r"abc\z") is None and full_match(r"abc\z", "abc")
    assert full_match(r"(?<version>v[0-9])/x", "v1/x")
    assert full_match(r"\Q1+1\E=2", "1+1=2")
    assert full_match("(?i)/API", "/api")
    assert full_match("[]a]+", "]a]")


def test_lazy_quantifiers_are_re2() -> None:
    assert check("a*?b") is None
