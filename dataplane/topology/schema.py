"""A tiny declarative schema: strict type checks with messages a user can act on.

Each kind's fields are declared once (in ``kinds``) and checked here, so the
code that turns documents into objects can trust types and never repeats an
``isinstance`` test.  Checking is strict like the Kubernetes API server: an
unknown field is a problem (a typo such as ``replica`` must not be silently
ignored), a wrong type names what was expected and what was found.  Fields
Kubernetes defines but dpctl does not emulate are declared ``Ignored`` so that
pasted manifests still load.

``check`` returns a *clean* value: ignored fields, nulls and values of the
wrong type are dropped from mappings; a list keeps its length (an invalid
item becomes ``None``) so indexes in later messages still point at the file.
"""

from __future__ import annotations

import datetime
import difflib
from dataclasses import dataclass
from typing import Any, Protocol

from .yamlsource import child_path, item_path


class Report(Protocol):
    def __call__(self, path: str, message: str, *, at: str | None = None) -> None:
        """File a problem about ``path``; ``at`` is the path whose line to show, if not ``path``."""


class _Invalid:
    """Marker for a value that failed its check (``None`` is a legal YAML value)."""


INVALID: Any = _Invalid()


def describe(value: Any) -> str:
    """How a found value is named in a message: ``string 'two'``, ``integer 5``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"timestamp {value.isoformat()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


class Field(Protocol):
    def check(self, value: Any, path: str, report: Report) -> Any:
        """The clean value, or ``INVALID`` after reporting why."""


def _expect(what: str, value: Any, path: str, report: Report) -> Any:
    report(path, f"expected {what}, got {describe(value)}")
    return INVALID


class Str:
    def check(self, value: Any, path: str, report: Report) -> Any:
        return value if isinstance(value, str) else _expect("a string", value, path, report)


class Int:
    def check(self, value: Any, path: str, report: Report) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return _expect("an integer", value, path, report)


class Num:
    """A number, integer or not (Istio's ``percentage.value`` is a double)."""

    def check(self, value: Any, path: str, report: Report) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        return _expect("a number", value, path, report)


class Bool:
    def check(self, value: Any, path: str, report: Report) -> Any:
        return value if isinstance(value, bool) else _expect("a boolean (true or false)", value, path, report)


class Timestamp:
    """An RFC 3339 time: kubectl writes it quoted (a string), YAML reads it bare as a datetime."""

    def check(self, value: Any, path: str, report: Report) -> Any:
        if isinstance(value, (str, datetime.date)):
            return value
        return _expect("a timestamp", value, path, report)


class IntOrStr:
    """Kubernetes' IntOrString, e.g. a Service ``targetPort`` (number or port name)."""

    def check(self, value: Any, path: str, report: Report) -> Any:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        return _expect("an integer or a string", value, path, report)


@dataclass(frozen=True)
class Enum:
    """A string from a fixed set; ``unsupported`` values are valid Kubernetes but not emulated."""

    choices: tuple[str, ...]
    unsupported: tuple[str, ...] = ()

    def check(self, value: Any, path: str, report: Report) -> Any:
        if not isinstance(value, str):
            return _expect("a string", value, path, report)
        if value in self.unsupported:
            report(path, f"{value} is not supported (dpctl supports {', '.join(self.choices)})")
            return INVALID
        if value not in self.choices:
            report(path, f"must be one of {', '.join(self.choices)}; got {value!r}")
            return INVALID
        return value


class StrMap:
    """A string → string map (labels, annotations, selectors)."""

    def check(self, value: Any, path: str, report: Report) -> Any:
        if not isinstance(value, dict):
            return _expect("a mapping of strings", value, path, report)
        clean = {}
        for key, item in value.items():
            sub = child_path(path, key)
            if not isinstance(key, str):
                report(sub, f"keys must be strings, got {describe(key)}")
            elif not isinstance(item, str):
                report(sub, f"expected a string, got {describe(item)} (quote it)")
            else:
                clean[key] = item
        return clean


@dataclass(frozen=True)
class MapOf:
    """A mapping from any string key to values of one kind (Istio's header matches)."""

    item: Field

    def check(self, value: Any, path: str, report: Report) -> Any:
        if not isinstance(value, dict):
            return _expect("a mapping", value, path, report)
        clean = {}
        for key, item in value.items():
            sub = child_path(path, key)
            if not isinstance(key, str):
                report(sub, f"keys must be strings, got {describe(key)}")
                continue
            checked = self.item.check(item, sub, report)
            if checked is not INVALID:
                clean[key] = checked
        return clean


@dataclass(frozen=True)
class ListOf:
    item: Field
    min_items: int = 0

    def check(self, value: Any, path: str, report: Report) -> Any:
        if not isinstance(value, list):
            return _expect("a list", value, path, report)
        if len(value) < self.min_items:
            report(path, f"must list at least {self.min_items} item{'s' if self.min_items != 1 else ''}")
        clean: list[Any] = []
        for i, item in enumerate(value):
            sub = item_path(path, i)
            if item is None:
                report(sub, "expected an item, got null")
                clean.append(None)
                continue
            checked = self.item.check(item, sub, report)
            clean.append(None if checked is INVALID else checked)
        return clean


class Ignored:
    """Accepted because pasted Kubernetes manifests carry it, but not emulated."""

    def check(self, value: Any, path: str, report: Report) -> Any:
        return INVALID  # never kept, never reported


@dataclass(frozen=True)
class Unsupported:
    """A real Kubernetes field dpctl cannot honour; saying so beats ignoring it."""

    reason: str

    def check(self, value: Any, path: str, report: Report) -> Any:
        report(path, f"not supported: {self.reason}")
        return INVALID


@dataclass(frozen=True)
class Obj:
    """A mapping with known fields; ``open`` objects (e.g. ``status``) ignore unknown ones."""

    fields: dict[str, Field]
    required: tuple[str, ...] = ()
    open: bool = False

    def check(self, value: Any, path: str, report: Report) -> Any:
        if not isinstance(value, dict):
            return _expect("a mapping", value, path, report)
        clean = {}
        for key, item in value.items():
            spec = self.fields.get(key) if isinstance(key, str) else None
            if spec is None:
                if not self.open:
                    report(path, _unknown(key, tuple(self.fields)), at=child_path(path, key))
                continue
            if item is None:
                continue  # null means "not set", as in the Kubernetes API
            checked = spec.check(item, child_path(path, key), report)
            if checked is not INVALID:
                clean[key] = checked
        for name in self.required:
            if value.get(name) is None:
                report(path, f"missing required field '{name}'")
        return clean


def _unknown(key: Any, known: tuple[str, ...]) -> str:
    message = f"unknown field '{key}'"
    close = difflib.get_close_matches(str(key), known, n=1)
    return f"{message}; did you mean '{close[0]}'?" if close else message


def compact(value: Any) -> Any:
    """``value`` (checked) without the list items that failed their check, at any depth.

    For code that reads a whole checked spec, like the L7 routing and edge
    translators: the failed items were reported already, and what passed is
    theirs to read without looking for holes."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value if v is not None]
    return value


def valid_items(values: list[Any]) -> list[tuple[int, Any]]:
    """The items of a checked list that passed, each with its index in the file."""
    return [(i, v) for i, v in enumerate(values) if v is not None]


def check(schema: Field, value: Any, report: Report) -> Any:
    """Check a whole document; the clean value (``{}`` if the top level is wrong)."""
    clean = schema.check(value, "", report)
    return {} if clean is INVALID else clean
