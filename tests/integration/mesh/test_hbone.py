"""HBONE client pool ↔ server over real mTLS sockets on loopback (no root needed).

A throwaway CA and two SPIFFE leaf certificates are made here with
``cryptography``; the real ones come from ``dataplane.mesh.ca``/``tls``.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dataplane.mesh.hbone import (
    HboneError,
    HbonePool,
    HboneServer,
    IdentityError,
    Keepalive,
    Rejection,
    Stream,
    StreamResetError,
    Tunnel,
    relay,
    stream_io,
)
from dataplane.mesh.hbone.protocol import KEEPALIVE
from dataplane.mesh.hbone.server import Accept
from dataplane.mesh.hbone.session import H2Session

CLIENT_ID = "spiffe://cluster.local/ns/a/sa/x"
SERVER_ID = "spiffe://cluster.local/ns/b/sa/y"


def _cert(path: Path, name: str, uri: str | None, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None) -> tuple[x509.Name, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0] if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if uri:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return subject, key


@dataclass
class Contexts:
    server: ssl.SSLContext
    client: ssl.SSLContext


def _context(purpose: int, ca: Path, leaf: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(ca))
    ctx.load_cert_chain(str(leaf.with_suffix(".crt")), str(leaf.with_suffix(".key")))
    ctx.set_alpn_protocols(["h2"])
    return ctx


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Contexts:
    d = tmp_path_factory.mktemp("hbone-pki")
    ca = _cert(d / "ca", "throwaway CA", None, None)
    _cert(d / "server", "server", SERVER_ID, ca)
    _cert(d / "client", "client", CLIENT_ID, ca)
    return Contexts(
        server=_context(ssl.PROTOCOL_TLS_SERVER, d / "ca.crt", d / "server"),
        client=_context(ssl.PROTOCOL_TLS_CLIENT, d / "ca.crt", d / "client"),
    )


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo until FIN, then FIN back; ``RESET`` in the data makes it answer with a TCP RST."""
    while data := await reader.read(65536):
        if b"RESET" in data:
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        writer.write(data)
        await writer.drain()
    writer.write_eof()
    writer.close()


@dataclass
class Mesh:
    pool: HbonePool
    server: HboneServer
    hbone: tuple[str, int]
    echo_port: int
    tls: Contexts

    async def connect(self, port: int | None = None, **kwargs: object) -> Stream:
        authority = f"127.0.0.1:{self.echo_port if port is None else port}"
        options: dict[str, object] = {"ssl_context": self.tls.client, "expected_identity": SERVER_ID,
                                      "source_identity": CLIENT_ID, "forwarded_for": ("127.0.0.1", 40000)}
        options.update(kwargs)
        return await self.pool.connect(self.hbone, authority, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def mesh(
    tls: Contexts, deny: str | Rejection | None = None, handshake_timeout: float = 10.0, keepalive: Keepalive = KEEPALIVE
) -> AsyncIterator[Mesh]:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)

    async def dial(target: tuple[str, int], source: tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(*target)

    server = HboneServer(tls.server, authorize=lambda identity, src, dst: deny, dial=dial,
                         handshake_timeout=handshake_timeout, keepalive=keepalive)
    await server.serve(listener)
    pool = HbonePool(keepalive=keepalive)
    try:
        yield Mesh(pool, server, listener.getsockname(), echo.sockets[0].getsockname()[1], tls)
    finally:
        await pool.close()
        await server.close()
        echo.close()
        await echo.wait_closed()


async def read_all(stream: Stream) -> bytes:
    chunks = []
    while data := await stream.read():
        chunks.append(data)
    return b"".join(chunks)


async def echo_roundtrip(stream: Stream, payload: bytes) -> bytes:
    """Send everything, half-close, and collect the echo concurrently."""

    async def send() -> None:
        await stream.write(payload)
        stream.write_eof()

    received, _ = await asyncio.gather(read_all(stream), send())
    return received


def run(tls: Contexts, body: Callable[[Mesh], Awaitable[None]], **options: object) -> None:
    async def main() -> None:
        async with mesh(tls, **options) as m:  # type: ignore[arg-type]
            await asyncio.wait_for(body(m), 60)

    asyncio.run(main())


def test_one_stream_8mib_intact(tls: Contexts) -> None:
    payload = os.urandom(8 * 1024 * 1024)

    async def body(m: Mesh) -> None:
        stream = await m.connect()
        received = await echo_roundtrip(stream, payload)
        assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()

    run(tls, body)


def test_200_concurrent_streams_share_at_most_two_connections(tls: Contexts) -> None:
    async def one(m: Mesh) -> None:
        payload = os.urandom(64 * 1024)
        stream = await m.connect()
        assert hashlib.sha256(await echo_roundtrip(stream, payload)).digest() == hashlib.sha256(payload).digest()

    async def body(m: Mesh) -> None:
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, len(m.server.sessions))
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        await asyncio.gather(*(one(m) for _ in range(200)))
        watcher.cancel()
        assert 1 <= m.pool.connection_count() <= 2
        assert max(peak, len(m.server.sessions)) <= 2

    run(tls, body)


