"""Does a request satisfy a Match?  Envoy's semantics, condition by condition.

Exact and regex path matches look at the path without its query (Envoy
strips it); a VirtualService prefix is a plain string prefix of the whole
``:path``, so ``/abc`` matches ``/abcd``; an HTTPRoute PathPrefix is
element-wise, so it does not.  A repeated header is matched as its values
joined by ",".  Query parameters are percent-decoded, the first occurrence of
a name counting.
"""

from __future__ import annotations

from urllib.parse import unquote

from . import regex
from .model import Match, PathMatch, Request, ValueMatch


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request target; the query without its "?"."""
    path, _, query = target.partition("?")
    return path, query


def query_value(query: str, name: str) -> str | None:
    """The first value of ``name`` in a query string ("" for a bare ``name``)."""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote(key) == name:
            return unquote(value)
    return None


def segment_prefix(prefix: str, path: str) -> bool:
    """HTTPRoute PathPrefix: ``prefix`` (kept without a trailing "/") is the
    path itself or a run of whole path elements of it."""
    return prefix in ("", "/") or path == prefix or path.startswith(prefix + "/")


def path_matches(match: PathMatch, target: str) -> bool:
    path, _ = split_target(target)
    if match.kind == "RegularExpression":
        return regex.full_match(match.value, path)  # Envoy ignores case_sensitive for regex
    if match.kind == "PathPrefix":
        return segment_prefix(match.value, path)
    value = match.value
    if match.ignore_case:
        value, path, target = value.lower(), path.lower(), target.lower()
    if match.kind == "Exact":
        return path == value
    return target.startswith(value)  # "Prefix": the whole :path, query included, as Envoy's prefix


def value_matches(match: ValueMatch, value: str | None) -> bool:
    """One header/query condition; ``invert`` (withoutHeaders) holds when the
    header is absent too."""
    if value is None:
        return match.invert
    if match.kind == "Present":
        hit = True
    elif match.kind == "Exact":
        hit = value == match.value
    elif match.kind == "Prefix":
        hit = value.startswith(match.value)
    else:
        hit = regex.full_match(match.value, value)
    return hit != match.invert


def matches(match: Match, request: Request) -> bool:
    """Every condition of ``match`` holds for ``request`` (ports are decided
    when a table is built for one port, not here)."""
    if match.path is not None and not path_matches(match.path, request.path):
        return False
    if match.method is not None and request.method != match.method:
        return False
    if not all(value_matches(h, request.header(h.name)) for h in match.headers):
        return False
    _, query = split_target(request.path)
    return all(value_matches(q, query_value(query, q.name)) for q in match.query)
