"""The sockets a ztunnel opens inside the pods it serves (in-pod mode).

One ztunnel process serves every enrolled pod of its node, yet each of its
sockets must live in the pod's own network namespace: that is where the
pod's capture rules send traffic and where its address can be used as a
source.  A socket's namespace is fixed when it is created, so each one is
made inside the pod and then used from the ztunnel's event loop like any
other socket.  The ``*_socket_in`` functions make one with ``netns.socket_in``
(a short-lived thread per socket: fine for listeners and tests); the per-
connection sockets of a served pod come from its ``PodSockets``, one
persistent thread inside the pod that only calls ``socket.socket()``, the
options being set by the pure helpers ``marked`` and ``spoofed``.  All sockets
returned here are non-blocking, ready for asyncio.

Facts behind each option are in ``shared/reference/inpod-redirection.md``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import socket
import struct

from dataplane.kernel import netns

SOL_IP = socket.SOL_IP
SO_ORIGINAL_DST = 80
"""``getsockopt(SOL_IP, 80)``: conntrack's pre-NAT destination (linux/netfilter_ipv4.h)."""
_SOCKADDR_IN_LEN = 16

LISTEN_BACKLOG = socket.SOMAXCONN
"""Accept-queue length of the ztunnel's listeners (the kernel caps it at the
namespace's ``net.core.somaxconn``).  Pass it again to asyncio's
``start_server``/``create_server``: given ``sock=`` they call ``listen()``
once more with their own default of 100, which a burst of connects (1,000
clients at once) overflows; the overflow switches the listener to SYN cookies,
and a cookie ACK dropped because the queue is still full is followed by data
segments whose sequence numbers no longer validate the cookie: the kernel
answers them with RST, so the client's connection dies before the ztunnel
ever accepts it (``TcpExtSyncookiesFailed``, no access-log line)."""


