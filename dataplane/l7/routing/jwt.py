"""JSON Web Tokens checked as Envoy's jwt_authn filter checks them (jwt_verify_lib).

Pure: a key set is read from JWKS text, a token verified against one issuer's
settings at a given time (the caller's clock).  Envoy's order, which decides
the message a client reads: the token's form (three base64url parts, JSON
header and payload, typed claims), then the issuer, then ``nbf``/``exp``
with Envoy's 60 s clock skew (``exp`` is optional, as Istio leaves
``require_expiration`` off), then the audiences (any of the token's in the
rule's list, ``http(s)://`` and a trailing ``/`` ignored; none listed: any),
then a key: one whose ``kid`` (when both have one) and ``alg`` (when the key
names one) and type fit the token's, whose signature must verify.  Failures
are ``JwtError`` carrying jwt_verify_lib's status text, which Envoy sends as
the body.  RSA (RS256/384/512, PS256/384/512) and EC (ES256/384/512) keys;
``oct`` and ``OKP`` keys are refused when the key set is read.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

CLOCK_SKEW = 60  # jwt_verify_lib's kClockSkewInSecond; Istio does not change it
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"P-256": (ec.SECP256R1, "ES256", 32), "P-384": (ec.SECP384R1, "ES384", 48), "P-521": (ec.SECP521R1, "ES512", 66)}
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})

# jwt_verify_lib's status texts (the body of Envoy's 401)
MISSING = "Jwt is missing"
BAD_FORMAT = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
UNKNOWN_ISSUER = "Jwt issuer is not configured"
NOT_YET_VALID = "Jwt not yet valid"
EXPIRED = "Jwt is expired"
AUDIENCE_NOT_ALLOWED = "Audiences in Jwt are not allowed"
NO_KEY = "Jwks doesn't have key to match kid or alg from Jwt"
VERIFICATION_FAILS = "Jwt verification fails"


class JwtError(ValueError):
    """A token (or a key set) Envoy would refuse; the message is Envoy's."""


@dataclass(frozen=True)
class Key:
    """One public key of a JWKS."""

    family: str  # "RSA", or the one JWS algorithm of an EC key's curve ("ES256", ...)
    kid: str | None
    alg: str | None  # the key's ``alg``, when the JWKS names one
    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    size: int = 0  # EC: the byte length of r and s in a JWS signature


@dataclass(frozen=True)
class Token:
    """A parsed, not yet trusted, token."""

    alg: str
    kid: str | None
    claims: Mapping[str, Any]
    payload: str  # the base64url payload as sent (Envoy forwards it in ``outputPayloadToHeader``)
    signed: bytes  # header.payload, the bytes the signature covers
    signature: bytes

    @property
    def audiences(self) -> tuple[str, ...]:
        aud = self.claims.get("aud")
        return (aud,) if isinstance(aud, str) else tuple(aud or ())


@functools.lru_cache(maxsize=64)
def key_set(text: str) -> tuple[Key, ...]:
    """The keys of a JWKS document; ``JwtError`` says what is wrong with it.
    Cached: waypoints read the same text from the plan for every request."""
    try:
        document = json.loads(text)
    except ValueError:
        raise JwtError("Jwks is an invalid JSON") from None
    if not isinstance(document, dict) or "keys" not in document:
        raise JwtError("Jwks does not have [keys] field")
    if not isinstance(document["keys"], list):
        raise JwtError("[keys] in Jwks is not an array")
    keys = tuple(_key(raw, i) for i, raw in enumerate(document["keys"]))
    if not keys:
        raise JwtError("Jwks doesn't have any valid public key")
    return keys


def _key(raw: Any, index: int) -> Key:
    if not isinstance(raw, dict) or not isinstance(raw.get("kty"), str):
        raise JwtError(f"keys[{index}]: [kty] is missing in [keys]")
    kid, alg = raw.get("kid"), raw.get("alg")
    if not isinstance(kid, (str, type(None))) or not isinstance(alg, (str, type(None))):
        raise JwtError(f"keys[{index}]: [kid] and [alg] must be strings")
    if raw["kty"] == "RSA":
        if alg is not None and alg[:2] not in ("RS", "PS"):
            raise JwtError(f"keys[{index}]: [alg] is not started with [RS] or [PS] for an RSA key")
        n, e = _integer(raw, "n", index), _integer(raw, "e", index)
        return Key("RSA", kid, alg, rsa.RSAPublicNumbers(e, n).public_key())
    if raw["kty"] == "EC":
        by_alg = {jws: crv for crv, (_, jws, _) in _CURVES.items()}
        curve = _CURVES.get(raw.get("crv", by_alg.get(alg or "ES256", "")))
        if curve is None or (alg is not None and alg != curve[1]):
            raise JwtError(f"keys[{index}]: [crv] or [alg] field is not supported for an EC key")
        x, y = _integer(raw, "x", index), _integer(raw, "y", index)
        try:
            public = ec.EllipticCurvePublicNumbers(x, y, curve[0]()).public_key()
        except ValueError:
            raise JwtError(f"keys[{index}]: Jwks EC [x] and [y] fields have a parse error.") from None
        return Key(curve[1], kid, alg, public, curve[2])
    raise JwtError(f"keys[{index}]: [kty] {raw['kty']} is not emulated (RSA and EC keys are)")


