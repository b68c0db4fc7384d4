"""CONNECT validation, authority parsing and status text (pure HBONE rules)."""

from __future__ import annotations

import pytest

from dataplane.mesh.hbone import h2patch
from dataplane.mesh.hbone.protocol import (
    AuthorityError,
    HboneError,
    Rejection,
    check_connect,
    forwarded,
    parse_authority,
    status_line,
    traceparent,
)


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("10.0.0.1:80", ("10.0.0.1", 80)),
        ("[fd00::1]:8080", ("fd00::1", 8080)),
        ("Reviews.Default.svc.cluster.local:9080", ("reviews.default.svc.cluster.local", 9080)),
        ("a-b:1", ("a-b", 1)),
    ],
)
def test_parse_authority_accepts_ip_or_host_with_port(authority: str, expected: tuple[str, int]) -> None:
    assert parse_authority(authority) == expected


@pytest.mark.parametrize(
    "authority",
    ["", "10.0.0.1", "10.0.0.1:", ":80", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:08", "fd00::1:80",
     "[nope]:80", "a b:80", "a..b:80", "10.0.0.1:80x"],
)
def test_parse_authority_rejects(authority: str) -> None:
    with pytest.raises(AuthorityError):
        parse_authority(authority)


def connect(authority: str, method: str = "CONNECT") -> list[tuple[str, str]]:
    return [(":method", method), (":authority", authority)]


def test_check_connect_order_and_statuses() -> None:
    assert check_connect(connect("10.0.0.1:80")) == ("10.0.0.1", 80)
    assert isinstance(get := check_connect(connect("10.0.0.1:80", "GET")), Rejection) and get.status == 400
    assert check_connect(connect("nonsense")) == Rejection(400, "authority 'nonsense' is not host:port")
    for port in (15001, 15006, 15008):
        rejection = check_connect(connect(f"10.0.0.1:{port}"))
        assert isinstance(rejection, Rejection) and rejection.status == 503
    # method is checked before the authority: a GET to 15008 is a 400
    assert check_connect(connect("10.0.0.1:15008", "GET")).status == 400  # type: ignore[union-attr]


def test_status_text_matches_ztunnel() -> None:
    assert status_line(503) == "503 Service Unavailable"
    assert status_line(599) == "599"
    assert str(HboneError(401)) == "http status: 401 Unauthorized"
    assert HboneError(401).status == 401


def test_headers() -> None:
    assert forwarded(("10.244.1.12", 60059), "productpage.default.svc.cluster.local") == (
        'for="10.244.1.12:60059";host=productpage.default.svc.cluster.local'
    )
    assert forwarded(("fd00::1", 1)) == 'for="[fd00::1]:1"'
    version, trace, parent, flags = traceparent().split("-")
    assert (version, len(trace), len(parent), flags) == ("00", 32, 16, "00")


def test_repr_patch_formats_only_a_few_bytes() -> None:
    import hyperframe.frame

    h2patch.apply()
    h2patch.apply()
    assert h2patch.applied()
    frame = hyperframe.frame.DataFrame(1, data=b"\x01" * (1 << 20))
    assert repr(frame).endswith(": <hex:01010101010101010101...>")
    assert "data=<hex:0202" in repr(hyperframe.frame.ContinuationFrame(1, data=b"\x02" * 100))
    assert hyperframe.frame._raw_data_repr(b"\xab") == "<hex:ab>"