def listener_in(pod_netns: str, port: int, *, bind: str = "0.0.0.0", transparent: bool = False) -> socket.socket:
    """A listening TCP socket on ``bind:port`` inside ``pod_netns``.

    Bind to 0.0.0.0 (the default) for the capture ports: REDIRECT in output
    rewrites the destination to 127.0.0.1 (15001), in prerouting to the pod's
    eth0 address (15006), so a listener on only one of them refuses the other.
    ``transparent`` sets IP_TRANSPARENT as Istio does (best effort); REDIRECT
    does not need it.  SO_REUSEADDR lets a restarted ztunnel rebind at once.
    Whoever serves it must keep ``LISTEN_BACKLOG`` (see there).
    """
    sock = netns.socket_in(pod_netns, socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if transparent:
            sock.setsockopt(SOL_IP, socket.IP_TRANSPARENT, 1)
        sock.bind((bind, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def original_dst(sock: socket.socket) -> tuple[str, int]:
    """Where the client meant to go before REDIRECT sent it to us.

    The kernel answers from the conntrack entry as a ``struct sockaddr_in``:
    port in bytes 2-3 (network order), IPv4 address in bytes 4-7.  On a flow
    that was not NATed it is the local address; in a namespace without any
    nat/ct rule it fails with ENOENT (OSError).
    """
    raw = sock.getsockopt(SOL_IP, SO_ORIGINAL_DST, _SOCKADDR_IN_LEN)
    port = struct.unpack_from("!H", raw, 2)[0]
    return str(ipaddress.IPv4Address(raw[4:8])), port


def mark(sock: socket.socket, value: int) -> socket.socket:
    """Give ``sock`` the ztunnel mark ``value`` so the pod's capture rules let it pass.

    Without it the ztunnel's own connections (e.g. to a peer's 15008) are
    redirected back to 15001 and loop.  Needs CAP_NET_ADMIN or CAP_NET_RAW.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, value)
    return sock


def marked(sock: socket.socket, value: int) -> socket.socket:
    """Configure ``sock``, a TCP socket made in the pod, for the ztunnel's own outbound dials.

    Made in the pod so it is routed like the pod (its source is the pod IP);
    marked so the pod's nat output chain does not capture it.  Closes ``sock``
    if it cannot be configured.
    """
    try:
        mark(sock, value)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def spoofed(sock: socket.socket, src_ip: str, value: int) -> socket.socket:
    """Configure ``sock``, a TCP socket made in the pod, bound to ``(src_ip, 0)``, a foreign address.

    Used to dial the pod's application so it sees the real client's IP.
    IP_TRANSPARENT is what allows both the bind (else EADDRNOTAVAIL) and the
    connect (IP_FREEBIND alone gives ENETUNREACH).  The mark makes the looped
    SYN get connmark 0x111, which steers the app's replies back through lo
    to this socket instead of out of eth0.  Port 0: reusing the client's own
    port would collide with its conntrack entry on the 15006 path.  Closes
    ``sock`` if it cannot be configured.
    """
    try:
        sock.setsockopt(SOL_IP, socket.IP_TRANSPARENT, 1)
        mark(sock, value)
        sock.bind((src_ip, 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def marked_socket_in(pod_netns: str, value: int) -> socket.socket:
    """A ``marked`` TCP socket in ``pod_netns`` (one short-lived thread per call)."""
    return marked(netns.socket_in(pod_netns, socket.AF_INET, socket.SOCK_STREAM), value)


def spoofed_socket_in(pod_netns: str, src_ip: str, value: int) -> socket.socket:
    """A ``spoofed`` TCP socket in ``pod_netns`` (one short-lived thread per call)."""
    return spoofed(netns.socket_in(pod_netns, socket.AF_INET, socket.SOCK_STREAM), src_ip, value)


SPARES = 16
"""Sockets a served pod keeps made in advance (see ``PodSockets``)."""


def _tcp_sockets(count: int) -> list[socket.socket]:
    return [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]


def _close_unclaimed(future: concurrent.futures.Future[list[socket.socket]]) -> None:
    """Sockets made for a dial that was cancelled meanwhile: nobody will close them."""
    if not future.cancelled() and future.exception() is None:
        for sock in future.result():
            sock.close()


class PodSockets:
    """Per-connection sockets of one served pod, made by one thread living inside it.

    Starting a thread per socket costs more than the connection itself, so
    the pod gets one ``netns.NetnsThread`` (from ``start``).  Handing each
    ``socket.socket()`` call to that thread still costs a thread switch and a
    loop wake-up on every dial (~0.1 ms on the connection-rate benchmark), so
    the thread keeps ``SPARES`` sockets made in advance: a dial takes one at
    once, and a refill is asked for in the background when half are gone.
    Only when the spares run out (a burst) does a dial wait for the thread.
    Configuring the socket (``marked``/``spoofed``) happens on the loop:
    options and bind do not depend on the thread.

    The thread and the spares hold the pod's namespace (and its veths) alive:
    ``close`` them as soon as the pod is no longer served.  Before ``start``
    and after ``close`` a request still gets its socket, from a short-lived
    thread (``netns.socket_in``).
    """

    def __init__(self, pod_netns: str, mark: int):
        self.netns = pod_netns
        self.mark = mark  # the ztunnel's SO_MARK for every socket it dials with
        self._thread: netns.NetnsThread | None = None
        self._spares: list[socket.socket] = []
        self._refilling = False

    def start(self) -> None:
        """Start the thread inside the pod (no-op if running); NetnsError if the pod is gone."""
        if self._thread is None:
            self._thread = netns.NetnsThread(self.netns)

    @property
    def running(self) -> bool:
        return self._thread is not None

    async def tcp(self) -> socket.socket:
        """A plain blocking TCP socket made inside the pod."""
        thread = self._thread
        if thread is None:  # not started, or a straggler after close: the slow way
            return await asyncio.to_thread(netns.socket_in, self.netns, socket.AF_INET, socket.SOCK_STREAM)
        if len(self._spares) <= SPARES // 2:
            self._refill(thread)
        if self._spares:
            return self._spares.pop()
        future = thread.submit(_tcp_sockets, 1)
        try:
            return (await asyncio.wrap_future(future))[0]
        except asyncio.CancelledError:
            future.add_done_callback(_close_unclaimed)
            raise

    def _refill(self, thread: netns.NetnsThread) -> None:
        """Ask the pod's thread for spares, without waiting; one request at a time."""
        if self._refilling:
            return
        self._refilling = True
        loop = asyncio.get_running_loop()
        future = thread.submit(_tcp_sockets, SPARES - len(self._spares))
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(self._refilled, thread, done))

    def _refilled(self, thread: netns.NetnsThread, done: concurrent.futures.Future[list[socket.socket]]) -> None:
        self._refilling = False
        if done.cancelled() or done.exception() is not None:
            return  # the next dial asks the thread directly and sees the error
        if self._thread is thread:
            self._spares.extend(done.result())
        else:  # closed meanwhile: these would keep the namespace alive
            for sock in done.result():
                sock.close()

    async def marked(self) -> socket.socket:
        return marked(await self.tcp(), self.mark)

    async def spoofed(self, src_ip: str) -> socket.socket:
        return spoofed(await self.tcp(), src_ip, self.mark)

    def close(self) -> None:
        """Stop the thread and close the spares (idempotent), letting the
        namespace go once nothing else holds it."""
        thread, self._thread = self._thread, None
        spares, self._spares = self._spares, []
        for sock in spares:
            sock.close()
        if thread is not None:
            thread.close()
