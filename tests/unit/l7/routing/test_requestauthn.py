"""JWT authentication as Envoy's jwt_authn does it for a RequestAuthentication:
real keys, tokens signed here, and Envoy's status texts, codes and headers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from dataplane.l7.routing import jwt, requestauthn
from dataplane.l7.routing.model import Request
from dataplane.l7.routing.requestauthn import JwtRule, Outcome

from .helpers import Feedback
from .jwtkit import PrivateKey, ec_key, jwk, jwks, mint, rsa_key

NOW = 1_750_000_000
ISSUER = "testing@secure.istio.io"
RSA = rsa_key()
EC = ec_key()
EC384 = ec_key(ec.SECP384R1())
KEYS = jwks(jwk(RSA, "rsa-1"), jwk(EC, "ec-1"), jwk(EC384, "ec-384"))


def claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISSUER, "sub": "alice", "aud": "bookinfo", "exp": NOW + 3600, **extra}


def rule(**spec: Any) -> JwtRule:
    feedback = Feedback()
    [translated] = requestauthn.translate(
        {"jwtRules": [{"issuer": ISSUER, "jwks": KEYS, **spec}]}, feedback.report, feedback.warn
    )
    assert feedback.problems == []
    return translated


def ask(token: str | None, *rules: JwtRule, target: str = "/headers", headers: tuple[tuple[str, str], ...] = ()
        ) -> Outcome:
    sent = ((("authorization", f"Bearer {token}"),) if token else ()) + headers
    request = Request("GET", target, "httpbin:8000", "http", (("x-forwarded-proto", "http"), *sent))
    return requestauthn.authenticate(rules or (rule(),), request, NOW)


@pytest.mark.parametrize(
    ("key", "alg", "kid"),
    [(RSA, "RS256", "rsa-1"), (RSA, "RS384", "rsa-1"), (RSA, "RS512", None), (RSA, "PS256", "rsa-1"),
     (RSA, "PS512", "rsa-1"), (EC, "ES256", "ec-1"), (EC384, "ES384", None)],
)
def test_a_valid_token_gives_the_request_principal_and_claims(key: PrivateKey, alg: str, kid: str | None) -> None:
    outcome = ask(mint(key, alg, claims(groups=["admin"]), kid))
    assert outcome.reply is None and outcome.identity is not None
    assert outcome.identity.principal == f"{ISSUER}/alice"
    assert outcome.identity.claims["groups"] == ["admin"]
    assert "authorization" not in dict(outcome.headers)  # Envoy drops the token it verified


def test_no_token_passes_unauthenticated_with_the_request_unchanged() -> None:
    outcome = ask(None, headers=(("x-a", "1"),))
    assert outcome == Outcome(None, None, (("x-forwarded-proto", "http"), ("x-a", "1")))


def _refused(outcome: Outcome, status: int, text: str) -> None:
    assert outcome.reply is not None and outcome.identity is None
    assert (outcome.reply.status, outcome.reply.body.decode(), outcome.reply.flags) == (status, text, "-")
    assert outcome.reply.details == "jwt_authn_access_denied{" + text.replace(" ", "_") + "}"


def test_a_bad_signature_is_refused_with_envoys_401() -> None:
    forged = mint(rsa_key(), "RS256", claims(), "rsa-1")
    outcome = ask(forged, target="/headers?x=1")
    _refused(outcome, 401, "Jwt verification fails")
    assert outcome.reply is not None
    assert dict(outcome.reply.headers) == {
        "content-type": "text/plain",
        "www-authenticate": 'Bearer realm="http://httpbin:8000/headers?x=1", error="invalid_token"',
    }


@pytest.mark.parametrize(
    ("token", "status", "text"),
    [
        (mint(RSA, "RS256", claims(exp=NOW - 61), "rsa-1"), 401, jwt.EXPIRED),
        (mint(RSA, "RS256", claims(nbf=NOW + 61), "rsa-1"), 401, jwt.NOT_YET_VALID),
        (mint(RSA, "RS256", claims(iss="https://other.example"), "rsa-1"), 401, jwt.UNKNOWN_ISSUER),
        (mint(RSA, "RS256", claims(aud="other"), "rsa-1"), 403, jwt.AUDIENCE_NOT_ALLOWED),
        (mint(RSA, "RS256", claims(), "rsa-9"), 401, jwt.NO_KEY),
        (mint(RSA, "ES256", claims(), "rsa-1"), 401, jwt.NO_KEY),  # an RSA key never verifies ES256
        ("not-a-token", 401, jwt.BAD_FORMAT),
        ("e30.e30.", 401, "Jwt header [alg] field is required and must be a string"),
        (mint(RSA, "RS256", claims(exp="soon"), "rsa-1"), 401, "Jwt payload [exp] field is not an integer"),
    ],
    ids=["expired", "not-yet-valid", "wrong-issuer", "wrong-audience", "unknown-kid", "wrong-key-type",
         "bad-format", "no-alg", "exp-not-integer"],
)
def test_a_failing_token_is_refused_with_envoys_reason(token: str, status: int, text: str) -> None:
    _refused(ask(token, rule(audiences=["bookinfo"])), status, text)


def test_clock_skew_and_audience_forms() -> None:
    assert ask(mint(RSA, "RS256", claims(exp=NOW - 59), "rsa-1")).reply is None  # Envoy allows 60 s
    audience = rule(audiences=["https://bookinfo.example/"])
    assert ask(mint(RSA, "RS256", claims(aud=["x", "bookinfo.example"]), "rsa-1"), audience).reply is None


def test_token_locations_and_forwarding() -> None:
    token = mint(EC, "ES256", claims(role="reader", level=3), "ec-1")
    custom = rule(fromHeaders=[{"name": "x-jwt", "prefix": "Token "}], forwardOriginalToken=True,
                  outputPayloadToHeader="x-jwt-payload", outputClaimToHeaders=[{"header": "x-role", "claim": "role"},
                                                                               {"header": "x-level", "claim": "level"}])
    outcome = ask(None, custom, headers=(("x-jwt", f"Token {token}"),))
    assert outcome.identity is not None
    headers = dict(outcome.headers)
    assert headers["x-jwt"] == f"Token {token}"  # forwardOriginalToken
    assert json.loads(jwt._b64(headers["x-jwt-payload"]))["role"] == "reader"
    assert (headers["x-role"], headers["x-level"]) == ("reader", "3")
    assert ask(token, custom).identity is None  # Authorization is not one of its locations
    assert ask(None, target=f"/?access_token={token}").identity is not None  # Envoy's default query parameter
    by_param = rule(fromParams=["jwt"])
    assert ask(None, by_param, target=f"/?jwt={token}").identity is not None
    by_cookie = rule(fromCookies=["session"])
    assert ask(None, by_cookie, headers=(("cookie", f"a=b; session={token}"),)).identity is not None


def test_any_rule_may_accept_and_envoy_picks_the_reason_when_none_does() -> None:
    other_key = rsa_key()
    feedback = Feedback()
    [other] = requestauthn.translate(
        {"jwtRules": [{"issuer": "https://other.example", "jwks": jwks(jwk(other_key))}]}, feedback.report, feedback.warn
    )
    token = mint(other_key, "RS256", claims(iss="https://other.example", sub="bob"))
    outcome = ask(token, rule(), other)
    assert outcome.identity is not None and outcome.identity.principal == "https://other.example/bob"
    # a token neither issuer knows: "unknown issuer"; a real failure beats it
    stranger = mint(other_key, "RS256", claims(iss="https://stranger.example"))
    _refused(ask(stranger, rule(), other), 401, jwt.UNKNOWN_ISSUER)
    _refused(ask(mint(rsa_key(), "RS256", claims(), "rsa-1"), rule(), other), 401, jwt.VERIFICATION_FAILS)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "Jwks is an invalid JSON"),
        ('{"kid": "x"}', "Jwks does not have [keys] field"),
        ('{"keys": []}', "Jwks doesn't have any valid public key"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "keys[0]: [kty] oct is not emulated (RSA and EC keys are)"),
        ('{"keys": [{"kty": "RSA", "e": "AQAB"}]}', "keys[0]: [n] field is missing or not a string"),
        ('{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]}',
         "keys[0]: Jwks EC [x] and [y] fields have a parse error."),
    ],
)
def test_key_set_problems(text: str, problem: str) -> None:
    feedback = Feedback()
    assert requestauthn.translate({"jwtRules": [{"issuer": ISSUER, "jwks": text}]}, feedback.report, feedback.warn) == ()
    assert feedback.problems == [("spec.jwtRules[0].jwks", problem)]


def test_a_key_set_is_inline_in_the_emulation() -> None:
    feedback = Feedback()
    spec = {"jwtRules": [{"issuer": ISSUER, "jwksUri": "https://example.com/jwks.json"},
                         {"issuer": ISSUER, "jwksUri": "https://example.com/jwks.json", "jwks": KEYS}]}
    assert len(requestauthn.translate(spec, feedback.report, feedback.warn)) == 1
    assert feedback.problems == [(
        "spec.jwtRules[0].jwksUri",
        "is not fetched in the emulation: paste the issuer's key set (the JWKS JSON) into 'jwks'",
    )]
    assert feedback.warnings == [("spec.jwtRules[1].jwksUri", "ignored: the inline 'jwks' is used")]
