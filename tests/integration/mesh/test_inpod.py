"""In-pod redirection on the real kernel: the verified topology of
``inpod-redirection.md`` (a node namespace routing /32s to two pods), capture
switched on in both pods, and a plain-TCP relay standing in for the ztunnel.

The relay below is a test double, not the ztunnel: no TLS, no HTTP/2; the
"tunnel" on 15008 starts with one line ``ip:port\\n`` naming the target.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dataplane.kernel import netns, nft, ztsockets
from dataplane.kernel.inpod import disable_redirection, enable_redirection
from dataplane.kernel.links import NamespaceConfig
from dataplane.mesh.constants import HBONE_PORT, INBOUND_PLAINTEXT_PORT, OUTBOUND_PORT, ZTUNNEL_MARK
from dataplane.mesh.redirect import MANGLE_TABLE, NAT_TABLE
from dataplane.mesh.ztunnel.capture import CAPTURE

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(120)]

NODE_IP, A_IP, B_IP = "10.77.0.1", "10.77.0.2", "10.77.0.3"
APP_PORT = 8080
PAYLOAD = 4 * 1024 * 1024


@dataclass(frozen=True)
class Topology:
    node: str
    a: str
    b: str


def _host_link_and_nft() -> tuple[str, str]:
    links = subprocess.run(["ip", "-o", "link"], check=True, capture_output=True, text=True).stdout
    rules = subprocess.run(["nft", "list", "ruleset"], check=True, capture_output=True, text=True).stdout
    # Counters move by themselves; names, flags and rules must not.
    return "\n".join(line.split(" link/")[0] for line in links.splitlines()), rules


@pytest.fixture
def topo(request: pytest.FixtureRequest) -> Iterator[Topology]:
    """node (10.77.0.1 on two veths, /32 routes) + pods a (.2) and b (.3)."""
    before = _host_link_and_nft()
    prefix = f"dp-ipdtest{secrets.token_hex(3)}"
    t = Topology(f"{prefix}.node", f"{prefix}.a", f"{prefix}.b")

    def cleanup() -> None:
        for name in (t.a, t.b, t.node):
            netns.delete(name)
        assert not netns.list_names(prefix)
        assert _host_link_and_nft() == before, "host links or nftables changed"

    request.addfinalizer(cleanup)
    for name in (t.node, t.a, t.b):
        netns.create(name)
    with NamespaceConfig(t.node) as node:
        node.sysctl("net.ipv4.ip_forward", 1)
        node.up("lo")
        for veth, pod, ip in (("va", t.a, A_IP), ("vb", t.b, B_IP)):
            node.veth(veth, "eth0", pod)
            node.address(veth, f"{NODE_IP}/32")
            node.up(veth)
            node.route(f"{ip}/32", dev=veth, scope_link=True)
    for pod, ip in ((t.a, A_IP), (t.b, B_IP)):
        with NamespaceConfig(pod) as cfg:
            cfg.up("lo")
            cfg.address("eth0", f"{ip}/32")
            cfg.up("eth0")
            cfg.route(f"{NODE_IP}/32", dev="eth0", scope_link=True)
            cfg.route("10.77.0.0/24", via=NODE_IP, dev="eth0", onlink=True)
    yield t


# -- the application in pod b: an echo server that records its peers ---------------------------


@dataclass
class App:
    server: asyncio.AbstractServer
    peers: list[str] = field(default_factory=list)


async def start_app(pod: str) -> App:
    sock = netns.socket_in(pod, socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((B_IP, APP_PORT))
    peers: list[str] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    return App(await asyncio.start_server(echo, sock=sock), peers)


# -- the ztunnel stand-in ------------------------------------------------------------------------


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction; EOF becomes a half-close on the other side."""
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def splice(
    r1: asyncio.StreamReader, w1: asyncio.StreamWriter, r2: asyncio.StreamReader, w2: asyncio.StreamWriter
) -> None:
    try:
        await asyncio.gather(pipe(r1, w2), pipe(r2, w1))
    finally:
        w1.close()
        w2.close()


