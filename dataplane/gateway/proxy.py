"""One ingress gateway pod as its node's agent serves it: a listener per Gateway port.

Inside the pod's namespace, on each distinct listener port:

* a port of ``HTTP`` listeners serves plain HTTP; each request's Host picks
  the listener (the most specific hostname that matches; none: 404);
* a port of ``HTTPS``/``TLS`` listeners reads the ClientHello first
  (``tls.peek_hello``) and picks the listener by SNI (``listeners.for_sni``).
  No listener for that name -- or no SNI while every listener names a host,
  which is what a client that sends none (an ALB re-encrypting to its
  targets) gets -- and the connection is reset before any handshake, as an
  Envoy with no matching filter chain does.  A ``Terminate`` listener then
  completes the handshake with its certificate (``tls.Certificates``) and
  serves HTTP (HTTP/2 by ALPN) from its own table; a request whose Host
  belongs to another listener of the port is 421, one no route serves 404.
  A ``Passthrough`` listener splices the untouched bytes to an endpoint of
  the TLSRoute backend its SNI selects (none: reset).

The peer address the gateway sees is the TCP peer: the client's through a
passthrough load balancer with ``externalTrafficPolicy: Local``, the ALB
node's behind an ALB.  Routes, endpoints and certificates follow each
reconcile (``refresh``); the ports are fixed while the pod is served.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Callable
from pathlib import Path

from dataplane.gateway.http import GatewayHttp, Routing
from dataplane.gateway.tls import Certificates, peek_hello, reset
from dataplane.gateway.view import GatewayView
from dataplane.kernel import ztsockets
from dataplane.l7.http.messages import Request
from dataplane.l7.routing import listeners as ls
from dataplane.l7.routing import model as routing
from dataplane.l7.routing import replies
from dataplane.l7.routing.decision import pick_backend
from dataplane.mesh.ztunnel.streams import NET_ERRORS, dial, splice
from dataplane.topology.plan import Pod

log = logging.getLogger(__name__)

Address = tuple[str, int]
MISDIRECTED = replies.LocalReply(421, b"Misdirected Request", "-", "misdirected_request")


class GatewayProxy:
    def __init__(self, state_dir: Path, emulation: str, pod: Pod, view: GatewayView):
        self.pod = pod
        self.view = view
        self.sockets = ztsockets.PodSockets(pod.netns, 0)
        self.http = GatewayHttp(self._dial, view)
        self.certificates = Certificates(state_dir, emulation)
        self._rng = random.Random()
        self._listening: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def ports(self) -> tuple[int, ...]:
        return self.view.ports

    def refresh(self, view: GatewayView) -> None:
        """New routes, endpoints and certificates for new requests and connections."""
        self.view = view
        self.http.backends = view
        self._issue()

    def _issue(self) -> None:
        """Every Terminate listener's certificate (and the public root) made now, not at a client's first handshake."""
        for listener in self.view.gateway.listeners:
            if listener.terminates:
                self.certificates.context(listener.certificates[0], self.view.certificate_domains(listener))

    async def _dial(self, address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await dial(self.sockets.tcp, address)

    async def open(self) -> None:
        self.sockets.start()
        try:
            self._issue()
            for port in self.ports:
                self._listening.append(ztsockets.listener_in(self.pod.netns, port))
        except BaseException:
            await self.close()
            raise
        for sock in self._listening:
            self._spawn(self._accept(sock))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for sock in self._listening:
            sock.close()
        self._listening.clear()
        self.http.close()
        self.sockets.close()

    def _spawn(self, work: object) -> None:
        task = asyncio.ensure_future(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        port = listening.getsockname()[1]
        while True:
            conn, peer = await loop.sock_accept(listening)
            self._spawn(self._connection(conn, peer, port))

    async def _connection(self, conn: socket.socket, peer: Address, port: int) -> None:
        try:
            served = self.view.on_port(port)
            if all(li.protocol == "HTTP" for li in served):
                reader, writer = await asyncio.open_connection(sock=conn)
                try:
                    await self.http.serve(reader, writer, "http", peer, self._by_host(port), http2=None)
                finally:
                    writer.close()
                return
            await self._tls(conn, peer, port)
        except Exception:  # one connection's bug must not take the agent down
            log.exception("gateway %s: connection from %s:%d failed", self.view.gateway.key, *peer)
            conn.close()

    def _by_host(self, port: int) -> Callable[[Request], Routing]:
        def choose(request: Request) -> Routing:
            served = self.view.on_port(port)
            chosen = ls.best((li.hostname or "*" for li in served), ls.host_of(request.authority))
            listener = next((li for li in served if (li.hostname or "*") == chosen), None)
            return Routing(self.view.tables.get(listener.name) if listener else None)

        return choose

    async def _tls(self, conn: socket.socket, peer: Address, port: int) -> None:
        hello = await peek_hello(conn)
        listener = ls.for_sni(self.view.on_port(port), hello.sni) if hello.tls and hello.complete else None
        if listener is None:
            log.info("gateway %s: %s:%d sent SNI %r: no listener on %d takes it, reset",
                     self.view.gateway.key, *peer, hello.sni, port)
            reset(conn)
            return
        if listener.terminates:
            await self._terminate(conn, peer, listener)
        else:
            await self._passthrough(conn, peer, listener, hello.sni or "")

    async def _terminate(self, conn: socket.socket, peer: Address, listener: ls.Listener) -> None:
        context = self.certificates.context(listener.certificates[0], self.view.certificate_domains(listener))
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol, sock=conn, ssl=context, ssl_handshake_timeout=10
            )
        except NET_ERRORS as exc:
            log.info("gateway %s: handshake with %s:%d: %s", self.view.gateway.key, *peer, exc)
            conn.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        tls = transport.get_extra_info("ssl_object")
        table = self.view.tables.get(listener.name)

        def choose(request: Request) -> Routing:
            host = ls.host_of(request.authority)
            if not ls.matches(listener.hostname, host) and any(
                ls.matches(li.hostname, host) for li in self.view.on_port(listener.port) if li != listener
            ):
                return Routing(None, MISDIRECTED)
            return Routing(self.view.tables.get(listener.name, table))

        try:
            await self.http.serve(reader, writer, "https", peer, choose, http2=tls.selected_alpn_protocol() == "h2")
        finally:
            writer.close()

    async def _passthrough(self, conn: socket.socket, peer: Address, listener: ls.Listener, sni: str) -> None:
        table = self.view.tables.get(listener.name)
        route = table.select(routing.Request("", "/", sni)) if table else None
        backend = pick_backend(route.backends, self._rng) if route is not None and route.backends else None
        endpoints = self.view.endpoints(backend.service, backend.port or 0) if backend else ()
        if not endpoints:
            log.info("gateway %s: SNI %r on %s: no backend endpoint, reset", self.view.gateway.key, sni, listener.name)
            reset(conn)
            return
        reader, writer = await asyncio.open_connection(sock=conn)
        try:
            up_reader, up_writer = await self._dial(self._rng.choice(endpoints))
        except NET_ERRORS as exc:
            log.info("gateway %s: SNI %r: %s", self.view.gateway.key, sni, exc)
            writer.transport.abort()
            return
        await splice(reader, writer, up_reader, up_writer)
