"""Keys and tokens for the JWT tests, made here with ``cryptography``: a JWKS
is the public half of real keys, a token is base64url JSON signed by hand."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _number(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def jwk(key: PrivateKey, kid: str | None = None, **extra: str) -> dict[str, Any]:
    """The public JWK of ``key``."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        fields: dict[str, Any] = {"kty": "RSA", "n": _number(numbers.n), "e": _number(numbers.e)}
    else:
        point = key.public_key().public_numbers()
        size = (key.curve.key_size + 7) // 8
        fields = {
            "kty": "EC", "crv": _CURVES[key.curve.name],
            "x": b64(point.x.to_bytes(size, "big")), "y": b64(point.y.to_bytes(size, "big")),
        }
    return {**fields, **({"kid": kid} if kid else {}), **extra}


def jwks(*keys: dict[str, Any]) -> str:
    return json.dumps({"keys": list(keys)})


def mint(key: PrivateKey, alg: str, claims: dict[str, Any], kid: str | None = None) -> str:
    """A compact JWS of ``claims`` signed with ``key`` by ``alg``."""
    header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    signed = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    digest = _HASHES[alg[2:]]()
    if isinstance(key, rsa.RSAPrivateKey):
        scheme = (
            padding.PKCS1v15() if alg.startswith("RS")
            else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        )
        signature = key.sign(signed.encode(), scheme, digest)
    else:
        r, s = decode_dss_signature(key.sign(signed.encode(), ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return f"{signed}.{b64(signature)}"