def test_half_close_still_delivers_the_echo_then_eof(tls: Contexts) -> None:
    async def body(m: Mesh) -> None:
        stream = await m.connect()
        await stream.write(b"hello, ")
        await stream.write(b"world")
        stream.write_eof()
        assert await read_all(stream) == b"hello, world"
        assert await stream.read() == b""

    run(tls, body)


def test_refused_upstream_is_503(tls: Contexts) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()

    async def body(m: Mesh) -> None:
        with pytest.raises(HboneError) as err:
            await m.connect(port)
        assert err.value.status == 503
        assert "503 Service Unavailable" in str(err.value)
        # the pooled connection survives a refused stream
        assert await echo_roundtrip(await m.connect(), b"still fine") == b"still fine"

    run(tls, body)


def test_denied_by_authorize_is_401(tls: Contexts) -> None:
    async def body(m: Mesh) -> None:
        with pytest.raises(HboneError) as err:
            await m.connect()
        assert err.value.status == 401

    run(tls, body, deny="policy ns-b/deny-all")


def test_authorize_rejection_keeps_its_status(tls: Contexts) -> None:
    """A ``Rejection`` from authorize (the ztunnel's ip-mismatch rule, §1.5 step 3) is answered as is: 400."""

    async def body(m: Mesh) -> None:
        with pytest.raises(HboneError) as err:
            await m.connect()
        assert err.value.status == 400

    run(tls, body, deny=Rejection(400, "ip mismatch: 127.0.0.1 is not 10.0.0.1"))


def test_connect_to_15008_is_503(tls: Contexts) -> None:
    async def body(m: Mesh) -> None:
        with pytest.raises(HboneError) as err:
            await m.connect(15008)
        assert err.value.status == 503

    run(tls, body)


def test_unexpected_server_identity_is_refused(tls: Contexts) -> None:
    async def body(m: Mesh) -> None:
        with pytest.raises(IdentityError, match="expected SAN"):
            await m.connect(expected_identity="spiffe://cluster.local/ns/b/sa/other")

    run(tls, body)


def test_stalled_handshake_does_not_block_others(tls: Contexts) -> None:
    async def body(m: Mesh) -> None:
        loop = asyncio.get_running_loop()
        stalled = socket.create_connection(m.hbone)
        stalled.setblocking(False)
        started = loop.time()
        assert await echo_roundtrip(await m.connect(), b"ping") == b"ping"
        assert loop.time() - started < 1.0
        # the server gives up on the silent peer after its handshake timeout
        assert await asyncio.wait_for(loop.sock_recv(stalled, 1), 5) == b""
        stalled.close()

    run(tls, body, handshake_timeout=1.0)


def test_upstream_reset_reaches_the_client_as_rst_stream(tls: Contexts) -> None:
    async def body(m: Mesh) -> None:
        stream = await m.connect()
        await stream.write(b"RESET")
        with pytest.raises(StreamResetError, match="CONNECT_ERROR"):
            await read_all(stream)

    run(tls, body)


