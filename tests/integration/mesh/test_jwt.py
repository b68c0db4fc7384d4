"""RequestAuthentication at a waypoint, end to end: the client pod's ztunnel
sends its calls to httpbin through the waypoint, which verifies the JWT
before the AuthorizationPolicy that requires one (``topologies/jwt.yaml``).

The signing key is a constant here; the topology carries its public half
inline (``jwks``), as the emulation fetches no key set.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dataplane.testing.emulation import Emulation, keepalive_requests
from dataplane.testing.plugin import Emulations
from tests.integration.support import each_cni
from tests.unit.l7.routing.jwtkit import mint

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

ISSUER = "testing@secure.istio.io"
KID = "dpctl-test"
PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDF/Q/9Il40gEcL
do8nydf4LMKchYEiJCxiWRKv5zWPwzVPkvZ5ocBcIk1SvXjOezKtXk1/uAiw4UX2
tu1HwYezvZQsWb5Dnnpdpdxp7lLDr+l/BLhPvgt0Bsif8wCBNKn+NJ8m2NP5WXOa
GyEkJVB3M+DmQJazqERfbsb6aNbKTMPwCM5B3Siz1n1zKNE43GetDlhVaDb0peRx
JSpSsSYY12DW5xaOBr6TTQBLxDUgMwRg0Pr074C8NDZNpXLpkeHeKom0lQnrOiHN
cRk9hvXjBrdiH61O5ynHYgTpf3zWbVsdHreu5Og49VN5EeyH6URTHNmIA5xtcKTz
7LCnFkZxAgMBAAECggEAGyrSJJUwcYpPlVhXpOlKsARuUN113noxt+4KhSYYAKnT
2R8soHyMQWg4jXuvxb98cPMhdb7KPIEw4T1xGjlJVmXTXPGUjMFEf7CoacW4yB7N
jq8WXmTQvANJSL9mqJQSJm5Qj1tN3OeEGBeUaNoQ7EZrXBTtSOo0NZclCQvVO01n
BBbGpyFxs8x90xsudtaGO+PQJb8C6bsYyojafHbPOTpC83Tf2xsLN5nN0+mAAdQz
0NImPvRJXjdNLQ8x09Ho/DtmVUeVIERasU5GS/YCAk2PFPbB9vdQ/UPhGraJnoZX
z9/IU3lu3/hZUSqrnBhhrvBqS3vC5czqbJ2RItbqtQKBgQDkM6rKv/25OIMoLHKy
OqFVEwtcm9PAS6Vc4QQjLWusJsVp7UvznnSA6/h+EXcFztJcpb8qNeQwc3LlCP8v
TNr/9XwKt0sOvqlyFBXdkq9n4f6oKX3yysVx0IN2sC+2PaqZIz37gHeOFufu51WJ
Zf7Hc5LmcfyFJOxlsK0tQ0jfXQKBgQDeGzZUlcad3pmYHWXga9ZsmLcNeP9GlDh5
dCQ3Nfkr28fYN+6NHNKwW9r59JNYUNZ8E0p996EZipaXS3T0aIxblOB/RNu+cXbC
yuohF+1s9XNQRpBhNvhSOgq4I7NqlqB1jJpoaKZZGpSThMbG7nnFOJT+z3SZ6UNQ
UiTW2gwWJQKBgDl7Oj4v9j09muv3pjx2wESps2b0aXY6l8C5fU1PF5wZeAiimUsY
UshWqBU5WP3BhwOHTIvZX01FB1/h0EWd2lw2/bPFT8a7B/uQS6GwXTaRmo/JQ8xw
fyOYHkU7RAlnpx1D300GoxbLdkibRNSDOJYM6qfZdn4jOtiylCyekjCRAoGAdcL/
34E6OeIYleqgZYlHu3SNOft5fjaAawUFXrCjWHnDUAT32qH5o8BQLk9bAGx8DHU9
/eQZ6qzsg3Nio2P7Z2NcVJ5x1FvcmBN2Z+2D2U2awmlni+PVbeOQY2mqa01J7omK
JOm3qW7KcBzqN/ehYMxLU38zV5eyNRgYqEIcPnECgYEAlVTem41BXM/8g4gva+eW
Ln/DfnmYDObIGEMPIx9vdRUTq7REjUKj2bODsMJ6GFtEbHAA2bKZDUPBvFf/6pnY
rCfvSqBHvb0+DBtw2Wy0w4V/1zlhLyScC08nxqkEjVduRe583U/Up4+Zmt7lox8L
i1SFHOd4JMI+M8Gwyz70Qso=
-----END PRIVATE KEY-----"""


@pytest.fixture(scope="module", params=["vpc"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations
) -> Iterator[Emulation]:
    yield from each_cni(request, tmp_path_factory, module_topology, "jwt.yaml", "jwt")


def _token(key: rsa.RSAPrivateKey | None = None, **claims: object) -> str:
    signer = key or serialization.load_pem_private_key(PRIVATE_KEY.encode(), None)
    assert isinstance(signer, rsa.RSAPrivateKey)
    payload = {"iss": ISSUER, "sub": "alice", "exp": int(time.time()) + 600, "groups": ["group1"], **claims}
    return mint(signer, "RS256", payload, KID)


def _get(emu: Emulation, token: str | None) -> tuple[int, dict[str, str], bytes]:
    vip = emu.service("default/httpbin").cluster_ip
    assert vip is not None
    headers = {"authorization": f"Bearer {token}"} if token else {}
    [answer] = keepalive_requests(emu.netns("default/curl"), vip, 8000, [("GET", "/headers", headers)],
                                  host="httpbin:8000")
    return answer


def test_a_valid_token_passes_the_allow_on_request_principals(live: Emulation) -> None:
    status, headers, body = _get(live, _token())
    assert status == 200 and headers["server"] == "istio-envoy"
    assert "authorization" not in json.loads(body)["headers"]  # the waypoint drops the verified token


def test_no_token_is_denied_by_the_allow_policy(live: Emulation) -> None:
    status, _, body = _get(live, None)
    assert (status, body) == (403, b"RBAC: access denied")
    status, _, _ = _get(live, _token(groups=["group2"]))  # authenticated, but the claim does not match
    assert status == 403


def test_a_bad_token_is_refused_with_401(live: Emulation) -> None:
    forged = _token(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    status, headers, body = _get(live, forged)
    assert (status, body) == (401, b"Jwt verification fails")
    assert headers["www-authenticate"] == 'Bearer realm="http://httpbin:8000/headers", error="invalid_token"'
    status, _, body = _get(live, _token(exp=int(time.time()) - 3600))
    assert (status, body) == (401, b"Jwt is expired")
