"""Serving one pod: its listening sockets, accepted connections and commands.

Every socket is created inside the pod's network namespace (by a short-lived
thread, ``netns.socket_in``) and then served from the agent's single event
loop, so a pod costs a few sockets, not a process.  Closing a pod must release
every one of them, listening and accepted alike: while any socket of the pod
stays open the kernel keeps its namespace, and its veth, alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

from dataplane.agent import dns_responder, reconcile, responders, serving, workloads
from dataplane.kernel import netns
from dataplane.topology.plan import ContainerPort, Pod

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 1024


def _bound_socket(pod: Pod, port: ContainerPort) -> socket.socket:
    kind = socket.SOCK_DGRAM if port.protocol == "UDP" else socket.SOCK_STREAM
    sock = netns.socket_in(pod.netns, socket.AF_INET, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port.port))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"bind 0.0.0.0:{port.port}/{port.protocol}: {exc.strerror}") from exc
    return sock


@contextlib.contextmanager
def _closed_on_error(sock: socket.socket) -> Iterator[socket.socket]:
    """Close ``sock`` if handing it to asyncio fails; once handed over, asyncio owns it."""
    try:
        yield sock
    except BaseException:
        sock.close()
        raise


class PodService:
    """Everything the agent holds for one pod, opened and closed as a unit."""

    def __init__(self, pod: Pod, log_dir: Path, zone: dns_responder.ZoneSource):
        self.pod = pod
        self._log_dir = log_dir
        self._zone = zone  # the agent's, shared: DNS ports answer from whatever plan it serves now
        self._servers: list[asyncio.Server] = []
        self._datagrams: list[asyncio.DatagramTransport] = []
        self._connections = responders.Connections()
        self.workloads: list[workloads.Workload] = []
        self.exited: dict[str, int] = {}  # a Job pod's containers that ran to the end: key -> exit code

    @property
    def sockets(self) -> int:
        """Listening sockets (TCP servers and UDP endpoints) currently open."""
        return len(self._servers) + len(self._datagrams)

    async def open(self) -> None:
        """Bind the ports of containers without a command (built-in responders),
        then start the container commands.

        All or nothing: on any failure what was opened is closed again before
        the error propagates, so a failed pod holds nothing in its namespace.
        """
        try:
            for port in serving.responder_ports(self.pod):
                await self._listen(port)
            for container in serving.commanded(self.pod):
                self.workloads.append(workloads.start(self.pod, container, self._log_dir))
        except BaseException:
            await workloads.stop(self.close())
            raise

    def report(self) -> reconcile.Served:
        """What the ready file says of this pod now."""
        return reconcile.Served(self.sockets, {w.key: w.proc.pid for w in self.workloads}, dict(self.exited))

    async def wait_completion(self) -> None:
        """Wait for every command of a Job's pod to end, recording each exit code as it does."""
        for workload in list(self.workloads):
            code = await asyncio.to_thread(workload.proc.wait)
            self.exited[workload.key] = code

    async def _listen(self, port: ContainerPort) -> None:
        loop = asyncio.get_running_loop()
        if port.protocol == "UDP":
            datagram = (
                dns_responder.datagram_factory(self._zone)
                if port.responder == dns_responder.RESPONDER
                else responders.datagram_factory(port.responder)
            )
            with _closed_on_error(_bound_socket(self.pod, port)) as sock:
                transport, _ = await loop.create_datagram_endpoint(datagram, sock=sock)
            self._datagrams.append(transport)
        else:
            stream = (
                dns_responder.stream_factory(self._zone, self._connections)
                if port.responder == dns_responder.RESPONDER
                else responders.stream_factory(port.responder, self.pod, self._connections)
            )
            with _closed_on_error(_bound_socket(self.pod, port)) as sock:
                self._servers.append(await loop.create_server(stream, sock=sock, backlog=LISTEN_BACKLOG))

    def close(self) -> list[workloads.Workload]:
        """Close every socket now; hand back the commands, which take longer to stop.

        asyncio closes an aborted transport's socket in a callback on the next
        loop iteration, so callers yield once before relying on it.
        """
        for server in self._servers:
            server.close()
        for transport in self._datagrams:
            transport.abort()
        self._connections.close()
        self._servers, self._datagrams = [], []
        stopping, self.workloads = self.workloads, []
        return stopping
