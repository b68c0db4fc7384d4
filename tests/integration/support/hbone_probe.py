"""A minimal HBONE client for attacking a meshed pod's 15008 from a test.

It is deliberately not the product's ``HbonePool``: plain blocking ``ssl``
and ``h2``, one connection, one CONNECT, so a test controls exactly which
certificate (if any) is presented and sees exactly what came back.
Certificates are made with ``dataplane.mesh.ca`` from any root (a throwaway
one, or the emulation's real root read from its state directory).
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import struct
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import h2.config
import h2.connection
import h2.errors
import h2.events
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dataplane.kernel import netns
from dataplane.mesh import ca
from dataplane.mesh.identity import SpiffeId
from dataplane.mesh.store import CertificateStore

HBONE_PORT = 15008


def real_root(store: CertificateStore) -> ca.Issued:
    """The emulation's root CA, key included (root-only files)."""
    cert = x509.load_pem_x509_certificate(Path(store.root_cert_path).read_bytes())
    key = serialization.load_pem_private_key(Path(store.root_key_path).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return ca.Issued(key, cert)


def write_pair(issued: ca.Issued, directory: Path, stem: str) -> tuple[Path, Path]:
    cert = directory / f"{stem}.crt"
    key = directory / f"{stem}.key"
    cert.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        issued.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key.chmod(0o600)
    return cert, key


def leaf(root: ca.Issued, identity: SpiffeId, directory: Path, stem: str, *, expired: bool = False) -> tuple[Path, Path]:
    """A workload certificate for ``identity`` signed by ``root``; ``expired``
    makes one whose validity ended a day ago."""
    now = ca.utcnow()
    if expired:
        issued = ca.issue_workload(root, identity, now=now - dt.timedelta(days=2), lifetime=dt.timedelta(days=1))
        assert issued.cert.not_valid_after_utc < now - dt.timedelta(hours=23)
    else:
        issued = ca.issue_workload(root, identity)
    return write_pair(issued, directory, stem)


def leaf_naming(root: ca.Issued, names: list[x509.GeneralName] | None, directory: Path, stem: str) -> tuple[Path, Path]:
    """A client certificate signed by ``root`` with a workload certificate's
    key usages, but naming exactly ``names`` in its SAN (no SAN at all for
    None): a chain the server's OpenSSL accepts, so only the identity check
    after the handshake can refuse it."""
    now = ca.utcnow()
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)]))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=2))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
    )
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return write_pair(ca.Issued(key, builder.sign(root.key, hashes.SHA256())), directory, stem)


