"""The nftables rulesets inside every meshed pod (REDIRECT mode): istio-cni's for
ambient pods, istio-init's for sidecar pods (``sidecar_ruleset``).

Pure text: ``dataplane.kernel.inpod`` applies it.  Each function returns one
``nft -f`` transaction, so a pod is never half-captured.  Tables are replaced
with the ``table X {}; delete table X; table X {...}`` idiom: declaring an
empty table first makes the delete succeed whether or not it existed.

Why each rule exists (all verified, ``inpod-redirection.md`` §2-§4):

* nat prerouting sends inbound TCP to 15006, except 15008 (HBONE is reached
  directly) and the ztunnel's own marked packets.
* nat output sends the pod's outbound TCP to 15001, except loopback, the
  ztunnel's own marked sockets, and connection-marked flows.  The ``oifname
  lo`` accept lets the ztunnel's spoofed dial to the app (which leaves via lo
  with the client's IP as source) through, and lets a pod call itself.
* mangle prerouting connection-marks the ztunnel's spoofed SYN as it loops
  back through lo (the skb mark survives the loop).
* mangle output copies that connmark onto the app's replies; being a
  ``type route`` chain the changed mark makes the kernel reroute them, and
  the fwmark rule sends them to table 100 (``local`` via lo) so they reach
  the ztunnel's socket instead of leaking out of eth0 to the real client.
"""

from __future__ import annotations

from dataplane.mesh.constants import (
    CONNMARK,
    HBONE_PORT,
    INBOUND_PLAINTEXT_PORT,
    MARK_MASK,
    OUTBOUND_PORT,
    SIDECAR_INBOUND_SOURCE,
    SIDECAR_UNCAPTURED_PORTS,
    ZTUNNEL_MARK,
)

NAT_TABLE = "dpctl-zt-nat"
MANGLE_TABLE = "dpctl-zt-mangle"
_TABLES = (NAT_TABLE, MANGLE_TABLE)
_CT_KEEP = 0xFFFFFFFF & ~MARK_MASK


def _flush(table: str) -> str:
    """Declare-then-delete: removes ``table`` and never fails when it is absent."""
    return f"table inet {table} {{}}\ndelete table inet {table}\n"


def inpod_ruleset() -> str:
    """Both capture tables, replacing any previous version in one transaction.

    Statements end with a newline before ``}``: nft 1.0.6 rejects
    ``redirect to :15006 }`` on one line.  The nat output chain uses priority
    ``-100`` because nft 1.0.6 refuses the name ``dstnat`` on the output hook.
    """
    mark = f"meta mark & {MARK_MASK:#x}"
    not_ztunnel = f"{mark} != {ZTUNNEL_MARK:#x}"
    return (
        _flush(NAT_TABLE)
        + _flush(MANGLE_TABLE)
        + f"""table inet {NAT_TABLE} {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    meta l4proto tcp ip daddr != 127.0.0.1 tcp dport != {HBONE_PORT} {not_ztunnel} redirect to :{INBOUND_PLAINTEXT_PORT}
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    meta l4proto tcp {mark} == {CONNMARK:#x} accept
    oifname "lo" ip daddr != 127.0.0.1 accept
    meta l4proto tcp ip daddr != 127.0.0.1 {not_ztunnel} redirect to :{OUTBOUND_PORT}
  }}
}}
table inet {MANGLE_TABLE} {{
  chain prerouting {{
    type filter hook prerouting priority mangle; policy accept;
    {mark} == {ZTUNNEL_MARK:#x} ct mark set ct mark & {_CT_KEEP:#x} | {CONNMARK:#x}
  }}
  chain output {{
    type route hook output priority mangle; policy accept;
    ct mark & {MARK_MASK:#x} == {CONNMARK:#x} meta mark set ct mark
  }}
}}
"""
    )


def sidecar_ruleset() -> str:
    """istio-init's REDIRECT rules for a sidecar pod (``waypoint-l7.md`` §6.5), in
    the same tables as the ambient capture so either replaces the other.

    Istio exempts the proxy by uid/gid 1337; the emulated sidecar runs in the
    node agent, so its sockets are exempted by their mark instead, rule for
    rule.  Inbound: every TCP port but 15008/15020/15021/15090 → 15006.
    Outbound, in order: the proxy's own dial to the app from 127.0.0.6 over lo
    passes; the proxy calling its own pod by address over lo goes to inbound
    (a pod calling itself through its Service); other loopback traffic, the
    proxy's own and anything to 127.0.0.1 pass; the rest → 15001.  No mangle
    table: the sidecar never borrows a client's address, so replies need no
    steering.
    """
    mark = f"meta mark & {MARK_MASK:#x}"
    proxy, not_proxy = f"{mark} == {ZTUNNEL_MARK:#x}", f"{mark} != {ZTUNNEL_MARK:#x}"
    exempt = ", ".join(str(port) for port in SIDECAR_UNCAPTURED_PORTS)
    return (
        _flush(NAT_TABLE)
        + _flush(MANGLE_TABLE)
        + f"""table inet {NAT_TABLE} {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    meta l4proto tcp tcp dport {{ {exempt} }} accept
    meta l4proto tcp ip daddr != 127.0.0.1 {not_proxy} redirect to :{INBOUND_PLAINTEXT_PORT}
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    oifname "lo" ip saddr {SIDECAR_INBOUND_SOURCE} accept
    meta l4proto tcp {proxy} oifname "lo" ip daddr != 127.0.0.1 tcp dport != {HBONE_PORT} redirect to :{INBOUND_PLAINTEXT_PORT}
    oifname "lo" accept
    {proxy} accept
    ip daddr 127.0.0.1 accept
    meta l4proto tcp redirect to :{OUTBOUND_PORT}
  }}
}}
"""
    )


def remove_ruleset() -> str:
    """Both capture tables removed; a no-op transaction when they are absent."""
    return "".join(_flush(table) for table in _TABLES)
