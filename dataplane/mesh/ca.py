"""The emulation's certificate authority: one root, workload certificates.

This stands in for istiod's CA.  The shapes follow what ztunnel asks for and
what Istio issues: an ECDSA P-256 root valid ten years; per service account an
ECDSA P-256 leaf whose only name is its SPIFFE URI SAN (critical, because the
subject is empty, as RFC 5280 requires and Istio's BoringSSL builds do), valid
24 h by default with NotBefore set back two minutes so a peer whose clock is a
little behind still accepts it, and renewed at half-life.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dataplane.mesh.identity import InvalidSpiffeId, SpiffeId

ROOT_LIFETIME = dt.timedelta(days=3650)
WORKLOAD_LIFETIME = dt.timedelta(hours=24)
CLOCK_SKEW = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class Issued:
    """A private key and the certificate for it."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_root(emulation: str, now: dt.datetime | None = None, lifetime: dt.timedelta = ROOT_LIFETIME) -> Issued:
    """A self-signed root that may sign leaves only (pathlen 0: no intermediates)."""
    now = now or utcnow()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dpctl"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{emulation} root"),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now - CLOCK_SKEW + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def issue_workload(
    root: Issued,
    identity: SpiffeId,
    now: dt.datetime | None = None,
    lifetime: dt.timedelta = WORKLOAD_LIFETIME,
) -> Issued:
    """A fresh key and a leaf naming ``identity``, usable by both ends of a
    mutual-TLS connection (serverAuth and clientAuth)."""
    now = now or utcnow()
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    root_ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(root.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(identity))]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        .sign(root.key, hashes.SHA256())
    )
    return Issued(key, cert)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    """A root only signs certificates; a leaf signs handshakes (and, as Istio
    marks it, keyEncipherment, which TLS 1.3 never uses)."""
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def spiffe_id_of(cert: x509.Certificate) -> SpiffeId:
    """The one SPIFFE id a workload certificate names; a certificate with none,
    several, or a malformed one raises ``InvalidSpiffeId``."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise InvalidSpiffeId("certificate has no subject alternative name") from None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith("spiffe://")]
    if len(uris) != 1:
        raise InvalidSpiffeId(f"certificate names {len(uris)} SPIFFE ids, not one")
    return SpiffeId.parse(uris[0])


def rotation_due(cert: x509.Certificate, now: dt.datetime | None = None) -> bool:
    """True from half of the certificate's lifetime on (Istio's refresh
    point), or when its validity has not started yet (a clock step back)."""
    now = now or utcnow()
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return now < start or now >= start + (end - start) / 2


def expired(cert: x509.Certificate, now: dt.datetime | None = None) -> bool:
    """Outside the validity window: a peer would refuse it."""
    now = now or utcnow()
    return not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def issued_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    """Whether ``root`` signed ``cert`` (a leaf from a replaced root is not)."""
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
