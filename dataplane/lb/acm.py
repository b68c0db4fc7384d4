"""An emulated AWS Certificate Manager: one public root, one certificate per ARN.

A certificate ARN named by an Ingress is "issued" by the emulation's public
root for the domains it covers (declared in the Topology document, or the
hosts of the Ingresses that name it), the way an ACM certificate a user
requested for those names would be.  The outside client trusts the root
(``root_path``), as a browser trusts Amazon's.  Keys and certificates live in
the state directory, made once at ``up`` and re-read by the agent that serves
the load balancers; a new ARN or new domains on ``apply`` issue a new one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dataplane.atomicfile import write_atomic
from dataplane.mesh.ca import CLOCK_SKEW, Issued, make_root, utcnow
from dataplane.state.layout import acm_dir

LIFETIME = dt.timedelta(days=395)  # ACM's public certificates last 13 months


@dataclass(frozen=True)
class Files:
    cert: Path
    key: Path


def root_path(state_dir: Path) -> Path:
    return acm_dir(state_dir) / "root.pem"


def _files(state_dir: Path, arn: str, domains: tuple[str, ...]) -> Files:
    """Per ARN and domain set: a changed domain list is another certificate."""
    digest = hashlib.sha256(f"{arn}\n{','.join(domains)}".encode()).hexdigest()[:20]
    base = acm_dir(state_dir) / digest
    return Files(base.with_suffix(".pem"), base.with_suffix(".key"))


@contextlib.contextmanager
def _issuing(state_dir: Path) -> Iterator[None]:
    """One issuer at a time: the agents serving ALBs, NLBs and gateways on
    different nodes may all ask for the root (or one ARN) at once, and two
    issuing it would leave one of them serving a certificate of a root that
    is no longer on disk, or a key that does not match its certificate."""
    directory = acm_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_root(state_dir: Path, emulation: str) -> Issued:
    """The public root, made on first use."""
    cert_path, key_path = root_path(state_dir), acm_dir(state_dir) / "root.key"
    with _issuing(state_dir):
        if cert_path.exists() and key_path.exists():
            return _load(Files(cert_path, key_path))
        root = make_root(f"{emulation} public")
        _save(root, Files(cert_path, key_path))
        return root


def ensure_certificate(state_dir: Path, root: Issued, arn: str, domains: tuple[str, ...]) -> Files:
    """The key and certificate files of ``arn`` for ``domains``, issued if missing."""
    files = _files(state_dir, arn, domains)
    with _issuing(state_dir):
        if not (files.cert.exists() and files.key.exists()):
            _save(issue(root, arn, domains), files)
    return files


def issue(root: Issued, arn: str, domains: tuple[str, ...], now: dt.datetime | None = None) -> Issued:
    """A server certificate for ``domains`` (the first is the subject), as ACM issues them."""
    now = now or utcnow()
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    root_ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])]) if domains else x509.Name([])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=not domains)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        # ACM's ARN, so `openssl x509 -text` tells which certificate the client got
        .add_extension(x509.UnrecognizedExtension(_ARN_OID, arn.encode()), critical=False)
        .sign(root.key, hashes.SHA256())
    )
    return Issued(key, cert)


_ARN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # a private arc: "the certificate's ACM ARN"


def arn_of(cert: x509.Certificate) -> str | None:
    try:
        return cert.extensions.get_extension_for_oid(_ARN_OID).value.value.decode()  # type: ignore[attr-defined]
    except x509.ExtensionNotFound:
        return None


def _save(issued: Issued, files: Files) -> None:
    files.cert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomic(str(files.key), key, mode=0o600)
    write_atomic(str(files.cert), issued.cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _load(files: Files) -> Issued:
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Issued(key, x509.load_pem_x509_certificate(files.cert.read_bytes()))

