"""Security policies: the TLS versions each accepts."""

from __future__ import annotations

import pytest

from dataplane.edge.albmodel import DEFAULT_SSL_POLICY
from dataplane.edge.tlspolicy import tls_versions


@pytest.mark.parametrize(
    ("policy", "versions"),
    [
        (DEFAULT_SSL_POLICY, ("TLSv1", "TLSv1.2")),
        ("ELBSecurityPolicy-TLS13-1-2-2021-06", ("TLSv1.2", "TLSv1.3")),
        ("ELBSecurityPolicy-TLS13-1-2-Res-2021-06", ("TLSv1.2", "TLSv1.3")),
        ("ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04", ("TLSv1.3", "TLSv1.3")),
        ("ELBSecurityPolicy-TLS-1-2-2017-01", ("TLSv1.2", "TLSv1.2")),
        ("ELBSecurityPolicy-TLS-1-1-2017-01", ("TLSv1.1", "TLSv1.2")),
        ("ELBSecurityPolicy-FS-1-2-Res-2020-10", ("TLSv1.2", "TLSv1.2")),
    ],
)
def test_policy_versions(policy: str, versions: tuple[str, str]) -> None:
    assert tls_versions(policy) == versions


def test_an_unknown_policy_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        tls_versions("MyPolicy")
