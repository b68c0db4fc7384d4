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
import time
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.events
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
