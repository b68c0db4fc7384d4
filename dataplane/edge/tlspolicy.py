"""ALB security policies and the TLS versions each accepts from clients.

An ALB supports no custom policy, so an ``ssl-policy`` that is not one of
these names is refused by ELBv2 (``SSLPolicyNotFound``) and the LBC's build
of the group fails.  Ciphers are not modelled: the emulated ALB narrows only
the protocol versions.

Versions as listed under "TLS protocols" on
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html
(ALB user guide, read 2026-08); the names encode the same facts (``TLS13-1-2``:
TLS 1.2 to 1.3; ``TLS-1-1``/``FS-1-1``: 1.1 to 1.2; no ``TLS13``: at most 1.2).
FIPS and post-quantum (``PQ``) variants accept the versions of their base.

| policy                                     | min     | max     |
|--------------------------------------------|---------|---------|
| ELBSecurityPolicy-2016-08 (LBC/API default)| TLSv1   | TLSv1.2 |
| ELBSecurityPolicy-2015-05                  | TLSv1   | TLSv1.2 |
| ELBSecurityPolicy-TLS-1-0-2015-04          | TLSv1   | TLSv1.2 |
| ELBSecurityPolicy-TLS-1-1-2017-01          | TLSv1.1 | TLSv1.2 |
| ELBSecurityPolicy-TLS-1-2-2017-01          | TLSv1.2 | TLSv1.2 |
| ELBSecurityPolicy-TLS-1-2-Ext-2018-06      | TLSv1.2 | TLSv1.2 |
| ELBSecurityPolicy-FS-2018-06               | TLSv1   | TLSv1.2 |
| ELBSecurityPolicy-FS-1-1-2019-08           | TLSv1.1 | TLSv1.2 |
| ELBSecurityPolicy-FS-1-2-2019-08           | TLSv1.2 | TLSv1.2 |
| ELBSecurityPolicy-FS-1-2-Res-2019-08       | TLSv1.2 | TLSv1.2 |
| ELBSecurityPolicy-FS-1-2-Res-2020-10       | TLSv1.2 | TLSv1.2 |
| ELBSecurityPolicy-TLS13-1-0-2021-06        | TLSv1   | TLSv1.3 |
| ELBSecurityPolicy-TLS13-1-1-2021-06        | TLSv1.1 | TLSv1.3 |
| ELBSecurityPolicy-TLS13-1-2-2021-06        | TLSv1.2 | TLSv1.3 |
| ELBSecurityPolicy-TLS13-1-2-Res-2021-06    | TLSv1.2 | TLSv1.3 |
| ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06   | TLSv1.2 | TLSv1.3 |
| ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06   | TLSv1.2 | TLSv1.3 |
| ELBSecurityPolicy-TLS13-1-3-2021-06        | TLSv1.3 | TLSv1.3 |
| ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 | TLSv1.2 | TLSv1.3 |
"""

from __future__ import annotations

from .albmodel import DEFAULT_SSL_POLICY

TLS10, TLS11, TLS12, TLS13 = "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"

_VERSIONS: dict[str, tuple[str, str]] = {
    DEFAULT_SSL_POLICY: (TLS10, TLS12),
    "ELBSecurityPolicy-2015-05": (TLS10, TLS12),
    "ELBSecurityPolicy-TLS-1-0-2015-04": (TLS10, TLS12),
    "ELBSecurityPolicy-TLS-1-1-2017-01": (TLS11, TLS12),
    "ELBSecurityPolicy-TLS-1-2-2017-01": (TLS12, TLS12),
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06": (TLS12, TLS12),
    "ELBSecurityPolicy-FS-2018-06": (TLS10, TLS12),
    "ELBSecurityPolicy-FS-1-1-2019-08": (TLS11, TLS12),
    "ELBSecurityPolicy-FS-1-2-2019-08": (TLS12, TLS12),
    "ELBSecurityPolicy-FS-1-2-Res-2019-08": (TLS12, TLS12),
    "ELBSecurityPolicy-FS-1-2-Res-2020-10": (TLS12, TLS12),
    "ELBSecurityPolicy-TLS13-1-0-2021-06": (TLS10, TLS13),
    "ELBSecurityPolicy-TLS13-1-1-2021-06": (TLS11, TLS13),
    "ELBSecurityPolicy-TLS13-1-2-2021-06": (TLS12, TLS13),
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06": (TLS12, TLS13),
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06": (TLS12, TLS13),
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06": (TLS12, TLS13),
    "ELBSecurityPolicy-TLS13-1-3-2021-06": (TLS13, TLS13),
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09": (TLS12, TLS13),
}
_FIPS = {  # the FIPS variants (2023-04) of the TLS 1.3 family: same versions
    name.replace("-2021-06", "-FIPS-2023-04"): versions
    for name, versions in _VERSIONS.items()
    if name.startswith("ELBSecurityPolicy-TLS13-") and name.endswith("-2021-06")
}
POLICIES: dict[str, tuple[str, str]] = {**_VERSIONS, **_FIPS}


def tls_versions(policy: str) -> tuple[str, str]:
    """(lowest, highest) TLS version ``policy`` accepts, in OpenSSL's
    spelling (``TLSv1``, ``TLSv1.2``); KeyError for a policy ELBv2 lacks."""
    return POLICIES[policy]
