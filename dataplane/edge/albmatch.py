"""The rule a request meets on an ALB listener.

ELBv2 conditions (ALB user guide, ``rule-condition-types``): ``host-header``
is case-insensitive and ``path-pattern`` case-sensitive; in both ``*``
matches 0 or more characters and ``?`` exactly one, and the pattern must
match the whole value.  The host is compared without its port; the path
without its query string.  Rules are tried in priority order; the first
that matches decides, else the listener's default action.  ``http-header``
and ``query-string`` values are wildcard patterns compared without case;
``http-request-method`` is exact.  A request's headers are (lower-case
name, value) pairs.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl

from .albmodel import Action, Condition, Listener, Rule

Headers = tuple[tuple[str, str], ...]


@lru_cache(maxsize=4096)
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Whether ``value`` matches the ELBv2 wildcard ``pattern`` as a whole."""
    return _pattern(pattern, ignore_case).fullmatch(value) is not None


def host_of(authority: str) -> str:
    """The Host header without its port (``[v6]:port`` keeps the brackets)."""
    if authority.startswith("["):
        return authority[: authority.find("]") + 1] or authority
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def matches(rule: Rule, host: str, target: str, method: str = "GET", headers: Headers = ()) -> bool:
    host = host_of(host)
    path, _, query = target.partition("?")
    return (
        (not rule.hosts or any(wildcard_match(p, host, ignore_case=True) for p in rule.hosts))
        and (not rule.paths or any(wildcard_match(p, path) for p in rule.paths))
        and all(_holds(c, method, headers, query) for c in rule.conditions)
    )


def _holds(condition: Condition, method: str, headers: Headers, query: str) -> bool:
    if condition.field == "http-request-method":
        return method in condition.values
    if condition.field == "http-header":
        values = [v for k, v in headers if k == condition.name.lower()]
    else:
        values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() == condition.name.lower()]
    return any(wildcard_match(p, v, ignore_case=True) for p in condition.values for v in values)


def select(
    listener: Listener, host: str, target: str, method: str = "GET", headers: Headers = ()
) -> tuple[Rule | None, Action]:
    """The first rule matching ``host`` (a Host header), ``target`` (the
    request target), ``method`` and ``headers``, and its action; (None, the
    default) when none does."""
    for rule in listener.rules:
        if matches(rule, host, target, method, headers):
            return rule, rule.action
    return None, listener.default
