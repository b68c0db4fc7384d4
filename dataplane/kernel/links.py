"""Links, addresses, routes, neighbours and sysctls inside one namespace.

``NamespaceConfig`` owns a thread inside a namespace and a pyroute2 handle
created on that thread; every operation is shipped to it.  Callers above the
kernel layer speak in names (interface names, CIDR strings) and never see
pyroute2.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from dataplane.kernel.netns import NetnsThread
from dataplane.kernel.netns import path as netns_path

RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
AF_BRIDGE = 7


class NamespaceConfig:
    """Configure one namespace; use as a context manager so the thread ends."""

    def __init__(self, netns: str):
        self.netns = netns
        self._thread = NetnsThread(netns)
        self._ipr: IPRoute = self._thread.call(lambda: IPRoute(groups=0))
        # Interface indexes looked up so far: a lookup is a netlink round trip (about 0.5 ms through pyroute2),
        # several per pod.  Loopback is index 1 in every namespace; only this handle deletes links here.
        self._indexes: dict[str, int] = {"lo": 1}

    def close(self) -> None:
        try:
            self._thread.call(self._ipr.close)
        finally:
            self._thread.close()

    def __enter__(self) -> NamespaceConfig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _do(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self._thread.call(fn, *args, **kwargs)

    # -- lookups -------------------------------------------------------------
    def index(self, ifname: str) -> int:
        if ifname in self._indexes:
            return self._indexes[ifname]

        def lookup() -> int:
            found = self._ipr.link_lookup(ifname=ifname)
            if not found:
                raise LookupError(f"no interface {ifname} in {self.netns}")
            return int(found[0])

        self._indexes[ifname] = int(self._do(lookup))
        return self._indexes[ifname]

    def link_names(self) -> list[str]:
        return list(self._do(lambda: [link.get("ifname") for link in self._ipr.get_links()]))

    def mac(self, ifname: str) -> str:
        return str(self._do(lambda: self._ipr.get_links(self.index(ifname))[0].get("address")))

    # -- sysctls -------------------------------------------------------------
    def sysctl(self, key: str, value: str | int) -> None:
        """Write ``net.*`` sysctl ``key`` for this namespace (never the host's)."""
        if not key.startswith("net."):
            raise ValueError(f"only per-namespace net.* sysctls may be set, not {key}")
        target = "/proc/sys/" + key.replace(".", "/")

        def write() -> None:
            with open(target, "w") as handle:
                handle.write(str(value))

        self._do(write)

    # -- links ---------------------------------------------------------------
    def veth(
        self,
        ifname: str,
        peer: str,
        peer_netns: str,
        *,
        mac: str | None = None,
        peer_mac: str | None = None,
        mtu: int = 1500,
    ) -> None:
        """A veth pair: ``ifname`` here (left up), ``peer`` moved into ``peer_netns``.

        The peer cannot be created up (ENOTCONN on current kernels); the peer's
        namespace brings it up.
        """

        def create() -> None:
            fd = os.open(netns_path(peer_netns), os.O_RDONLY)
            try:
                peer_spec: dict[str, Any] = {"ifname": peer, "net_ns_fd": fd, "mtu": mtu}
                if peer_mac:
                    peer_spec["address"] = peer_mac
                spec: dict[str, Any] = {"ifname": ifname, "kind": "veth", "peer": peer_spec, "mtu": mtu}
                if mac:
                    spec["address"] = mac
                self._ipr.link("add", **spec)
            finally:
                os.close(fd)

        self._do(create)

    def bridge(self, ifname: str) -> None:
        self._do(lambda: self._ipr.link("add", ifname=ifname, kind="bridge", br_stp_state=0, br_forward_delay=0))

    def vxlan(self, ifname: str, *, vni: int, local: str, dev: str, port: int, mac: str, mtu: int) -> None:
        """A VXLAN device with learning off: every peer is programmed statically."""
        self._do(
            lambda: self._ipr.link(
                "add",
                ifname=ifname,
                kind="vxlan",
                vxlan_id=vni,
                vxlan_local=local,
                vxlan_link=self.index(dev),
                vxlan_port=port,
                vxlan_learning=0,
                address=mac,
                mtu=mtu,
            )
        )

    def set_master(self, ifname: str, master: str) -> None:
        self._do(lambda: self._ipr.link("set", index=self.index(ifname), master=self.index(master)))

    def up(self, ifname: str) -> None:
        self._do(lambda: self._ipr.link("set", index=self.index(ifname), state="up"))

    def down(self, ifname: str) -> None:
        self._do(lambda: self._ipr.link("set", index=self.index(ifname), state="down"))

    # -- addresses, routes, neighbours ---------------------------------------
    def address(self, ifname: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        self._do(
            lambda: self._ipr.addr(
                "add", index=self.index(ifname), address=str(iface.ip), prefixlen=iface.network.prefixlen
            )
        )

    def route(
        self,
        dst: str,
        *,
        via: str | None = None,
        dev: str | None = None,
        onlink: bool = False,
        scope_link: bool = False,
        table: int | None = None,
        kind: str | None = None,
        src: str | None = None,
    ) -> None:
        """Add a route; ``dst`` is a CIDR or ``default``; ``src`` the preferred source address.

        ``kind="local"`` routes get host scope, as ``ip route add local``
        gives them (the kernel refuses them with universe scope).
        """
        spec = self._route_spec(dst, via=via, onlink=onlink, scope_link=scope_link, table=table, kind=kind)
        if src:
            spec["prefsrc"] = src

        def add() -> None:
            if dev:
                spec["oif"] = self.index(dev)
            self._ipr.route("add", **spec)

        self._do(add)

    def delete_link(self, ifname: str) -> bool:
        """Delete ``ifname`` if it exists (a veth takes its peer with it); whether it did.

        Deleting a namespace frees its veths only when the kernel's
        asynchronous namespace clean-up runs, so a pod re-made at once under
        the same name would find its node-side veth name still taken: remove
        the pair explicitly first."""

        self._indexes.pop(ifname, None)

        def delete() -> bool:
            found = self._ipr.link_lookup(ifname=ifname)
            if not found:
                return False
            self._ipr.link("del", index=found[0])
            return True

        return bool(self._do(delete))

    def delete_route(
        self, dst: str, *, dev: str | None = None, table: int | None = None, kind: str | None = None
    ) -> None:
        """Delete a route added by ``route`` (NetlinkError ESRCH if absent)."""
        spec = self._route_spec(dst, table=table, kind=kind)

        def delete() -> None:
            if dev:
                spec["oif"] = self.index(dev)
            self._ipr.route("del", **spec)

        self._do(delete)

    @staticmethod
    def _route_spec(
        dst: str,
        *,
        via: str | None = None,
        onlink: bool = False,
        scope_link: bool = False,
        table: int | None = None,
        kind: str | None = None,
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {"dst": "0.0.0.0/0" if dst == "default" else dst}
        if via:
            spec["gateway"] = via
        if onlink:
            spec["flags"] = 4  # RTNH_F_ONLINK
        if scope_link:
            spec["scope"] = RT_SCOPE_LINK
        elif kind == "local":
            spec["scope"] = RT_SCOPE_HOST
        if table is not None:
            spec["table"] = table
        if kind:
            spec["type"] = kind
        return spec

    def rule(
        self, command: str, *, table: int, priority: int, fwmark: int | None = None, fwmask: int | None = None,
        iifname: str | None = None, suppress_prefixlength: int | None = None,
    ) -> None:
        """Add (``"add"``) or delete (``"del"``) an IPv4 policy-routing rule.

        Adding an identical rule twice fails with EEXIST, deleting a missing
        one with ENOENT (both as NetlinkError), so callers decide what is idempotent.
        """
        spec: dict[str, Any] = {"table": table, "priority": priority}
        if fwmark is not None:
            spec["fwmark"] = fwmark
        if fwmask is not None:
            spec["fwmask"] = fwmask
        if iifname is not None:
            spec["iifname"] = iifname
        if suppress_prefixlength is not None:
            spec["suppress_prefixlen"] = suppress_prefixlength
        self._do(lambda: self._ipr.rule(command, **spec))

    def neighbour(self, ip: str, mac: str, dev: str) -> None:
        """A permanent ARP entry (no ARP round trip, no proxy_delay), replacing any entry of ``ip``."""
        self._do(
            lambda: self._ipr.neigh(
                "replace", dst=ip, lladdr=mac, ifindex=self.index(dev), state=NUD_PERMANENT
            )
        )

    def forget_neighbour(self, ip: str, dev: str) -> None:
        """Remove the ARP entry of ``ip`` on ``dev``; none there (or no ``dev``) is not an error."""

        def forget() -> None:
            try:
                self._ipr.neigh("del", dst=ip, ifindex=self.index(dev))
            except LookupError:
                return
            except NetlinkError as exc:
                if exc.code not in (errno.ENOENT, errno.ENODEV):
                    raise

        self._do(forget)

    def fdb(self, mac: str, dst: str, dev: str) -> None:
        """A VXLAN forwarding entry: frames for ``mac`` go to remote VTEP ``dst``."""
        self._do(
            lambda: self._ipr.fdb(
                "append", ifindex=self.index(dev), lladdr=mac, dst=dst, state=NUD_PERMANENT, flags=NTF_SELF
            )
        )

    def routes(self) -> list[dict[str, Any]]:
        """Routes of the main table as plain dicts (for status and tests)."""

        def dump() -> list[dict[str, Any]]:
            out = []
            for r in self._ipr.get_routes(family=2, table=254):
                out.append(
                    {
                        "dst": f"{r.get('dst') or '0.0.0.0'}/{r['dst_len']}",
                        "gateway": r.get("gateway"),
                        "oif": r.get("oif"),
                    }
                )
            return out

        return list(self._do(dump))


__all__ = ["NamespaceConfig", "NetlinkError"]
