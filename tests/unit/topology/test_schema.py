from __future__ import annotations

from typing import Any

import pytest

from dataplane.topology.schema import (
    Bool,
    Enum,
    Ignored,
    Int,
    IntOrStr,
    ListOf,
    Obj,
    Str,
    StrMap,
    Unsupported,
    check,
    valid_items,
)


def run(schema: Any, value: Any) -> tuple[Any, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []

    def report(path: str, message: str, *, at: str | None = None) -> None:
        problems.append((path, message))

    return check(schema, value, report), problems


@pytest.mark.parametrize(
    ("schema", "value", "message"),
    [
        (Int(), "two", "expected an integer, got string 'two'"),
        (Int(), True, "expected an integer, got boolean true"),
        (Int(), 1.5, "expected an integer, got number 1.5"),
        (Str(), 5, "expected a string, got integer 5"),
        (Str(), [1], "expected a string, got a list"),
        (Bool(), "yes please", "expected a boolean (true or false), got string 'yes please'"),
        (IntOrStr(), {}, "expected an integer or a string, got a mapping"),
        (ListOf(Int()), {"a": 1}, "expected a list, got a mapping"),
        (StrMap(), "x", "expected a mapping of strings, got string 'x'"),
    ],
)
def test_a_wrong_type_names_what_was_expected_and_what_was_found(schema: Any, value: Any, message: str) -> None:
    wrapped = Obj({"f": schema})
    clean, problems = run(wrapped, {"f": value})
    assert clean == {}
    assert problems == [("f", message)]


def test_unknown_fields_are_refused_with_a_suggestion() -> None:
    _, problems = run(Obj({"replicas": Int(), "selector": Str()}), {"replica": 2, "zzz": 1})
    assert problems == [
        ("", "unknown field 'replica'; did you mean 'replicas'?"),
        ("", "unknown field 'zzz'"),
    ]


def test_ignored_fields_are_accepted_and_dropped_and_null_means_unset() -> None:
    clean, problems = run(Obj({"image": Ignored(), "name": Str()}), {"image": "nginx", "name": None})
    assert (clean, problems) == ({}, [])


def test_open_objects_ignore_unknown_fields() -> None:
    clean, problems = run(Obj({"a": Int()}, open=True), {"a": 1, "phase": "Running"})
    assert (clean, problems) == ({"a": 1}, [])


def test_missing_required_fields_are_reported_at_their_parent() -> None:
    _, problems = run(Obj({"spec": Obj({"name": Str()}, required=("name",))}), {"spec": {}})
    assert problems == [("spec", "missing required field 'name'")]


def test_lists_keep_their_indexes_when_an_item_is_invalid() -> None:
    clean, problems = run(ListOf(Obj({"a": Int()}), min_items=1), [{"a": 1}, "x", None])
    assert clean == [{"a": 1}, None, None]
    assert valid_items(clean) == [(0, {"a": 1})]
    assert problems == [("[1]", "expected a mapping, got string 'x'"), ("[2]", "expected an item, got null")]
    _, problems = run(ListOf(Int(), min_items=1), [])
    assert problems == [("", "must list at least 1 item")]


def test_string_maps_want_string_values() -> None:
    clean, problems = run(StrMap(), {"version": 1, "app": "web"})
    assert clean == {"app": "web"}
    assert problems == [("version", "expected a string, got integer 1 (quote it)")]


def test_enums_and_unsupported_values() -> None:
    protocol = Enum(("TCP", "UDP"), unsupported=("SCTP",))
    assert run(protocol, "SCTP")[1] == [("", "SCTP is not supported (dpctl supports TCP, UDP)")]
    assert run(protocol, "tcp")[1] == [("", "must be one of TCP, UDP; got 'tcp'")]
    assert run(Obj({"x": Unsupported("use y")}), {"x": 1})[1] == [("x", "not supported: use y")]