async def dial(sock: socket.socket, ip: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    await asyncio.get_running_loop().sock_connect(sock, (ip, port))
    return await asyncio.open_connection(sock=sock)


Handler = Callable[[str, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Relay:
    """15001 and 15006 in both pods, 15008 in both pods; logs every accept."""

    topo: Topology
    log: list[tuple[str, int, str, tuple[str, int]]] = field(default_factory=list)
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> None:
        for pod in (self.topo.a, self.topo.b):
            for port, handler in (
                (OUTBOUND_PORT, self.outbound),
                (INBOUND_PLAINTEXT_PORT, self.inbound),
                (HBONE_PORT, self.tunnel),
            ):
                sock = ztsockets.listener_in(pod, port)
                self.servers.append(await asyncio.start_server(self._logged(pod, port, handler), sock=sock))

    def _logged(
        self, pod: str, port: int, handler: Handler
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            self.log.append((pod, port, writer.get_extra_info("peername")[0], ztsockets.original_dst(sock)))
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                await handler(pod, reader, writer)
            finally:
                self.tasks.discard(task)

        return accept

    async def outbound(self, pod: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Captured app connection: tunnel it to the destination pod's 15008."""
        dst_ip, dst_port = ztsockets.original_dst(writer.get_extra_info("socket"))
        up_r, up_w = await dial(ztsockets.marked_socket_in(pod, ZTUNNEL_MARK), dst_ip, HBONE_PORT)
        up_w.write(f"{dst_ip}:{dst_port}\n".encode())
        await splice(reader, writer, up_r, up_w)

    async def tunnel(self, pod: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Tunnel end: dial the app named in the header as the tunnel's peer."""
        target_ip, target_port = (await reader.readline()).decode().strip().rsplit(":", 1)
        client_ip = writer.get_extra_info("peername")[0]
        app_r, app_w = await dial(ztsockets.spoofed_socket_in(pod, client_ip, ZTUNNEL_MARK), target_ip, int(target_port))
        await splice(reader, writer, app_r, app_w)

    async def inbound(self, pod: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Captured plaintext from an unenrolled client: dial the app as that client."""
        dst_ip, dst_port = ztsockets.original_dst(writer.get_extra_info("socket"))
        client_ip = writer.get_extra_info("peername")[0]
        app_r, app_w = await dial(ztsockets.spoofed_socket_in(pod, client_ip, ZTUNNEL_MARK), dst_ip, dst_port)
        await splice(reader, writer, app_r, app_w)

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for server in self.servers:
            await server.wait_closed()


# -- clients -------------------------------------------------------------------------------------


async def echo_through(src_netns: str, payload: bytes) -> bytes:
    """Connect from ``src_netns`` to the app, send ``payload``, return the echo."""
    sock = netns.socket_in(src_netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    reader, writer = await asyncio.wait_for(dial(sock, B_IP, APP_PORT), 5)

    async def send() -> None:
        writer.write(payload)
        await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    echoed = await asyncio.wait_for(reader.read(-1), 30)
    await sender
    writer.close()
    return echoed


async def with_app_and_relay(t: Topology, scenario: Callable[[App, Relay], Awaitable[None]]) -> None:
    app = await start_app(t.b)
    relay = Relay(t)
    try:
        await relay.start()
        await scenario(app, relay)
    finally:
        await relay.close()
        app.server.close()
        await app.server.wait_closed()


# -- tests ---------------------------------------------------------------------------------------


def test_outbound_path_keeps_client_ip_and_bytes(topo: Topology) -> None:
    for pod in (topo.a, topo.b):
        enable_redirection(pod, CAPTURE)
        enable_redirection(pod, CAPTURE)  # idempotent

    async def scenario(app: App, relay: Relay) -> None:
        payload = os.urandom(PAYLOAD)
        echoed = await echo_through(topo.a, payload)
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
        assert app.peers == [A_IP]
        # Exactly: the app's connection captured on a's 15001 (original dst = the app), then the
        # relay's marked dial reaching b's 15008 directly; nothing captured it again.
        assert relay.log == [
            (topo.a, OUTBOUND_PORT, A_IP, (B_IP, APP_PORT)),
            (topo.b, HBONE_PORT, A_IP, (B_IP, HBONE_PORT)),
        ]

    asyncio.run(with_app_and_relay(topo, scenario))


def test_unenrolled_client_is_captured_inbound(topo: Topology) -> None:
    enable_redirection(topo.b, CAPTURE)

    async def scenario(app: App, relay: Relay) -> None:
        assert await echo_through(topo.node, b"hello\n") == b"hello\n"
        assert relay.log == [(topo.b, INBOUND_PLAINTEXT_PORT, NODE_IP, (B_IP, APP_PORT))]
        assert app.peers == [NODE_IP]

    asyncio.run(with_app_and_relay(topo, scenario))


def test_disable_restores_direct_delivery(topo: Topology) -> None:
    for pod in (topo.a, topo.b):
        enable_redirection(pod, CAPTURE)

    async def captured(app: App, relay: Relay) -> None:
        assert await echo_through(topo.a, b"x") == b"x"
        assert [entry[1] for entry in relay.log] == [OUTBOUND_PORT, HBONE_PORT]

    asyncio.run(with_app_and_relay(topo, captured))  # the relay is closed afterwards
    for pod in (topo.a, topo.b):
        disable_redirection(pod, CAPTURE)
        disable_redirection(pod, CAPTURE)  # idempotent
        ruleset = nft.ruleset(pod)
        assert NAT_TABLE not in ruleset and MANGLE_TABLE not in ruleset
        rules = subprocess.run(
            ["ip", "netns", "exec", pod, "ip", "rule"], check=True, capture_output=True, text=True
        ).stdout
        assert "fwmark" not in rules
        table = subprocess.run(
            ["ip", "netns", "exec", pod, "ip", "route", "show", "table", "100"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert table == ""

    async def direct() -> None:
        app = await start_app(topo.b)
        try:
            # No listener on 15001/15006 any more: only direct delivery can answer.
            assert await echo_through(topo.a, b"a") == b"a"
            assert await echo_through(topo.node, b"n") == b"n"
            assert app.peers == [A_IP, NODE_IP]
        finally:
            app.server.close()
            await app.server.wait_closed()

    asyncio.run(direct())


def test_original_dst_is_local_address_on_uncaptured_flow(topo: Topology) -> None:
    """15008 is exempt: SO_ORIGINAL_DST on it is the listener's own address."""
    enable_redirection(topo.b, CAPTURE)

    async def scenario(app: App, relay: Relay) -> None:
        sock = netns.socket_in(topo.node, socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        reader, writer = await asyncio.wait_for(dial(sock, B_IP, HBONE_PORT), 5)
        writer.write(f"{B_IP}:{APP_PORT}\nping".encode())
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(-1), 5) == b"ping"
        writer.close()
        assert relay.log == [(topo.b, HBONE_PORT, NODE_IP, (B_IP, HBONE_PORT))]
        assert app.peers == [NODE_IP]

    asyncio.run(with_app_and_relay(topo, scenario))
