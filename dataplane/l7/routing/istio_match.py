"""VirtualService ``http[].match[]`` -> Match, and the header operations.

A match's ``uri`` prefix stays a plain string prefix (Envoy ``prefix``);
``method``, ``scheme`` and ``authority`` become matches on the ``:method``,
``:scheme`` and ``:authority`` pseudo-headers, as Istio writes them; an empty
string match in ``headers``, ``withoutHeaders`` or ``queryParams`` means
"present".  What a waypoint drops -- ``sourceLabels`` (the waypoint does not
select on the client's labels), ``sourceNamespace``, matches bound only to
gateways -- is announced, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import regex
from .model import HeaderModifier, Headers, Match, PathMatch, Report, ValueMatch
from .values import DEFAULT_DOMAIN

KINDS = {"exact": "Exact", "prefix": "Prefix", "regex": "RegularExpression"}
PSEUDO = {"method": ":method", "scheme": ":scheme", "authority": ":authority"}
HEADER_NAME = re.compile(r"[-_A-Za-z0-9]+")
RESERVED_HEADER_KEYS = ("uri", "scheme", "method", "authority")  # "will be ignored" as header names


@dataclass(frozen=True)
class Context:
    namespace: str
    report: Report
    warn: Report
    domain: str = DEFAULT_DOMAIN


def string_match(where: str, spec: Mapping[str, str], ctx: Context, present: bool) -> tuple[str, str] | None:
    """(kind, value) of an Istio StringMatch; ``{}`` is "present" where
    ``present`` allows it."""
    keys = [k for k in KINDS if k in spec]
    if not keys:
        if present:
            return "Present", ""
        ctx.report(where, "set one of exact, prefix or regex")
        return None
    if len(keys) > 1:
        ctx.report(where, f"set one of exact, prefix or regex, not {' and '.join(keys)}")
        return None
    key = keys[0]
    if key == "regex" and (why := regex.check(spec[key])):
        ctx.report(f"{where}.regex", why)
        return None
    return KINDS[key], spec[key]


def _header_name(where: str, name: str, ctx: Context) -> str:
    """Istio's header-name check; names compare case-insensitively, so kept lower case."""
    if not HEADER_NAME.fullmatch(name):
        ctx.report(where, f"{name!r} is not a valid header name (letters, digits, - and _)")
    return name.lower()


def _values(
    where: str, specs: Mapping[str, Mapping[str, str]], ctx: Context, headers: bool, invert: bool = False
) -> list[ValueMatch]:
    out: list[ValueMatch] = []
    for name, spec in specs.items():
        at = f"{where}.{name}"
        if headers and name in RESERVED_HEADER_KEYS:
            ctx.warn(at, f"Istio ignores {name!r} as a header name: match on {name} instead")
            continue
        key = _header_name(at, name, ctx) if headers else name
        found = string_match(at, spec, ctx, present=True)
        if found is not None:
            out.append(ValueMatch(key, found[0], found[1], invert))
    return out


def match(where: str, spec: Mapping[str, Any], ctx: Context) -> Match | None:
    """The Match of one ``match[]`` entry, or None when waypoints do not use it."""
    if "gateways" in spec and "mesh" not in spec["gateways"]:
        ctx.warn(f"{where}.gateways", "bound to gateways only (no \"mesh\"): waypoints never use this match")
        return None
    for dropped in ("sourceLabels", "sourceNamespace"):
        if dropped in spec:
            ctx.warn(f"{where}.{dropped}", "not supported on waypoints: dropped, the match applies to every client")
    if "statPrefix" in spec:
        ctx.warn(f"{where}.statPrefix", "not emulated: no per-route statistics")
    path = None
    if "uri" in spec and (uri := string_match(f"{where}.uri", spec["uri"], ctx, present=False)):
        ignore_case = bool(spec.get("ignoreUriCase", False))
        if ignore_case and uri[0] == "RegularExpression":
            ctx.warn(f"{where}.ignoreUriCase", "has no effect on a regex (Envoy ignores case_sensitive there)")
        path = PathMatch(uri[0], uri[1], ignore_case and uri[0] != "RegularExpression")
    headers = _values(f"{where}.headers", spec.get("headers", {}), ctx, headers=True)
    for key, pseudo in PSEUDO.items():
        if key in spec and (found := string_match(f"{where}.{key}", spec[key], ctx, present=False)):
            headers.append(ValueMatch(pseudo, found[0], found[1]))
    headers += _values(f"{where}.withoutHeaders", spec.get("withoutHeaders", {}), ctx, headers=True, invert=True)
    query = _values(f"{where}.queryParams", spec.get("queryParams", {}), ctx, headers=False)
    return Match(path, None, tuple(headers), tuple(query), spec.get("port"))


def header_operations(where: str, spec: Mapping[str, Any], ctx: Context) -> HeaderModifier:
    """Istio ``headers.request|response``: ``set`` and ``add`` maps, ``remove`` list."""

    def pairs(key: str) -> Headers:
        return tuple((_header_name(f"{where}.{key}.{n}", n, ctx), v) for n, v in spec.get(key, {}).items())

    remove = tuple(_header_name(f"{where}.remove[{i}]", n, ctx) for i, n in enumerate(spec.get("remove", [])))
    return HeaderModifier(pairs("set"), pairs("add"), remove)
