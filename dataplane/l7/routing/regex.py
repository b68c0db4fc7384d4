"""RE2 patterns on Python's ``re``.

Envoy compiles every route regex with RE2 (linear time, no back-references,
no look-around) and matches it against the *whole* value.  Python's ``re``
accepts more and spells a few things differently, so a pattern is first
checked for what RE2 would refuse -- a route Envoy rejects must be refused
here too, not silently "work" -- and RE2 spellings Python lacks are
translated (``\\z`` end of text, ``(?<name>...)`` groups, ``\\Q...\\E``
quoting).  Unicode classes (``\\pL``) are RE2 but not ``re``: refused as not
emulated.
"""

from __future__ import annotations

import re
from functools import lru_cache

_QUANTIFIERS = "*+?}"
_REFUSED_GROUPS = {
    "(?=": "look-ahead", "(?!": "look-ahead", "(?<=": "look-behind", "(?<!": "look-behind",
    "(?>": "atomic groups", "(?(": "conditionals", "(?P=": "back-references", "(?#": "comments",
}


def _class_end(pattern: str, start: int) -> int:
    """Index just past the character class opening at ``start``."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    if i >= len(pattern):
        raise ValueError("missing closing ]")
    return i + 1


def _escape(pattern: str, i: int) -> tuple[str, int]:
    """The translation of the escape at ``i`` and the index after it."""
    if i + 1 >= len(pattern):
        raise ValueError("trailing backslash")
    c = pattern[i + 1]
    if c.isdigit() and c != "0":
        raise ValueError("back-references are not RE2")
    if c in "pP":
        raise ValueError("Unicode classes (\\p) are not emulated")
    if c in "ZC":
        raise ValueError(f"\\{c} is not RE2")
    if c == "z":
        return "\\Z", i + 2
    if c == "Q":
        end = pattern.find("\\E", i + 2)
        stop = len(pattern) if end < 0 else end
        return re.escape(pattern[i + 2 : stop]), (len(pattern) if end < 0 else end + 2)
    return pattern[i : i + 2], i + 2


def translate(pattern: str) -> str:
    """``pattern`` (RE2) as a Python pattern with the same meaning; ValueError
    for what RE2 refuses or dpctl does not emulate."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            piece, i = _escape(pattern, i)
            out.append(piece)
            continue
        if c == "[":
            end = _class_end(pattern, i)
            out.append(pattern[i:end])
            i = end
            continue
        if c == "(" and pattern.startswith("(?", i):
            for opening, what in _REFUSED_GROUPS.items():
                if pattern.startswith(opening, i):
                    raise ValueError(f"{what} are not RE2")
            if pattern.startswith("(?<", i):
                out.append("(?P<")
                i += 3
                continue
            flags = re.match(r"\(\?([a-zA-Z-]*)[:)]", pattern[i:])
            if flags and not set(flags.group(1)) <= set("ims-"):  # RE2's U (ungreedy) has no re twin
                raise ValueError(f"flags ({flags.group(1)}) are not RE2 or not emulated")
        if c in _QUANTIFIERS and i + 1 < len(pattern) and pattern[i + 1] in "*+":
            raise ValueError(f"bad repetition operator {c}{pattern[i + 1]}")
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_re2(pattern: str) -> re.Pattern[str]:
    """The compiled form of an RE2 pattern (cached: tables reuse patterns)."""
    try:
        return re.compile(translate(pattern))
    except re.error as error:
        raise ValueError(str(error)) from None


def check(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable RE2 pattern, or None."""
    try:
        compile_re2(pattern)
    except ValueError as error:
        return f"invalid regular expression {pattern!r}: {error}"
    return None


def full_match(pattern: str, value: str) -> bool:
    """Envoy's regex matchers match the whole value, never a part of it."""
    return compile_re2(pattern).fullmatch(value) is not None
