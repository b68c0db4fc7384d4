"""Requests that reach one route of a route table, made up from its match.

The l7 check tests a rule by sending requests the rule should take; a
request that an earlier route (by precedence or document order) also matches
would test that route instead.  So candidates are made from the route's
conditions (the path's value and a longer one under it, each header and
query condition satisfied, withoutHeaders left out) and kept only when the
table itself (``RouteTable.select``, the code the waypoint runs) picks this
route.  Regular expressions are filled in by a few common shapes (``.*``,
``.+``, ``[^/]+``, ``\\d+``, ...) and the result checked with RE2; a
pattern none of them satisfies makes the route "not checkable" rather than a
guess.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from urllib.parse import quote

from dataplane.l7.routing import regex
from dataplane.l7.routing.model import Match, PathMatch, Request, Route, ValueMatch
from dataplane.l7.routing.table import RouteTable

FILLER = "dpctl-verify"
MAX_CANDIDATES = 64
_SHAPES = (  # (regex piece, a string it matches), longest pieces first
    (".*", ""), (".+", "x"), ("[^/]+", "x"), ("[^/]*", ""), ("\\d+", "1"), ("\\d*", ""), ("[0-9]+", "1"),
    ("[0-9]*", ""), ("\\w+", "x"), ("\\w*", ""), ("[a-z]+", "x"), ("[a-zA-Z]+", "x"), ("[a-z0-9]+", "x"),
)
_ESCAPED = ("\\.", "\\/", "\\-", "\\?", "\\+", "\\*", "\\(", "\\)", "\\[", "\\]")


def regex_example(pattern: str) -> str | None:
    """A string RE2 fully matches with ``pattern``, when the pattern is a literal with common wildcards."""
    text = pattern.removeprefix("^").removesuffix("$")
    for piece, example in _SHAPES:
        text = text.replace(piece, example)
    for escaped in _ESCAPED:
        text = text.replace(escaped, escaped[1])
    return text if regex.full_match(pattern, text) else None


def value_options(match: ValueMatch) -> list[str | None]:
    """Values (None: leave it out) that satisfy one header or query condition."""
    if match.invert:
        return [None, FILLER]
    if match.kind == "Present":
        return [FILLER]
    if match.kind == "RegularExpression":
        example = regex_example(match.value)
        return [example] if example is not None else []
    return [match.value]  # Exact, and Prefix by its prefix alone


def path_options(path: PathMatch | None) -> list[str]:
    """Paths the match takes: its own value first, then one under it (past an earlier, more exact route)."""
    if path is None:
        return ["/", f"/{FILLER}"]
    if path.kind == "Exact":
        return [path.value]
    if path.kind == "RegularExpression":
        example = regex_example(path.value)
        return [example] if example is not None else []
    stem = path.value if path.value not in ("", "/") else "/"
    under = stem + ("" if stem.endswith("/") else "/") + FILLER
    return [stem, under]


def _methods(options: list[str | None]) -> list[str]:
    """A ``:method`` header condition's values; a negated one (None) tries the common methods."""
    return [m for m in options if m is not None and m != FILLER] or ["GET", "POST", "PUT"]


def candidates(match: Match, authority: str) -> Iterator[Request]:
    """Requests satisfying ``match`` (at most ``MAX_CANDIDATES``), the plainest first."""
    pseudo = {h.name: value_options(h) for h in match.headers if h.name.startswith(":")}
    headers = [h for h in match.headers if not h.name.startswith(":")]
    methods = [match.method] if match.method else _methods(pseudo.pop(":method", ["GET"]))
    authorities = pseudo.pop(":authority", [authority])
    if pseudo:  # ":path" / ":scheme" conditions: not made up
        return
    header_choices = [value_options(h) for h in headers]
    query_choices = [value_options(q) for q in match.query]
    combos = itertools.product(
        path_options(match.path), methods, authorities, itertools.product(*header_choices),
        itertools.product(*query_choices),
    )
    for path, method, host, values, queries in itertools.islice(combos, MAX_CANDIDATES):
        if host is None:
            continue
        query = "&".join(f"{quote(q.name)}={quote(v)}" for q, v in zip(match.query, queries, strict=True) if v is not None)
        sent = tuple((h.name, v) for h, v in zip(headers, values, strict=True) if v is not None)
        yield Request(method, path + (f"?{query}" if query else ""), host, headers=sent)


def reaching(table: RouteTable, route: Route, authority: str) -> Iterator[Request]:
    """The candidates of ``route`` that ``table`` routes to it (not to an earlier route)."""
    return (request for request in candidates(route.match, authority) if table.select(request) is route)


def blocker(table: RouteTable, route: Route, authority: str) -> str:
    """Why no request reaches ``route``: the earlier route that takes its candidates, or the condition made up from nothing."""
    for request in candidates(route.match, authority):
        taken = table.select(request)
        if taken is not None and taken is not route:
            return f"the requests it matches go to {taken.origin} first"
    return "no request could be made up from its match (a regex, :path or :scheme condition)"
