"""Capturing packets inside one emulated namespace.

This is the only module that opens packet sockets.  A ``Sniffer`` holds one
AF_PACKET socket made inside the namespace (a socket's namespace is fixed at
creation, so ``netns.socket_in`` makes it on a thread that entered it) and
one reader thread.  With ``iface=None`` the socket is bound to interface
index 0, which the kernel reads as "every interface of this namespace",
including ones added while the capture runs; each packet's interface and
direction come from its ``sockaddr_ll`` (``sll_ifindex``, ``sll_pkttype``).

The socket is made with protocol 0, so it receives nothing until the BPF
filter is attached and it is bound: no unfiltered packet slips in between,
and nothing needs draining.  Filters are compiled by Scapy (libpcap, the
compiler tcpdump uses) for Ethernet; every interface dpctl builds (veth,
bridge, VXLAN, loopback) carries Ethernet frames.  Frames from other link
types (tun, ipip) are skipped, since an Ethernet filter cannot judge them.

Packets are kept as bytes with the kernel's receive timestamp and parsed by
Scapy only when ``CapturedPacket.packet`` is first read: parsing on the
reader thread would make it slow enough to drop packets under load.
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Self

from scapy.arch.common import compile_filter, free_filter
from scapy.data import DLT_EN10MB
from scapy.error import Scapy_Exception
from scapy.layers import dns, inet, inet6, vxlan  # noqa: F401  registers the layers Ether dissects into
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from dataplane.kernel import netns

ETH_P_ALL = 0x0003
SOL_PACKET = 263
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ETHERNET_LIKE = (ARPHRD_ETHER, ARPHRD_LOOPBACK)
RCVBUF = 8 << 20  # room for bursts while the reader thread is descheduled
SNAPLEN = 262144
_CMSG_SPACE = socket.CMSG_SPACE(16)  # one struct timespec

_libc = ctypes.CDLL(None, use_errno=True)


class SnifferError(OSError):
    """A capture could not be set up (bad filter, unknown interface, ...)."""


@dataclass(frozen=True)
class CapturedPacket:
    """One frame as seen on ``iface`` going ``direction`` ("in" | "out")."""

    time: float  # kernel receive timestamp, seconds since the epoch
    iface: str
    direction: str
    data: bytes = field(repr=False)

    @cached_property
    def packet(self) -> Packet:
        """The frame parsed by Scapy, carrying time, interface and direction
        the way Scapy's own sniff() and the pcapng writer expect them."""
        pkt = Ether(self.data)
        pkt.time = self.time
        pkt.sniffed_on = self.iface
        pkt.direction = 2 if self.direction == "out" else 1  # pcapng epb_flags
        return pkt


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _attach_filter(sock: socket.socket, expression: str) -> None:
    # Compiled for a fixed link type: Scapy would otherwise look the interface
    # up among the host's own, or open it with libpcap in the host namespace.
    try:
        program = compile_filter(expression, linktype=DLT_EN10MB)
    except (Scapy_Exception, ImportError) as exc:
        raise SnifferError(f"bad capture filter {expression!r}: {exc}") from None
    try:
        fprog = _SockFprog(program.bf_len, ctypes.cast(program.bf_insns, ctypes.c_void_p))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))  # the kernel copies it
    finally:
        free_filter(program)


def _bind_all(sock: socket.socket) -> None:
    """Bind to ifindex 0 (every interface); Python's AF_PACKET address form
    needs an interface name, so the sockaddr_ll is built by hand."""
    addr = struct.pack("=H", socket.AF_PACKET) + struct.pack("!H", ETH_P_ALL) + struct.pack("=iHBB8s", 0, 0, 0, 0, b"")
    if _libc.bind(sock.fileno(), addr, len(addr)) != 0:
        err = ctypes.get_errno()
        raise SnifferError(f"bind packet socket: {os.strerror(err)}")


def interfaces(netns_name: str) -> list[str]:
    """Interface names in namespace ``netns_name`` (for error messages and checks)."""
    with netns.NetnsThread(netns_name) as thread:
        return sorted(name for _, name in thread.call(socket.if_nameindex))


