"""Real TLS handshakes over a socketpair (no network) between the contexts
HBONE uses, and the ways a peer gets refused."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dataplane.mesh import tls
from dataplane.mesh.identity import SpiffeId
from dataplane.mesh.store import CertificateStore

from .conftest import CLIENT, SERVER, TRUST_DOMAIN

Check = Callable[[ssl.SSLSocket], Any]


def exchange(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_check: Check, client_check: Check
) -> dict[str, Any]:
    """Handshake both ends; each runs its check, then the server sends b"ok".
    Returns what each check returned, or the exception that ended that side."""
    near, far = socket.socketpair()
    near.settimeout(5)
    far.settimeout(5)
    result: dict[str, Any] = {}

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(far, server_side=True) as conn:
                result["server"] = server_check(conn)
                conn.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            result["server"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(near, server_hostname=None) as conn:
            result["client"] = client_check(conn)
            result["data"] = conn.recv(2)
    except (ssl.SSLError, OSError) as exc:
        result["client"] = exc
    thread.join(5)
    near.close()
    far.close()
    return result


def server_side(store: CertificateStore) -> tuple[ssl.SSLContext, Check]:
    return tls.server_context(store, SERVER), lambda conn: tls.verify_client(conn, TRUST_DOMAIN)


def meshed_client(
    store: CertificateStore, ident: SpiffeId = CLIENT, expect: SpiffeId = SERVER
) -> tuple[ssl.SSLContext, Check]:
    return tls.client_context(store, ident), lambda conn: tls.verify_server(conn, [expect])


def rogue_client(cert_key: tuple[str, str] | None, *, alpn: bool = True, tls12: bool = False) -> ssl.SSLContext:
    """An attacker's client: verifies nothing itself, so whatever fails is the
    server refusing it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(["h2"])
    if cert_key:
        ctx.load_cert_chain(*cert_key)
    return ctx


def leaf_files(store: CertificateStore, now: dt.datetime | None = None) -> tuple[str, str]:
    """The client identity's files as the store wrote them (at ``now``)."""
    store.workload(CLIENT, now)
    return store.cert_path(CLIENT), store.key_path(CLIENT)


def test_mutual_tls_with_h2_and_spiffe_ids(store: CertificateStore) -> None:
    server_ctx, server_check = server_side(store)
    client_ctx, client_check = meshed_client(store)
    result = exchange(server_ctx, client_ctx, server_check, client_check)
    assert result["server"] == CLIENT
    assert result["client"] == SERVER
    assert result["data"] == b"ok"


def test_session_parameters(store: CertificateStore) -> None:
    seen: dict[str, Any] = {}

    def record(conn: ssl.SSLSocket) -> None:
        cipher = conn.cipher()
        seen.update(version=conn.version(), alpn=conn.selected_alpn_protocol(), cipher=cipher and cipher[0])

    server_ctx, _ = server_side(store)
    exchange(server_ctx, tls.client_context(store, CLIENT), record, lambda conn: None)
    assert seen == {"version": "TLSv1.3", "alpn": "h2", "cipher": "TLS_AES_256_GCM_SHA384"}


def assert_refused_by_server(result: dict[str, Any], reason: str) -> None:
    assert isinstance(result["server"], ssl.SSLError), result
    assert reason in str(result["server"])
    assert result.get("data") != b"ok"


def test_refused_without_client_certificate(store: CertificateStore) -> None:
    server_ctx, server_check = server_side(store)
    result = exchange(server_ctx, rogue_client(None), server_check, lambda conn: None)
    assert_refused_by_server(result, "PEER_DID_NOT_RETURN_A_CERTIFICATE")


def test_refused_with_certificate_from_another_ca(store: CertificateStore, tmp_path: Path) -> None:
    stranger = leaf_files(CertificateStore(str(tmp_path / "elsewhere"), "demo", TRUST_DOMAIN))
    server_ctx, server_check = server_side(store)
    result = exchange(server_ctx, rogue_client(stranger), server_check, lambda conn: None)
    assert_refused_by_server(result, "CERTIFICATE_VERIFY_FAILED")


def test_refused_with_expired_certificate(store: CertificateStore) -> None:
    stale = leaf_files(store, dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    server_ctx, server_check = server_side(store)
    result = exchange(server_ctx, rogue_client(stale), server_check, lambda conn: None)
    assert_refused_by_server(result, "certificate has expired")


def test_refused_over_tls12(store: CertificateStore) -> None:
    good = leaf_files(store)
    server_ctx, server_check = server_side(store)
    result = exchange(server_ctx, rogue_client(good, tls12=True), server_check, lambda conn: None)
    assert isinstance(result["server"], ssl.SSLError)


def test_refused_without_alpn_h2(store: CertificateStore) -> None:
    good = leaf_files(store)
    server_ctx, server_check = server_side(store)
    result = exchange(server_ctx, rogue_client(good, alpn=False), server_check, lambda conn: None)
    assert isinstance(result["server"], tls.PeerRejected)
    assert "ALPN" in str(result["server"])


def test_client_refuses_unexpected_server_identity(store: CertificateStore) -> None:
    server_ctx, server_check = server_side(store)
    client_ctx, client_check = meshed_client(store, expect=SpiffeId(TRUST_DOMAIN, "shop", "frontend"))
    result = exchange(server_ctx, client_ctx, server_check, client_check)
    assert isinstance(result["client"], tls.PeerRejected)
    assert "identity verification error: peer did not present the expected SAN" in str(result["client"])
    assert "data" not in result


def test_server_refuses_another_trust_domain(store: CertificateStore) -> None:
    foreign = CertificateStore(store.directory, "demo", "other.local")  # same root, other trust domain
    ident = SpiffeId("other.local", "default", "sleep")
    server_ctx, server_check = server_side(store)
    client_ctx, client_check = meshed_client(foreign, ident)
    result = exchange(server_ctx, client_ctx, server_check, client_check)
    assert isinstance(result["server"], tls.PeerRejected)
    assert "trust domain 'other.local'" in str(result["server"])
    assert result.get("data") != b"ok"


def test_peer_identity_needs_a_certificate() -> None:
    class NoCert:
        def getpeercert(self, binary_form: bool = False) -> None:
            return None

    with pytest.raises(tls.PeerRejected):
        tls.peer_identity(NoCert())  # type: ignore[arg-type]
