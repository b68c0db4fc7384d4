"""Certificates on disk: ``<state-dir>/certs/``, readable by root only.

Layout (directories 0700, keys 0600, certificates 0644)::

    certs/.lock                 flock: writers exclusive, readers shared
    certs/root-cert.pem         the emulation's root
    certs/root-key.pem
    certs/<ns>.<sa>/cert.pem    one leaf per service account (a namespace is a
    certs/<ns>.<sa>/key.pem     DNS label, so the first dot separates the two)

Several processes (one ztunnel per node) share the directory and may renew
the same identity at once, so every change happens under an exclusive
``flock`` and a key and its certificate are only ever read together under a
shared one: nobody loads a new key with an old certificate.  Python's ``ssl``
reads keys only from files, which is why they live here rather than in memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dataplane.mesh.ca import (
    WORKLOAD_LIFETIME,
    Issued,
    expired,
    issue_workload,
    issued_by,
    make_root,
    rotation_due,
    spiffe_id_of,
    utcnow,
)
from dataplane.mesh.identity import InvalidSpiffeId, SpiffeId
from dataplane.topology.naming import fit_file_name

DIR_MODE = 0o700
KEY_MODE = 0o600
CERT_MODE = 0o644
ROOT_NAME = "ROOTCA"  # what istioctl calls the root in its certificate listing


@dataclass(frozen=True)
class CertRow:
    """One line of ``dpctl mesh certs``."""

    name: str  # "<ns>/<sa>", or ROOTCA
    type: str  # "Leaf" | "Root"
    spiffe_id: str  # "" for the root
    serial: str  # lowercase hex
    not_before: dt.datetime
    not_after: dt.datetime
    status: str  # "Valid" | "Expired" | "RotationDue"


class CertificateStore:
    """The root and the workload certificates of one emulation, created on
    first use and renewed when due."""

    def __init__(
        self, directory: str, emulation: str, trust_domain: str, lifetime: dt.timedelta = WORKLOAD_LIFETIME
    ) -> None:
        self.directory = directory
        self.emulation = emulation
        self.trust_domain = trust_domain
        self.lifetime = lifetime

    # -- paths

    @property
    def root_cert_path(self) -> str:
        return os.path.join(self.directory, "root-cert.pem")

    @property
    def root_key_path(self) -> str:
        return os.path.join(self.directory, "root-key.pem")

    def _identity_dir(self, identity: SpiffeId) -> str:
        return os.path.join(self.directory, fit_file_name(f"{identity.namespace}.{identity.service_account}"))

    def cert_path(self, identity: SpiffeId) -> str:
        return os.path.join(self._identity_dir(identity), "cert.pem")

    def key_path(self, identity: SpiffeId) -> str:
        return os.path.join(self._identity_dir(identity), "key.pem")

    # -- issuing

    def root(self, now: dt.datetime | None = None) -> x509.Certificate:
        """The root certificate, made (or replaced, once expired) if need be."""
        with self._lock(fcntl.LOCK_EX):
            return self._current_root(now or utcnow()).cert

    def root_pem(self, now: dt.datetime | None = None) -> str:
        """The root in PEM: the only trust anchor of every TLS context."""
        return self.root(now).public_bytes(serialization.Encoding.PEM).decode()

    def workload(self, identity: SpiffeId, now: dt.datetime | None = None) -> x509.Certificate:
        """The certificate of ``identity``, issued now if missing, damaged,
        signed by a former root, or at half-life."""
        if identity.trust_domain != self.trust_domain:
            raise InvalidSpiffeId(f"{identity} is not in trust domain {self.trust_domain!r}")
        now = now or utcnow()
        with self._lock(fcntl.LOCK_EX):
            root = self._current_root(now)
            current = _load_pair(self.cert_path(identity), self.key_path(identity))
            if current and issued_by(current.cert, root.cert) and not rotation_due(current.cert, now):
                return current.cert
            fresh = issue_workload(root, identity, now, self.lifetime)
            os.makedirs(self._identity_dir(identity), mode=DIR_MODE, exist_ok=True)
            os.chmod(self._identity_dir(identity), DIR_MODE)
            _save_pair(fresh, self.cert_path(identity), self.key_path(identity))
            return fresh.cert

    def load_cert_chain(self, context: ssl.SSLContext, identity: SpiffeId) -> None:
        """Load the key and certificate of ``identity`` into ``context`` as one
        consistent pair (call ``workload`` first)."""
        with self._lock(fcntl.LOCK_SH):
            context.load_cert_chain(self.cert_path(identity), self.key_path(identity))

    def _current_root(self, now: dt.datetime) -> Issued:
        root = _load_pair(self.root_cert_path, self.root_key_path)
        if root and not expired(root.cert, now):
            return root
        root = make_root(self.emulation, now)
        _save_pair(root, self.root_cert_path, self.root_key_path)
        return root

    # -- reading

    def listing(self, now: dt.datetime | None = None) -> list[CertRow]:
        """The root, then every workload certificate, without issuing anything."""
        now = now or utcnow()
        if not os.path.isdir(self.directory):
            return []
        rows: list[CertRow] = []
        with self._lock(fcntl.LOCK_SH):
            root = _load_cert(self.root_cert_path)
            if root is not None:
                rows.append(_row(ROOT_NAME, "Root", "", root, "Expired" if expired(root, now) else "Valid"))
            for entry in sorted(os.listdir(self.directory)):
                cert = _load_cert(os.path.join(self.directory, entry, "cert.pem"))
                if cert is None:
                    continue
                try:
                    identity = spiffe_id_of(cert)
                except InvalidSpiffeId:
                    continue
                if expired(cert, now):
                    status = "Expired"
                elif rotation_due(cert, now):
                    status = "RotationDue"
                else:
                    status = "Valid"
                rows.append(_row(f"{identity.namespace}/{identity.service_account}", "Leaf", str(identity), cert, status))
        return rows

    @contextlib.contextmanager
    def _lock(self, mode: int) -> Iterator[None]:
        os.makedirs(self.directory, mode=DIR_MODE, exist_ok=True)
        os.chmod(self.directory, DIR_MODE)
        fd = os.open(os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT, KEY_MODE)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)


def _row(name: str, kind: str, identity: str, cert: x509.Certificate, status: str) -> CertRow:
    return CertRow(
        name=name,
        type=kind,
        spiffe_id=identity,
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        status=status,
    )


def _load_cert(path: str) -> x509.Certificate | None:
    try:
        with open(path, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def _load_pair(cert_path: str, key_path: str) -> Issued | None:
    """A key and its certificate, or None when either is missing, damaged, or
    they do not belong together (which then gets reissued)."""
    cert = _load_cert(cert_path)
    if cert is None:
        return None
    try:
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except (FileNotFoundError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    return Issued(key, cert)


def _save_pair(issued: Issued, cert_path: str, key_path: str) -> None:
    key_pem = issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(key_path, key_pem, KEY_MODE)
    _write(cert_path, issued.cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)


def _write(path: str, data: bytes, mode: int) -> None:
    """Replace ``path`` atomically; the mode is set before any byte is written,
    whatever the umask."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