def client_context(chain: tuple[Path, Path] | None, trust: ca.Issued | None = None) -> ssl.SSLContext:
    """TLS 1.3, ALPN h2, no SNI; presents ``chain`` if given.  The server is
    verified against ``trust`` when given (else not: the test is about what
    the *server* accepts)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["h2"])
    context.check_hostname = False
    if trust is None:
        context.verify_mode = ssl.CERT_NONE
    else:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=trust.cert.public_bytes(serialization.Encoding.PEM).decode())
    if chain is not None:
        context.load_cert_chain(str(chain[0]), str(chain[1]))
    return context


@dataclass
class Outcome:
    """How one CONNECT attempt ended."""

    handshake_error: str | None = None  # the TLS handshake failed on our side
    status: int | None = None  # the :status of the CONNECT response, if one came
    data: bytes = b""  # tunnel DATA received (application bytes)
    ended: str = ""  # how the connection/stream ended
    server_identity: str | None = None
    events: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """Refused = never a 200 and never an application byte."""
        return self.status != 200 and not self.data


def connect(
    src_netns: str,
    pod_ip: str,
    target_port: int,
    context: ssl.SSLContext,
    payload: bytes | None = None,
    timeout: float = 5.0,
) -> Outcome:
    """From inside ``src_netns``: TLS to ``pod_ip:15008``, CONNECT
    ``pod_ip:target_port``; on 200 send ``payload`` and collect what comes
    back until the stream ends (or ``timeout``)."""
    outcome = Outcome()
    raw = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    try:
        raw.connect((pod_ip, HBONE_PORT))
        try:
            tls = context.wrap_socket(raw, server_hostname=None)
        except (ssl.SSLError, OSError) as exc:
            outcome.handshake_error = f"{type(exc).__name__}: {exc}"
            return outcome
    except BaseException:
        raw.close()
        raise
    with tls:
        der = tls.getpeercert(binary_form=True)
        if der:
            try:
                outcome.server_identity = str(ca.spiffe_id_of(x509.load_der_x509_certificate(der)))
            except ValueError:
                pass
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, [(":method", "CONNECT"), (":authority", f"{pod_ip}:{target_port}")])
        deadline = time.monotonic() + timeout
        try:
            tls.sendall(conn.data_to_send())
            while not outcome.ended:
                tls.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = tls.recv(65536)
                except TimeoutError:
                    outcome.ended = "timeout"
                    break
                if not chunk:
                    outcome.ended = "eof"
                    break
                for event in conn.receive_data(chunk):
                    outcome.events.append(type(event).__name__)
                    if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                        outcome.status = int(dict(event.headers)[":status"])
                        if outcome.status == 200 and payload is not None:
                            conn.send_data(stream_id, payload)
                        elif outcome.status != 200:
                            outcome.ended = f"status {outcome.status}"
                    elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream_id:
                        outcome.data += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                    elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                        outcome.ended = "end_stream"
                        if outcome.status == 200:
                            conn.end_stream(stream_id)  # half-close our side too: a clean tunnel end
                    elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream_id:
                        outcome.ended = f"rst_stream {event.error_code!r}"
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        outcome.ended = f"goaway {event.error_code!r}"
                tls.sendall(conn.data_to_send())
        except (ssl.SSLError, OSError) as exc:  # a TLS 1.3 client-cert alert arrives after our handshake
            outcome.ended = f"{type(exc).__name__}: {exc}"
    return outcome


class Session:
    """One HBONE connection the test keeps open and drives step by step:
    several CONNECT streams, data on each, RST_STREAM on one, or an abrupt
    TCP reset of the whole connection -- the misbehaviours ``connect`` cannot
    produce.  Everything received is recorded per stream."""

    def __init__(self, src_netns: str, pod_ip: str, context: ssl.SSLContext, timeout: float = 5.0):
        raw = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(timeout)
        try:
            raw.connect((pod_ip, HBONE_PORT))
            self.tls = context.wrap_socket(raw, server_hostname=None)
        except BaseException:
            raw.close()
            raise
        self.pod_ip = pod_ip
        self.timeout = timeout
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.status: dict[int, int] = {}
        self.data: defaultdict[int, bytearray] = defaultdict(bytearray)
        self.ended: dict[int, str] = {}  # stream id -> "end_stream" or "rst_stream <code>"
        self.terminated = ""  # how the connection ended, if it did
        self._flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tls.close()

    def open(self, target_port: int) -> int:
        """CONNECT ``pod_ip:target_port``; returns the stream id once answered (see ``status``)."""
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, [(":method", "CONNECT"), (":authority", f"{self.pod_ip}:{target_port}")])
        self._flush()
        self._pump(lambda: stream_id in self.status or stream_id in self.ended)
        return stream_id

    def send(self, stream_id: int, payload: bytes) -> None:
        """DATA on ``stream_id`` (small payloads: within the initial windows)."""
        view = memoryview(payload)
        while view:
            size = min(len(view), self.conn.max_outbound_frame_size)
            self.conn.send_data(stream_id, view[:size].tobytes())
            view = view[size:]
        self._flush()

    def receive(self, stream_id: int, size: int) -> bytes:
        """Wait until ``size`` bytes came back on ``stream_id`` (or it ended, or the timeout)."""
        self._pump(lambda: len(self.data[stream_id]) >= size or stream_id in self.ended)
        return bytes(self.data[stream_id])

    def reset(self, stream_id: int) -> None:
        """RST_STREAM(CANCEL): the client abandons this tunnel only."""
        self.conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
        self._flush()

    def abort(self) -> None:
        """Drop the TCP connection with a RST, no GOAWAY and no TLS close_notify."""
        self.tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.tls.close()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.tls.sendall(data)

    def _pump(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.timeout
        while not done() and not self.terminated:
            self.tls.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.tls.recv(65536)
            except TimeoutError:
                return
            if not chunk:
                self.terminated = "eof"
                return
            for event in self.conn.receive_data(chunk):
                stream_id = getattr(event, "stream_id", 0)
                if isinstance(event, h2.events.ResponseReceived):
                    self.status[stream_id] = int(dict(event.headers)[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    self.data[stream_id] += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    self.ended[stream_id] = "end_stream"
                elif isinstance(event, h2.events.StreamReset):
                    self.ended[stream_id] = f"rst_stream {event.error_code!r}"
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.terminated = f"goaway {event.error_code!r}"
            self._flush()
