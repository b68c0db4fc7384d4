"""The NLB listeners the kernel cannot serve: TLS termination and PROXY v2, proxied by the edge agent.

``kubeproxy.nlb`` leaves these listeners out of the LB namespace's DNAT;
this proxy listens on the same addresses instead (they are local to that
namespace) and, per connection, picks one of the zone node's healthy targets
as the kernel path would (``kubeproxy.nlb.targets``, re-read on every
reconcile, so ``apply`` moves the next connections).

* A TLS listener (``ssl-cert``/``ssl-ports``) terminates with the emulated
  ACM's certificate the SNI chooses (the first ARN without a match) and
  sends plaintext (``backend-protocol: tcp``) or a new TLS session
  (``ssl``, the target's certificate not verified), as the reference says.
* With ``proxy-protocol: "*"`` a binary PROXY v2 header carrying the
  client's address and the listener's goes first.
* The connection to the target always comes from the NLB node's private
  address: the emulation's choice, since spoofing the client (IP_TRANSPARENT)
  would need the replies steered back into this socket; the client's
  address is in the PROXY v2 header, the way AWS recommends to keep it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from dataplane.edge import certificates, proxyv2
from dataplane.kernel import netns
from dataplane.kubeproxy.nlb import ServedNlb, served_nlbs, targets
from dataplane.lb import acm
from dataplane.topology.endpoints import all_service_endpoints
from dataplane.topology.plan import Plan

log = logging.getLogger(__name__)
BACKLOG = 128
CHUNK = 65536
CONNECT_TIMEOUT = 10.0

Address = tuple[str, int]


@dataclass(frozen=True)
class _Route:
    """Where one listener address sends its next connection."""

    source: str  # the zone node's private address
    targets: tuple[Address, ...]
    proxy_protocol: bool
    backend_tls: bool
    certificates: tuple[str, ...]  # ARNs, when the listener terminates TLS


class NlbProxies:
    def __init__(self, state_dir: Path):
        self._state_dir = state_dir
        self._routes: dict[Address, _Route] = {}
        self._servers: dict[Address, tuple[asyncio.Server, tuple[str, ...]]] = {}
        self._netns: str | None = None

    async def reconcile(self, plan: Plan) -> list[str]:
        """Listen where ``plan``'s NLBs need a proxy and nowhere else; the errors."""
        self._routes = _routes(plan)
        self._netns = plan.external.lb_netns if plan.external else None
        for key, (server, arns) in list(self._servers.items()):
            route = self._routes.get(key)
            if route is None or route.certificates != arns:
                server.close()
                del self._servers[key]
        errors = []
        for key, route in self._routes.items():
            if key in self._servers or self._netns is None:
                continue
            try:
                context = self._tls(plan, route.certificates) if route.certificates else None
                self._servers[key] = (await self._listen(self._netns, key, context), route.certificates)
            except (OSError, ssl.SSLError) as exc:
                log.error("nlb listener %s:%d: %s", *key, exc)
                errors.append(f"nlb listener {key[0]}:{key[1]}: {exc}")
        return errors

    async def _listen(self, name: str, key: Address, context: ssl.SSLContext | None) -> asyncio.Server:
        sock = netns.socket_in(name, socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(key)
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(key, reader, writer)

        return await asyncio.start_server(serve, sock=sock, ssl=context, backlog=BACKLOG)

    def _tls(self, plan: Plan, arns: tuple[str, ...]) -> ssl.SSLContext:
        """One context per certificate, chosen per ClientHello by SNI (the first is the default)."""
        root = acm.ensure_root(self._state_dir, plan.name)
        chain = tuple((arn, plan.certificates.get(arn, ())) for arn in arns)
        contexts = {}
        for arn, domains in chain:
            files = acm.ensure_certificate(self._state_dir, root, arn, tuple(domains))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(files.cert), str(files.key))
            contexts[arn] = context

        def pick(sock: ssl.SSLObject, sni: str | None, default: ssl.SSLContext) -> None:
            sock.context = contexts[certificates.choose_certificate(chain, sni)]

        first = contexts[arns[0]]
        first.sni_callback = pick  # type: ignore[assignment]
        return first

    async def _serve(self, key: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        route = self._routes.get(key)
        try:
            if route is None or not route.targets or self._netns is None:
                return  # no healthy target: the NLB resets the connection
            upstream_reader, upstream_writer = await asyncio.wait_for(
                self._connect(self._netns, route, random.choice(route.targets)), CONNECT_TIMEOUT
            )
            if route.proxy_protocol:
                upstream_writer.write(proxyv2.header(writer.get_extra_info("peername")[:2], key))
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
            log.debug("nlb %s:%d: %s", *key, exc)
        finally:
            writer.close()

    async def _connect(
        self, name: str, route: _Route, target: Address
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = netns.socket_in(name, socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((route.source, 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, target)
        except OSError:
            sock.close()
            raise
        if not route.backend_tls:
            return await asyncio.open_connection(sock=sock)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the NLB does not verify targets
        return await asyncio.open_connection(sock=sock, ssl=context, server_hostname=None)

    async def close(self) -> None:
        for server, _ in self._servers.values():
            server.close()
        self._servers.clear()
        self._routes = {}


def _routes(plan: Plan) -> dict[Address, _Route]:
    slices = all_service_endpoints(plan)
    found: dict[Address, _Route] = {}
    for served in served_nlbs(plan):
        for port, endpoints in slices.get(served.service.key, ()):
            if port.protocol != "TCP" or not served.settings.in_userspace(port.port):
                continue
            for node in served.lb.nodes:
                route = _route(served, node.ip, port.port, targets(plan, served, node.zone, port, endpoints))
                for address in filter(None, (node.ip, node.public_ip)):
                    found[address, port.port] = route
    return found


def _route(served: ServedNlb, source: str, port: int, chosen: list[Address]) -> _Route:
    settings = served.settings
    arns = settings.certificates if settings.terminates(port) else ()
    return _Route(source, tuple(chosen), settings.proxy_protocol, settings.backend_tls and bool(arns), arns)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the half-close on (TLS has none: close instead)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        else:
            writer.close()
    except (OSError, ssl.SSLError):
        writer.close()
