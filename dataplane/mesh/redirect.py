"""The nftables ruleset istio-cni puts inside every enrolled pod (REDIRECT mode).

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


def remove_ruleset() -> str:
    """Both capture tables removed; a no-op transaction when they are absent."""
    return "".join(_flush(table) for table in _TABLES)
