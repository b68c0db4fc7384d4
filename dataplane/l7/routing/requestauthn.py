"""RequestAuthentication: its ``jwtRules`` read as istiod writes them for
Envoy's jwt_authn filter, and a request authenticated by them.

istiod turns every rule into one provider and requires *any* of them, or
none (``allow_missing``): a request without a token passes unauthenticated
(an AuthorizationPolicy decides whether that is enough), a request whose
token fails is refused with 401 and jwt_verify_lib's reason as the body
(403 for ``Audiences in Jwt are not allowed``), as Envoy's filter sends it.
With several rules, each looks for tokens in its own locations (default:
``Authorization: Bearer <token>``, then the ``access_token`` query
parameter); a token for another issuer is that rule's "unknown issuer";
one rule accepting all the tokens it found is enough, else Envoy's
aggregation picks the reason (``jwt.py`` for how a token is checked).

A verified token yields the request principal ``<iss>/<sub>`` and its
claims; unless ``forwardOriginalToken``, the header it came in is removed
before the request goes on; ``outputPayloadToHeader`` and
``outputClaimToHeaders`` add headers.  The key set must be inline
(``jwks``): nothing is fetched in the emulation, so ``jwksUri`` alone is a
problem whose message says to paste the key set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import jwt
from .model import Headers, Report, Request
from .replies import LocalReply, jwt_denied

DEFAULT_HEADER = ("authorization", "Bearer ")
DEFAULT_PARAM = "access_token"
OK = "OK"
_JWT_CHARS = re.compile(r"[A-Za-z0-9_.=-]+")  # what Envoy's extractor takes after the prefix
_MAX_URI_PATH = 256  # Envoy's realm carries at most this much of the path


@dataclass(frozen=True)
class JwtRule:
    """One ``jwtRules`` entry: an issuer Envoy can verify on its own."""

    issuer: str
    keys: tuple[jwt.Key, ...]
    audiences: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = (DEFAULT_HEADER,)  # (lower-case name, value prefix)
    params: tuple[str, ...] = (DEFAULT_PARAM,)
    cookies: tuple[str, ...] = ()
    payload_header: str | None = None
    claim_headers: tuple[tuple[str, str], ...] = ()  # (header, claim)
    forward: bool = False  # forwardOriginalToken


@dataclass(frozen=True)
class Identity:
    """What a verified token tells authorization: ``request.auth.*``."""

    principal: str  # "<iss>/<sub>"
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    identity: Identity | None = None  # None: no token, or refused
    reply: LocalReply | None = None  # the refusal
    headers: Headers = ()  # the request's headers as they go on


def translate(spec: Mapping[str, Any], report: Report, warn: Report) -> tuple[JwtRule, ...]:
    """The rules of a checked RequestAuthentication spec; a rule that cannot
    verify anything (no usable key set) is reported and left out."""
    rules = []
    for i, raw in enumerate(spec.get("jwtRules", ())):
        if (rule := _rule(raw, f"spec.jwtRules[{i}]", report, warn)) is not None:
            rules.append(rule)
    return tuple(rules)


def _rule(raw: Mapping[str, Any], path: str, report: Report, warn: Report) -> JwtRule | None:
    issuer = raw.get("issuer", "")
    if "issuer" in raw and not issuer:  # a missing one was reported by the schema
        report(f"{path}.issuer", "must not be empty")
    keys = _keys(raw, path, report, warn)
    if not issuer or keys is None:
        return None
    headers = tuple((h["name"].lower(), h.get("prefix", "")) for h in raw.get("fromHeaders", ()))
    params, cookies = tuple(raw.get("fromParams", ())), tuple(raw.get("fromCookies", ()))
    if not (headers or params or cookies):
        headers, params = (DEFAULT_HEADER,), (DEFAULT_PARAM,)
    return JwtRule(
        issuer, keys, tuple(raw.get("audiences", ())), headers, params, cookies,
        raw.get("outputPayloadToHeader") or None,
        tuple((c["header"], c["claim"]) for c in raw.get("outputClaimToHeaders", ())),
        bool(raw.get("forwardOriginalToken", False)),
    )


def _keys(raw: Mapping[str, Any], path: str, report: Report, warn: Report) -> tuple[jwt.Key, ...] | None:
    if "jwks" not in raw:
        where, what = (f"{path}.jwksUri", "is not fetched") if "jwksUri" in raw else (path, "has no key set")
        report(where, f"{what} in the emulation: paste the issuer's key set (the JWKS JSON) into 'jwks'")
        return None
    if "jwksUri" in raw:
        warn(f"{path}.jwksUri", "ignored: the inline 'jwks' is used")
    try:
        return jwt.key_set(raw["jwks"])
    except jwt.JwtError as error:
        report(f"{path}.jwks", str(error))
        return None


def authenticate(rules: Sequence[JwtRule], request: Request, now: float) -> Outcome:
    """Envoy's jwt_authn for ``request`` at time ``now`` (seconds since the epoch)."""
    statuses = []
    identity, headers = None, request.headers
    for rule in rules:
        found = _tokens(rule, request)
        try:
            tokens = [jwt.parse(text) for text, _ in found]
            for token in tokens:
                jwt.verify(token, rule.issuer, rule.audiences, rule.keys, now)
        except jwt.JwtError as error:
            statuses.append(str(error))
            continue
        if not tokens:
            statuses.append(jwt.MISSING)
            continue
        statuses.append(OK)
        if identity is None:
            claims = tokens[0].claims
            identity = Identity(f"{claims.get('iss', '')}/{claims.get('sub', '')}", claims)
        headers = _forwarded(rule, headers, [name for _, name in found], tokens[0])
    if OK in statuses:
        return Outcome(identity, None, headers)
    status = _aggregate(statuses)
    if status == jwt.MISSING:
        return Outcome(headers=request.headers)
    scheme = request.header("x-forwarded-proto") or request.scheme
    return Outcome(reply=jwt_denied(status, f"{scheme}://{request.authority}{request.path[:_MAX_URI_PATH]}"))


