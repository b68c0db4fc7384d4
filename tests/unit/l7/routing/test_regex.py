"""RE2 patterns: what Envoy would refuse is refused, RE2 spellings work, matching is linear."""

from __future__ import annotations

import pytest

from dataplane.l7.routing.regex import check, full_match


def test_a_regex_matches_the_whole_value_only() -> None:
    assert full_match("/api/v[0-9]+", "/api/v12")
    assert not full_match("/api/v[0-9]+", "/api/v12/users")
    assert not full_match("v[0-9]+", "/api/v1")


@pytest.mark.parametrize(
    "pattern", ["(a", "a(?=b)", "(?<!a)b", r"(a)\1", "(?P<x>a)(?P=x)", "a*+", "a++", "a**", "(?>a)", r"a\Z", "(?x)a"]
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


def test_unicode_classes_are_re2() -> None:
    assert full_match(r"\pL+", "caf\u00e9")


def test_a_backtracking_bomb_matches_in_linear_time() -> None:
    import time

    started = time.monotonic()
    assert not full_match("(a+)+$", "a" * 5000 + "!")  # Python's re would take ages
    assert time.monotonic() - started < 1.0
