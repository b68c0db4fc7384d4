"""Route regexes on RE2 itself (google-re2), as Envoy compiles them.

Envoy compiles every route regex with RE2 -- linear-time matching, no
back-references, no look-around -- and matches it against the *whole* value.
Using the same engine means a pattern Envoy refuses is refused here with
RE2's own message, every RE2 spelling (``\\z``, ``(?<name>...)``,
``\\Q...\\E``, ``\\pL``) works, and a hostile pattern cannot stall a
waypoint with backtracking.  RE2's errors go to the caller, not to stderr.
"""

from __future__ import annotations

from functools import lru_cache

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # refusals are reported with the field path, not logged by the library


@lru_cache(maxsize=4096)
def compile_re2(pattern: str) -> re2._Regexp:
    """The compiled pattern (cached: route tables reuse patterns); ValueError if RE2 refuses it."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as error:
        detail = error.args[0] if error.args else error
        raise ValueError(detail.decode() if isinstance(detail, bytes) else str(detail)) from None


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
