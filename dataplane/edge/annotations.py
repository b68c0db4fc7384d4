"""Reading ``alb.ingress.kubernetes.io/`` annotations the way the LBC's
annotation parser does (``pkg/annotations/parser.go``), reporting a bad
value under the annotation's field path.

A ``Reader`` looks through layers of annotations in priority order, so
target-group settings read a Service's annotations before its Ingress's
(the LBC merges them with the Service winning, key by key), and a problem
is reported against the object whose annotation was read.  Paths look like
``Ingress shop/web: metadata.annotations["alb.ingress.kubernetes.io/scheme"]``:
the object, then the field, as the topology layer writes field paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from .albmodel import Report

T = TypeVar("T")

PREFIX = "alb.ingress.kubernetes.io/"

# What the emulator honours; anything else under PREFIX gets a warning.
GROUP_KEYS = ("group.name", "group.order")
INGRESS_KEYS = (
    "scheme", "listen-ports", "certificate-arn", "ssl-redirect", "ssl-policy", "load-balancer-attributes",
)
TARGET_GROUP_KEYS = (
    "target-type", "backend-protocol", "healthcheck-path", "healthcheck-port", "healthcheck-protocol",
    "healthcheck-interval-seconds", "healthcheck-timeout-seconds", "healthy-threshold-count",
    "unhealthy-threshold-count", "success-codes", "target-group-attributes",
)

_INT32 = re.compile(r"[+-]?[0-9]+")  # Go's strconv.ParseInt: an optional sign, decimal digits, nothing else
_CODES = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def field(key: str) -> str:
    """The field path of an annotation (its key holds '/' and '.', so it is quoted)."""
    return f'metadata.annotations["{key}"]'


def parse_int32(text: str) -> int:
    if not _INT32.fullmatch(text) or not -(2**31) <= int(text) < 2**31:
        raise ValueError(f"{text!r} is not an integer")
    return int(text)


def parse_list(text: str) -> list[str]:
    """A stringList: comma-separated, blanks trimmed, empty items dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_map(text: str) -> dict[str, str]:
    """A stringMap ``k1=v1,k2=v2`` (a ``\\,`` is a literal comma in a value);
    every item needs a non-empty key and an '='."""
    items, current, index = [], "", 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current += text[index + 1]
            index += 1
        elif char == ",":
            items.append(current)
            current = ""
        else:
            current += char
        index += 1
    items.append(current)
    result: dict[str, str] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"{text!r} is not a list of key=value pairs (item {item.strip()!r})")
        result[key.strip()] = value.strip()
    return result


def parse_listen_ports(text: str) -> dict[int, str]:
    """``'[{"HTTP": 80}, {"HTTPS": 443}]'`` to {port: protocol}; a port
    listed twice keeps its last protocol, as the LBC's map does."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as error:
        example = '[{"HTTP": 80}, {"HTTPS": 443}]'
        raise ValueError(f"{text!r} is not JSON ({error.msg}); write e.g. '{example}'") from None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError(f"{text!r} must be a JSON list of objects such as {{\"HTTPS\": 443}}")
    if not entries:
        raise ValueError("empty listen-ports: name at least one port")
    ports: dict[int, str] = {}
    for entry in entries:
        for protocol, port in entry.items():
            if type(port) is not int:  # JSON numbers only: not 80.0, not true
                raise ValueError(f"port {port!r} of {protocol} is not an integer")
            if not 1 <= port <= 65535:
                raise ValueError(f"listen port must be within [1, 65535]: {port}")
            if protocol not in ("HTTP", "HTTPS"):
                raise ValueError(f"listen protocol must be within [HTTP, HTTPS]: {protocol}")
            ports[port] = protocol
    return ports


def parse_success_codes(text: str) -> tuple[tuple[int, int], ...]:
    """``200``, ``200,202`` or ``200-299`` to inclusive ranges; ELBv2 takes
    HTTP codes from 200 to 499 in an ALB's matcher."""
    ranges = []
    for item in text.split(","):
        found = _CODES.fullmatch(item.strip())
        if not found:
            raise ValueError(f"{text!r} is not a list of codes or ranges (e.g. 200,202 or 200-299)")
        low = int(found.group(1))
        high = int(found.group(2)) if found.group(2) else low
        if not 200 <= low <= high <= 499:
            raise ValueError(f"{item.strip()!r}: codes must run upwards within 200-499")
        ranges.append((low, high))
    return tuple(ranges)


class Reader:
    """Annotation values from ``layers`` ((object label, annotations), most
    important first), each problem reported under the layer it came from."""

    def __init__(self, layers: Sequence[tuple[str, Mapping[str, str]]], report: Report):
        self.layers = layers
        self.report = report

    def raw(self, suffix: str) -> tuple[str, str] | None:
        """(value, path) of the first layer that sets ``suffix``."""
        key = PREFIX + suffix
        for label, layer in self.layers:
            if key in layer:
                return layer[key], f"{label}: {field(key)}"
        return None

    def path(self, suffix: str) -> str:
        """Where ``suffix`` is (or would be) set: the most important layer setting it, else the last."""
        found = self.raw(suffix)
        return found[1] if found else f"{self.layers[-1][0]}: {field(PREFIX + suffix)}"

    def string(self, suffix: str, choices: Sequence[str] = ()) -> str | None:
        found = self.raw(suffix)
        if found is None:
            return None
        value, path = found
        if choices and value not in choices:
            self.report(path, f"{value!r} must be one of {', '.join(choices)}")
            return None
        return value

    def integer(self, suffix: str, low: int, high: int) -> int | None:
        found = self.raw(suffix)
        if found is None:
            return None
        value, path = found
        try:
            number = parse_int32(value)
        except ValueError as error:
            self.report(path, str(error))
            return None
        if not low <= number <= high:
            self.report(path, f"{number} must be within [{low}, {high}]")
            return None
        return number

    def parsed(self, suffix: str, parse: Callable[[str], T]) -> T | None:
        """``parse`` applied to the value; its ValueError is the problem reported."""
        found = self.raw(suffix)
        if found is None:
            return None
        value, path = found
        try:
            return parse(value)
        except ValueError as error:
            self.report(path, str(error))
            return None


def warn_unknown(label: str, annotations: Mapping[str, str], known: Sequence[str], warn: Report) -> None:
    """Warn about every key under PREFIX the emulator does not honour."""
    for key in sorted(annotations):
        if key.startswith(PREFIX) and key[len(PREFIX):] not in known:
            warn(f"{label}: {field(key)}", "not emulated: the ALB behaves as if it were not set")