def _integer(raw: dict[str, Any], name: str, index: int) -> int:
    value = raw.get(name)
    if not isinstance(value, str):
        raise JwtError(f"keys[{index}]: [{name}] field is missing or not a string")
    try:
        return int.from_bytes(_b64(value), "big")
    except ValueError:
        raise JwtError(f"keys[{index}]: [{name}] is an invalid Base64url encoded") from None


def _b64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(text) from None


def parse(text: str) -> Token:
    """The token's parts, with jwt_verify_lib's complaints about its form."""
    parts = text.split(".")
    if len(parts) != 3:
        raise JwtError(BAD_FORMAT)
    header = _json_part(parts[0], "header")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str):
        raise JwtError("Jwt header [alg] field is required and must be a string")
    if alg not in ALGORITHMS:
        raise JwtError("Jwt header [alg] is not supported")
    if not isinstance(kid, (str, type(None))):
        raise JwtError("Jwt header [kid] field is not a string")
    claims = _json_part(parts[1], "payload")
    _check_claims(claims)
    try:
        signature = _b64(parts[2])
    except ValueError:
        raise JwtError("Jwt signature is an invalid Base64url encoded") from None
    return Token(alg, kid, claims, parts[1], f"{parts[0]}.{parts[1]}".encode(), signature)


def _json_part(text: str, part: str) -> dict[str, Any]:
    try:
        decoded = _b64(text)
    except ValueError:
        raise JwtError(f"Jwt {part} is an invalid Base64url encoded") from None
    try:
        value = json.loads(decoded)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise JwtError(f"Jwt {part} is an invalid JSON")
    return value


def _check_claims(claims: dict[str, Any]) -> None:
    for name in ("iss", "sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise JwtError(f"Jwt payload [{name}] field is not a string")
    for name in ("iat", "nbf", "exp"):
        value = claims.get(name)
        if name in claims and (not isinstance(value, int) or isinstance(value, bool)):
            raise JwtError(f"Jwt payload [{name}] field is not an integer")
        if name in claims and value < 0:
            raise JwtError(f"Jwt payload [{name}] field is not a positive 64 bit integer")
    aud = claims.get("aud")
    if "aud" in claims and not (isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))):
        raise JwtError("Jwt payload [aud] field is not a string or string list")


def verify(token: Token, issuer: str, audiences: tuple[str, ...], keys: tuple[Key, ...], now: float) -> None:
    """Raise ``JwtError`` unless ``token`` is ``issuer``'s, current, for one of
    ``audiences`` (any when empty) and signed by one of ``keys``."""
    if token.claims.get("iss") != issuer:
        raise JwtError(UNKNOWN_ISSUER)
    nbf, exp = token.claims.get("nbf", 0), token.claims.get("exp")
    if now + CLOCK_SKEW < nbf:
        raise JwtError(NOT_YET_VALID)
    if exp is not None and now > exp + CLOCK_SKEW:
        raise JwtError(EXPIRED)
    allowed = {_audience(a) for a in audiences}
    if allowed and not allowed & {_audience(a) for a in token.audiences}:
        raise JwtError(AUDIENCE_NOT_ALLOWED)
    candidates = [k for k in keys if _fits(k, token)]
    if not candidates:
        raise JwtError(NO_KEY)
    if not any(_signed_by(k, token) for k in candidates):
        raise JwtError(VERIFICATION_FAILS)


def _audience(audience: str) -> str:
    """jwt_verify_lib compares audiences without scheme and trailing slash."""
    return audience.removeprefix("http://").removeprefix("https://").removesuffix("/")


def _fits(key: Key, token: Token) -> bool:
    if token.kid is not None and key.kid is not None and key.kid != token.kid:
        return False
    if key.alg is not None and key.alg != token.alg:
        return False
    return token.alg[:2] in ("RS", "PS") if key.family == "RSA" else key.family == token.alg


def _signed_by(key: Key, token: Token) -> bool:
    digest = _HASHES[token.alg[2:]]()
    try:
        if isinstance(key.public, rsa.RSAPublicKey):
            scheme = (
                padding.PKCS1v15() if token.alg.startswith("RS")
                else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            )
            key.public.verify(token.signature, token.signed, scheme, digest)
        else:
            if len(token.signature) != 2 * key.size:
                return False
            r = int.from_bytes(token.signature[: key.size], "big")
            s = int.from_bytes(token.signature[key.size:], "big")
            key.public.verify(encode_dss_signature(r, s), token.signed, ec.ECDSA(digest))
    except InvalidSignature:
        return False
    return True
