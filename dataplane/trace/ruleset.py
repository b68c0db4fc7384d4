"""The temporary ``ip dpctl-trace`` table that marks the probe's packets.

The nftrace bit lives on the packet (skb) and does not survive a veth into
the next namespace, so every namespace on the path gets this table.  It marks
in ``prerouting`` and ``output`` at priority -350, before conntrack (-200)
and kube-proxy's DNAT (-100), so the packet's headers are seen untouched.
Two more chains only observe (priority 350, after every NAT hook): ``input``
shows that the packet was delivered to this namespace, ``postrouting`` shows
the interface it leaves by and its headers after DNAT and masquerade.

Which packets: the probe leaves from a fixed source port P, so ``th sport P``
catches the request and ``th dport P`` the reply until something rewrites
the port.  Masquerade replaces the source port, so packets to and from the
candidate endpoints (``peers``: address, protocol, port) are marked too.
"""

from __future__ import annotations

from collections.abc import Iterable

TABLE = "dpctl-trace"
MARK_HOOKS = ("prerouting", "output")
WATCH_HOOKS = ("input", "postrouting")
MARK_PRIORITY = -350
WATCH_PRIORITY = 350


def render(sport: int, proto: str, peers: Iterable[tuple[str, str, int]]) -> str:
    """The table for a probe from source port ``sport`` over ``proto`` (tcp|udp)."""
    elements = sorted(set(peers))
    lines = [f"table ip {TABLE} {{", "\tset peers {", "\t\ttype ipv4_addr . inet_proto . inet_service"]
    if elements:
        lines.append("\t\telements = { " + ", ".join(f"{ip} . {p} . {port}" for ip, p, port in elements) + " }")
    lines.append("\t}")
    marks = (
        f"meta l4proto {proto} th sport {sport}",
        f"meta l4proto {proto} th dport {sport}",
        "ip daddr . meta l4proto . th dport @peers",
        "ip saddr . meta l4proto . th sport @peers",
    )
    for hook in MARK_HOOKS:
        lines += [f"\tchain {hook} {{", f"\t\ttype filter hook {hook} priority {MARK_PRIORITY}; policy accept;"]
        # accept ends this table's chain only: the packet still meets every other table.
        lines += [f"\t\t{match} meta nftrace set 1 accept" for match in marks]
        lines.append("\t}")
    for hook in WATCH_HOOKS:
        lines += [f"\tchain {hook} {{", f"\t\ttype filter hook {hook} priority {WATCH_PRIORITY}; policy accept;", "\t}"]
    lines.append("}")
    return "\n".join(lines) + "\n"