def _aggregate(statuses: list[str]) -> str:
    """Envoy's requires_any: a real error beats "unknown issuer", which beats "missing"."""
    final = jwt.MISSING
    for status in statuses:
        if status not in (jwt.MISSING, jwt.UNKNOWN_ISSUER) or final == jwt.MISSING:
            final = status
    return final


def _tokens(rule: JwtRule, request: Request) -> list[tuple[str, str | None]]:
    """Every token in ``rule``'s locations, with the header it came in (None
    for a query parameter or a cookie, which Envoy leaves in place)."""
    found: list[tuple[str, str | None]] = []
    for name, prefix in rule.headers:
        for key, value in request.headers:
            at = value.find(prefix) if key == name else -1
            if at >= 0 and (match := _JWT_CHARS.match(value, at + len(prefix))):
                found.append((match.group(), name))
    query = parse_qsl(urlsplit(request.path).query, keep_blank_values=True)
    found += [(value, None) for key, value in query if key in rule.params and value]
    if rule.cookies:
        jar = "; ".join(v for k, v in request.headers if k == "cookie")
        pairs = [c.strip().partition("=") for c in jar.split(";")]
        found += [(value, None) for key, _, value in pairs if key in rule.cookies and value]
    return found


def _forwarded(rule: JwtRule, headers: Headers, sources: list[str | None], token: jwt.Token) -> Headers:
    if not rule.forward:
        headers = tuple((k, v) for k, v in headers if k not in sources)
    added = [(rule.payload_header.lower(), token.payload)] if rule.payload_header else []
    for header, claim in rule.claim_headers:
        value = token.claims.get(claim)
        if isinstance(value, bool):
            added.append((header.lower(), str(value).lower()))
        elif isinstance(value, (str, int, float)):
            added.append((header.lower(), str(value)))
    names = {k for k, _ in added}
    return tuple((k, v) for k, v in headers if k not in names) + tuple(added)