def _open(netns_name: str, iface: str | None, bpf: str | None) -> socket.socket:
    sock = netns.socket_in(netns_name, socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if bpf:
            _attach_filter(sock, bpf)
        if iface is None:
            _bind_all(sock)
        else:
            try:
                # The name is resolved by an ioctl on this socket: in its namespace.
                sock.bind((iface, ETH_P_ALL))
            except OSError as exc:
                raise SnifferError(
                    f"no interface {iface} in {netns_name} ({exc.strerror}; has: {', '.join(interfaces(netns_name))})"
                ) from None
        sock.setblocking(False)
        return sock
    except BaseException:
        sock.close()
        raise


def _timestamp(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9
    return None


class Sniffer:
    """Captures in namespace ``netns_name`` on ``iface`` (or all interfaces)
    from ``start()`` until ``stop()``, optionally through a BPF ``bpf`` filter.

    Use as a context manager around a probe, or call start()/stop(); stop()
    drains what the kernel already queued, so every packet the probe caused
    before stop() was called is returned.  A Sniffer holds exactly one socket,
    one eventfd and one thread between start() and stop(), none afterwards.
    """

    def __init__(self, netns_name: str, iface: str | None = None, bpf: str | None = None):
        self.netns = netns_name
        self.iface = iface
        self.bpf = bpf
        self._packets: list[CapturedPacket] = []
        self._arrived = threading.Condition()
        self._sock: socket.socket | None = None
        self._wake: int | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> Self:
        if self._sock is not None:
            raise SnifferError("sniffer already started")
        self._packets = []
        self._error = None
        self._sock = _open(self.netns, self.iface, self.bpf)
        self._wake = os.eventfd(0, os.EFD_CLOEXEC)
        where = f"{self.netns}:{self.iface or '*'}"
        self._thread = threading.Thread(target=self._read_until_woken, name=f"sniff:{where}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[CapturedPacket]:
        """Stop capturing, free the socket and thread, return every packet seen
        (but those already handed over by ``take``)."""
        if self._sock is None or self._wake is None or self._thread is None:
            return list(self._packets)
        try:
            os.eventfd_write(self._wake, 1)
            self._thread.join()
        finally:
            self._sock.close()
            os.close(self._wake)
            self._sock = self._wake = self._thread = None
        if self._error is not None:
            raise SnifferError(f"capture in {self.netns} failed: {self._error}") from self._error
        return list(self._packets)

    def wait(self, count: int, timeout: float | None = None) -> list[CapturedPacket]:
        """Block until at least ``count`` packets were seen (or ``timeout``
        passed, or the capture ended); a snapshot of the packets so far."""
        with self._arrived:
            self._arrived.wait_for(
                lambda: len(self._packets) >= count or self._thread is None or self._error is not None, timeout
            )
            return list(self._packets)

    def take(self, timeout: float | None = None) -> list[CapturedPacket]:
        """Wait up to ``timeout`` for a packet, then hand over every packet seen
        so far and forget them: a capture that streams to a file or a terminal
        keeps only what arrived since its last ``take``, however long it runs."""
        with self._arrived:
            self._arrived.wait_for(lambda: bool(self._packets) or self._thread is None or self._error is not None, timeout)
            taken, self._packets = self._packets, []
            return taken

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- reader thread -------------------------------------------------------
    def _read_until_woken(self) -> None:
        assert self._sock is not None and self._wake is not None
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        poller.register(self._wake, select.POLLIN)
        try:
            while True:
                ready = {fd for fd, _ in poller.poll()}
                self._drain(self._sock)
                if self._wake in ready:
                    return
        except BaseException as exc:  # reported by stop()
            self._error = exc
        finally:
            with self._arrived:
                self._arrived.notify_all()

    def _drain(self, sock: socket.socket) -> None:
        batch: list[CapturedPacket] = []
        while True:
            try:
                data, ancdata, _, addr = sock.recvmsg(SNAPLEN, _CMSG_SPACE)
            except BlockingIOError:
                break
            ifname, _, pkttype, hatype = addr[:4]
            if hatype not in ETHERNET_LIKE:
                continue
            when = _timestamp(ancdata)
            direction = "out" if pkttype == socket.PACKET_OUTGOING else "in"
            batch.append(CapturedPacket(when if when is not None else time.time(), ifname, direction, data))
        if batch:
            with self._arrived:
                self._packets.extend(batch)
                self._arrived.notify_all()