def test_client_side_relay_carries_an_application_connection(tls: Contexts) -> None:
    """App socket → client relay → HBONE → server relay → echo, FIN carried end to end."""

    async def body(m: Mesh) -> None:
        results = []

        async def capture(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            results.append(await relay(await m.connect(), reader, writer))

        inbound = await asyncio.start_server(capture, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*inbound.sockets[0].getsockname())
        payload = os.urandom(3 * 1024 * 1024 + 7)
        writer.write(payload)
        writer.write_eof()
        assert await reader.read() == payload
        writer.close()
        inbound.close()
        await inbound.wait_closed()
        assert (results[0].to_stream, results[0].from_stream, results[0].reset) == (len(payload), len(payload), False)

    run(tls, body)


QUICK_KEEPALIVE = Keepalive(interval=0.2, timeout=0.5)


def test_keepalive_keeps_a_quiet_healthy_connection(tls: Contexts) -> None:
    """PINGs are answered: a pooled connection idle for many keepalive periods is still the one used."""

    async def body(m: Mesh) -> None:
        assert await echo_roundtrip(await m.connect(), b"one") == b"one"
        [session] = [s for group in m.pool._sessions.values() for s in group]
        await asyncio.sleep(QUICK_KEEPALIVE.timeout * 4)
        assert session.error is None
        assert await echo_roundtrip(await m.connect(), b"two") == b"two"
        assert [s for group in m.pool._sessions.values() for s in group] == [session]

    run(tls, body, keepalive=QUICK_KEEPALIVE)


class _Mute(asyncio.Protocol):
    """A peer that completes the TLS handshake and then never answers: a node that vanished."""


def test_keepalive_drops_a_connection_whose_peer_went_silent(tls: Contexts) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Mute, "127.0.0.1", 0, ssl=tls.server)
        try:
            _, session = await loop.create_connection(
                lambda: H2Session(client=True, keepalive=QUICK_KEEPALIVE),
                *server.sockets[0].getsockname()[:2], ssl=tls.client, server_hostname="",
            )
            started = loop.time()
            await asyncio.wait_for(asyncio.shield(session.closed), 5)
            waited = loop.time() - started
            assert session.error is not None and "keepalive timeout" in str(session.error)
            assert QUICK_KEEPALIVE.interval + QUICK_KEEPALIVE.timeout - 0.1 <= waited < 3.0
        finally:
            server.close()

    asyncio.run(main())


async def _accepting_echo(tunnel: Tunnel, stream: Stream) -> None:
    """``_echo`` through the asyncio-style adapters, on the accepted stream itself."""
    reader, writer = stream_io(stream)
    while data := await reader.read(65536):
        if b"RESET" in data:
            writer.abort()
            return
        writer.write(data)
        await writer.drain()
    writer.close()


def run_accepting(tls: Contexts, body: Callable[[Mesh], Awaitable[None]], handler: Accept = _accepting_echo) -> None:
    """``run`` with a server that hands each CONNECT to ``handler`` instead of dialling."""

    async def main() -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        server = HboneServer(tls.server, authorize=lambda identity, src, dst: None, dial=None, accept=handler)
        await server.serve(listener)
        pool = HbonePool()
        try:
            await asyncio.wait_for(body(Mesh(pool, server, listener.getsockname(), 8080, tls)), 60)
        finally:
            await pool.close()
            await server.close()

    asyncio.run(main())


def test_adapters_carry_8mib_both_ways_within_flow_control(tls: Contexts) -> None:
    payload = os.urandom(8 * 1024 * 1024)  # twice the stream window: the writer must wait for credit

    async def body(m: Mesh) -> None:
        reader, writer = stream_io(await m.connect())

        async def send() -> None:
            writer.write(payload)  # one write: what the window does not take now waits in the writer
            await writer.drain()
            writer.write_eof()

        async def receive() -> bytes:
            chunks = []
            while data := await reader.read(100_000):
                chunks.append(data)
            return b"".join(chunks)

        received, _ = await asyncio.gather(receive(), send())
        assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()

    run_accepting(tls, body)


def test_adapter_half_close_then_close_ends_the_stream_cleanly(tls: Contexts) -> None:
    async def body(m: Mesh) -> None:
        stream = await m.connect()
        reader, writer = stream_io(stream)
        writer.write(b"hello, ")
        writer.write(b"world")
        writer.write_eof()
        assert await reader.read(5) == b"hello"  # a read smaller than the chunk keeps the rest
        rest = b""
        while data := await reader.read():
            rest += data
        assert rest == b", world"
        assert await reader.read() == b""
        writer.close()
        assert stream.done

    run_accepting(tls, body)


def test_adapter_abort_is_a_reset_for_the_peer(tls: Contexts) -> None:
    async def body(m: Mesh) -> None:
        reader, writer = stream_io(await m.connect())
        writer.write(b"RESET")
        await writer.drain()
        with pytest.raises(StreamResetError):
            await reader.read()

    run_accepting(tls, body)


def test_adapter_close_resets_when_the_peer_sends_after_it(tls: Contexts) -> None:
    async def close_at_once(tunnel: Tunnel, stream: Stream) -> None:
        _, writer = stream_io(stream)
        writer.close()  # END_STREAM now; data arriving later is answered with a reset, as a closed socket does

    async def body(m: Mesh) -> None:
        stream = await m.connect()
        assert await stream.read() == b""  # the server's END_STREAM
        await stream.write(b"late")
        for _ in range(500):
            if stream.done:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(StreamResetError):
            stream.check()

    run_accepting(tls, body, close_at_once)
