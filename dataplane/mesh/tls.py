"""The TLS of HBONE: contexts for both ends and the checks ztunnel makes.

ztunnel (rustls) speaks TLS 1.3 only, with ALPN ``h2``, no SNI, a mandatory
client certificate, the mesh root as the only trust anchor and the suites
TLS_AES_256_GCM_SHA384 and TLS_AES_128_GCM_SHA256.  Python's ``ssl`` gets us
most of that, with two differences, both closed right after the handshake by
``verify_server`` / ``verify_client`` before a byte of payload moves:

* TLS 1.3 suites cannot be chosen: ``set_ciphers`` only governs TLS 1.2 and
  ``SSLContext`` has no ``set_ciphersuites`` (not in 3.11, nor in 3.12/3.13);
  only a process-wide OpenSSL config file could.  The server prefers its own
  order (``OP_CIPHER_SERVER_PREFERENCE``), whose first entry is
  AES-256-GCM, so two dpctl ends always agree on it, and any session that
  ended up on another suite (ChaCha20) is refused by the checks.
* There is no verification callback: identities are read once the handshake
  is done (rustls checks them inside it).  Chain, validity window and the
  client certificate's presence are still enforced by OpenSSL in the
  handshake.
"""

from __future__ import annotations

import ssl
from collections.abc import Collection

from cryptography import x509

from dataplane.mesh.ca import spiffe_id_of
from dataplane.mesh.identity import InvalidSpiffeId, SpiffeId
from dataplane.mesh.store import CertificateStore

ALPN = "h2"
CIPHER_SUITES = frozenset({"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"})

TlsConnection = ssl.SSLObject | ssl.SSLSocket


class PeerRejected(ConnectionError):
    """The TLS handshake completed but the peer is not acceptable; close the
    connection without sending anything."""


def server_context(store: CertificateStore, identity: SpiffeId) -> ssl.SSLContext:
    """What the destination side presents for ``identity`` (one context per
    workload identity: in-pod, the listener's pod decides, never SNI)."""
    context = _context(ssl.PROTOCOL_TLS_SERVER, store, identity)
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.num_tickets = 0  # ztunnel clients never resume; don't send tickets
    return context


def client_context(store: CertificateStore, identity: SpiffeId) -> ssl.SSLContext:
    """What the source side presents for ``identity``.  Wrap with
    ``server_hostname=None``: no SNI, and names are checked by SPIFFE id."""
    context = _context(ssl.PROTOCOL_TLS_CLIENT, store, identity)
    context.check_hostname = False
    return context


def _context(protocol: int, store: CertificateStore, identity: SpiffeId) -> ssl.SSLContext:
    store.workload(identity)
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols([ALPN])
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.load_verify_locations(cadata=store.root_pem())
    store.load_cert_chain(context, identity)
    return context


def peer_identity(conn: TlsConnection) -> SpiffeId:
    """The SPIFFE id in the peer's (already chain-verified) certificate."""
    der = conn.getpeercert(binary_form=True)
    if not der:
        raise PeerRejected("identity verification error: peer presented no certificate")
    try:
        return spiffe_id_of(x509.load_der_x509_certificate(der))
    except InvalidSpiffeId as exc:
        raise PeerRejected(f"identity verification error: {exc}") from None


def verify_server(conn: TlsConnection, expected: Collection[SpiffeId]) -> SpiffeId:
    """Client side: the server must be one of the identities we meant to reach
    (the destination workload's, or a service's SANs)."""
    _check_session(conn)
    peer = peer_identity(conn)
    if peer not in expected:
        wanted = ", ".join(sorted(str(e) for e in expected))
        raise PeerRejected(f"identity verification error: peer did not present the expected SAN ({wanted}), got {peer}")
    return peer


def verify_client(conn: TlsConnection, trust_domain: str) -> SpiffeId:
    """Server side: any identity of our own trust domain is let through to
    authorization, which decides on the principal."""
    _check_session(conn)
    peer = peer_identity(conn)
    if peer.trust_domain != trust_domain:
        raise PeerRejected(
            f"identity verification error: peer trust domain {peer.trust_domain!r} is not {trust_domain!r}"
        )
    return peer


def _check_session(conn: TlsConnection) -> None:
    """What the context could not force: the ALPN (a peer without h2 is not
    refused by OpenSSL, just left without a protocol) and the suite."""
    if conn.selected_alpn_protocol() != ALPN:
        raise PeerRejected(f"TLS policy error: ALPN {conn.selected_alpn_protocol()!r}, expected {ALPN!r}")
    cipher = conn.cipher()
    if cipher is None or cipher[0] not in CIPHER_SUITES or conn.version() != "TLSv1.3":
        raise PeerRejected(f"TLS policy error: {conn.version()} {cipher and cipher[0]} is not allowed")
