"""Many rtnetlink requests in one send on a socket inside a namespace, their acks read together.

pyroute2's request API costs about 0.45 ms of Python per call (measured in
``shared/reference/netns-build-speed.md``: 9 calls make 4 ms of a pod's
5.5 ms), while the kernel needs about 0.1 ms for a pod's whole
configuration.  ``RtnlBatch`` keeps pyroute2's message classes for the
encoding and decoding and only does the sending itself: the queued messages
go out in as few ``send`` calls as fit the socket buffer, and every ack is
checked; the first error is raised as pyroute2's ``NetlinkError`` naming the
request.  It takes the calls ``NamespaceConfig`` takes for what it supports
(links up, addresses, main-table routes, ARP entries), so the fabric sends
either without knowing which.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NLMSG_ERROR
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTM_DELNEIGH,
    RTM_GETLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from dataplane.kernel import netns

NETLINK_ROUTE = 0
IFF_UP = 0x1
NUD_PERMANENT = 0x80
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RTN_UNICAST = 1
RTNH_F_ONLINK = 4
_HEADER = struct.Struct("=LHHLL")  # nlmsghdr: length, type, flags, sequence, port
# Requests per send: each ack takes about 700 bytes of the receive buffer (its skb), whose 208 KiB default
# overflowed (ENOBUFS) at a few hundred acks.
_CHUNK = 64


class RtnlBatch:
    """Queue requests for one namespace; ``commit`` sends them (use as a context manager: it commits)."""

    def __init__(self, netns_name: str):
        self.netns = netns_name
        self._sock = netns.socket_in(netns_name, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._sequence = 0
        self._queued: list[tuple[bytes, str, frozenset[int]]] = []  # (message, what it asks, errors to ignore)
        self._indexes: dict[str, int] = {"lo": 1}

    def __enter__(self) -> RtnlBatch:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            self._sock.close()

    # -- what NamespaceConfig also offers ------------------------------------------------------
    def index(self, ifname: str) -> int:
        """``ifname``'s index: one RTM_GETLINK by name (not a dump), remembered."""
        if ifname not in self._indexes:
            msg = ifinfmsg()
            msg["attrs"] = [("IFLA_IFNAME", ifname)]
            reply = self._ask(msg, RTM_GETLINK, NLM_F_REQUEST, f"look up {ifname}")
            if reply is None:
                raise LookupError(f"no interface {ifname} in {self.netns}")
            found = ifinfmsg(reply)
            found.decode()
            self._indexes[ifname] = int(found["index"])
        return self._indexes[ifname]

    def up(self, ifname: str) -> None:
        msg = ifinfmsg()
        msg["index"], msg["flags"], msg["change"] = self.index(ifname), IFF_UP, IFF_UP
        self._queue(msg, RTM_NEWLINK, 0, f"set {ifname} up")

    def address(self, ifname: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        msg = ifaddrmsg()
        msg["family"], msg["prefixlen"], msg["index"] = socket.AF_INET, iface.network.prefixlen, self.index(ifname)
        msg["attrs"] = [("IFA_LOCAL", str(iface.ip)), ("IFA_ADDRESS", str(iface.ip))]
        self._queue(msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, f"add {cidr} to {ifname}")

    def route(self, dst: str, *, via: str | None = None, dev: str | None = None, onlink: bool = False,
              scope_link: bool = False, table: int | None = None, kind: str | None = None,
              src: str | None = None) -> None:
        """A unicast route in the main table (what pods and their nodes need; the rest is NamespaceConfig's)."""
        if table is not None or kind is not None:
            raise ValueError("RtnlBatch adds unicast routes to the main table only")
        network = ipaddress.ip_network("0.0.0.0/0" if dst == "default" else dst)
        msg = rtmsg()
        msg["family"], msg["dst_len"], msg["table"] = socket.AF_INET, network.prefixlen, RT_TABLE_MAIN
        msg["proto"], msg["type"] = RTPROT_BOOT, RTN_UNICAST
        msg["scope"] = RT_SCOPE_LINK if scope_link else RT_SCOPE_UNIVERSE
        msg["flags"] = RTNH_F_ONLINK if onlink else 0
        attrs: list[tuple[str, Any]] = [("RTA_DST", str(network.network_address))] if network.prefixlen else []
        if via:
            attrs.append(("RTA_GATEWAY", via))
        if dev:
            attrs.append(("RTA_OIF", self.index(dev)))
        if src:
            attrs.append(("RTA_PREFSRC", src))
        msg["attrs"] = attrs
        self._queue(msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, f"add route {dst}")

    def neighbour(self, ip: str, mac: str, dev: str) -> None:
        msg = self._neigh(ip, dev)
        msg["state"] = NUD_PERMANENT
        msg["attrs"].append(("NDA_LLADDR", mac))
        self._queue(msg, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, f"ARP entry {ip} on {dev}")

    def forget_neighbour(self, ip: str, dev: str) -> None:
        try:
            msg = self._neigh(ip, dev)
        except LookupError:
            return
        self._queue(msg, RTM_DELNEIGH, 0, f"remove ARP entry {ip} on {dev}", ignore={errno.ENOENT})

    def _neigh(self, ip: str, dev: str) -> ndmsg:
        msg = ndmsg()
        msg["family"], msg["ifindex"] = socket.AF_INET, self.index(dev)
        msg["attrs"] = [("NDA_DST", ip)]
        return msg

    # -- sending ----------------------------------------------------------------------------
    def _encode(self, msg: Any, kind: int, flags: int) -> bytes:
        self._sequence += 1
        msg["header"]["type"] = kind
        msg["header"]["flags"] = NLM_F_REQUEST | flags
        msg["header"]["sequence_number"] = self._sequence
        msg.encode()
        return bytes(msg.data)

    def _queue(self, msg: Any, kind: int, flags: int, what: str, ignore: frozenset[int] | set[int] = frozenset()) -> None:
        self._queued.append((self._encode(msg, kind, flags | NLM_F_ACK), what, frozenset(ignore)))

    def _ask(self, msg: Any, kind: int, flags: int, what: str) -> bytes | None:
        """One request answered at once (the queue is sent first); its reply, None for ENODEV."""
        self.commit()
        self._sock.send(self._encode(msg, kind, flags))
        for header, body in self._replies():
            kind_back, code = header[1], _error(body)
            if kind_back == NLMSG_ERROR and code in (errno.ENODEV, errno.ENOENT):
                return None
            if kind_back == NLMSG_ERROR:
                raise NetlinkError(code, f"{what} in {self.netns}: {_strerror(code)}")
            return _HEADER.pack(*header) + body
        raise NetlinkError(errno.EIO, f"{what} in {self.netns}: no reply")

    def commit(self) -> None:
        """Send every queued request; the first one refused raises (after all were read)."""
        queued, self._queued = self._queued, []
        failure: NetlinkError | None = None
        start = 0
        while start < len(queued):
            end = min(start + _CHUNK, len(queued))
            chunk = queued[start:end]
            self._sock.send(b"".join(m for m, _, _ in chunk))
            waiting = {_HEADER.unpack_from(m)[3]: (what, ignore) for m, what, ignore in chunk}
            while waiting:
                for header, body in self._replies():
                    what, ignore = waiting.pop(header[3], ("", frozenset()))
                    code = _error(body) if header[1] == NLMSG_ERROR else 0
                    if code and code not in ignore and failure is None:
                        failure = NetlinkError(code, f"{what} in {self.netns}: {_strerror(code)}")
            start = end
        if failure is not None:
            raise failure

    def _replies(self) -> list[tuple[tuple[int, int, int, int, int], bytes]]:
        data = self._sock.recv(1 << 20)
        found, offset = [], 0
        while offset + _HEADER.size <= len(data):
            header = _HEADER.unpack_from(data, offset)
            length = header[0]
            found.append((header, data[offset + _HEADER.size:offset + length]))
            offset += (length + 3) & ~3
        return found


def _error(body: bytes) -> int:
    """The positive errno of an NLMSG_ERROR body (0: the ack of a success)."""
    return -struct.unpack_from("=i", body)[0]


def _strerror(code: int) -> str:
    try:
        return f"{errno.errorcode[code]} ({code})"
    except KeyError:
        return str(code)
