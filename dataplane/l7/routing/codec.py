"""Routing values <-> plain JSON values, driven by type hints.

The Plan keeps normalized routes and policies in plan.json and every reader
(agents, read commands) must get back exactly what was written.  Rather than
a hand-written (and drifting) serializer per class, one walk over the type
hints handles every model class: frozen dataclasses become objects with one
key per field, in field order (so the same value always gives the same
bytes), tuples become lists, bytes become base64 text.  Decoding checks
every value against its hint and names the path of the first mismatch, so a
damaged plan.json fails loudly instead of routing wrongly.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import types
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """A JSON-ready form of a model value (dataclass, tuple, scalar)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [to_json(item) for item in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"cannot encode {type(value).__name__}")


def from_json(kind: type[T], data: Any) -> T:
    """The ``kind`` value ``data`` encodes; ValueError naming the path of a
    mismatch."""
    result: T = _decode(kind, data, "$")
    return result


@cache
def _hints(kind: type) -> dict[str, Any]:
    return get_type_hints(kind)


def _fail(where: str, expected: str, data: Any) -> ValueError:
    return ValueError(f"{where}: expected {expected}, got {type(data).__name__} {data!r:.60}")


def _dataclass(kind: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise _fail(where, f"an object for {kind.__name__}", data)
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r} for {kind.__name__}")
    hints = _hints(kind)
    values = {}
    for name, spec in fields.items():
        if name in data:
            values[name] = _decode(hints[name], data[name], f"{where}.{name}")
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ValueError(f"{where}: missing field {name!r} of {kind.__name__}")
    return kind(**values)


def _tuple(args: tuple[Any, ...], data: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(data, list):
        raise _fail(where, "a list", data)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], item, f"{where}[{i}]") for i, item in enumerate(data))
    if len(data) != len(args):
        raise ValueError(f"{where}: expected {len(args)} items, got {len(data)}")
    return tuple(_decode(arg, item, f"{where}[{i}]") for i, (arg, item) in enumerate(zip(args, data)))


def _scalar(kind: type, data: Any, where: str) -> Any:
    if kind is bool:
        if isinstance(data, bool):
            return data
    elif kind is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif kind is float:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
    elif kind is str:
        if isinstance(data, str):
            return data
    elif kind is bytes:
        if isinstance(data, str):
            try:
                return base64.b64decode(data, validate=True)
            except binascii.Error:
                raise _fail(where, "base64 text", data) from None
    else:
        raise TypeError(f"{where}: cannot decode {kind!r}")
    raise _fail(where, kind.__name__, data)


def _decode(hint: Any, data: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(options) != 1:
            raise TypeError(f"{where}: only X | None unions are supported")
        return None if data is None else _decode(options[0], data, where)
    if origin is tuple:
        return _tuple(get_args(hint), data, where)
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint, data, where)  # type: ignore[arg-type]
    return _scalar(hint, data, where)
