"""A certificate store in a temporary state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.mesh.identity import SpiffeId
from dataplane.mesh.store import CertificateStore
from dataplane.state.layout import certs_dir

TRUST_DOMAIN = "cluster.local"
CLIENT = SpiffeId(TRUST_DOMAIN, "default", "sleep")
SERVER = SpiffeId(TRUST_DOMAIN, "shop", "backend")


@pytest.fixture
def store(tmp_path: Path) -> CertificateStore:
    return CertificateStore(str(certs_dir(tmp_path)), "demo", TRUST_DOMAIN)
