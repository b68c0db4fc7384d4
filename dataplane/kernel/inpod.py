"""Switch istio-cni-style in-pod traffic capture on and off in a pod namespace.

Capture needs three pieces inside the pod (``inpod-redirection.md`` §4, each
verified to be necessary): the nftables tables the mesh renders
(``dataplane.mesh.redirect``), an ``ip rule fwmark 0x111/0xfff lookup 100``
and ``local 0.0.0.0/0 dev lo`` in table 100.  The kernel layer knows none of
these values: the caller hands them over as a ``Capture``.  The rule and route carry the replies of the application to the
ztunnel's spoofed-source sockets back through lo instead of out of eth0.

Both calls are idempotent, so enrolling or unenrolling a pod twice (or
retrying after a crash half-way) is harmless.  Nothing here touches the
host's namespace: nft runs under ``nsenter --net`` and netlink on a thread
that entered the pod.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from dataplane.kernel import nft
from dataplane.kernel.links import NamespaceConfig, NetlinkError

_ANY = "0.0.0.0/0"


@dataclass(frozen=True)
class Capture:
    """What in-pod capture installs: the nftables ruleset (and the text that
    removes it) and the policy route its spoofed legs return by."""

    ruleset: str
    removal: str
    table: int  # routing table holding "local 0.0.0.0/0 dev lo"
    priority: int  # of the ip rule that sends marked replies there
    fwmark: int
    mask: int


def _tolerate(codes: tuple[int, ...], error: NetlinkError) -> None:
    if error.code not in codes:
        raise error


def _rule(config: NamespaceConfig, command: str, capture: Capture) -> None:
    config.rule(command, table=capture.table, priority=capture.priority, fwmark=capture.fwmark, fwmask=capture.mask)


def enable_redirection(netns: str, capture: Capture) -> None:
    """Capture every TCP flow of pod namespace ``netns`` into the ztunnel ports.

    The route is added before the rule and the ruleset last, so by the time a
    flow is captured the return path for its spoofed leg already exists.
    """
    with NamespaceConfig(netns) as config:
        try:
            config.route(_ANY, dev="lo", table=capture.table, kind="local")
        except NetlinkError as error:
            _tolerate((errno.EEXIST,), error)
        try:
            _rule(config, "add", capture)
        except NetlinkError as error:
            _tolerate((errno.EEXIST,), error)
    nft.apply(netns, capture.ruleset)


def disable_redirection(netns: str, capture: Capture) -> None:
    """Undo ``enable_redirection``: new flows then go straight to their target.

    The ruleset goes first so nothing new is captured while the return-path
    plumbing is removed.  Already captured flows keep their conntrack NAT
    entries; they live only as long as the ztunnel keeps its sockets.
    """
    nft.apply(netns, capture.removal)
    with NamespaceConfig(netns) as config:
        try:
            _rule(config, "del", capture)
        except NetlinkError as error:
            _tolerate((errno.ENOENT,), error)
        try:
            config.delete_route(_ANY, dev="lo", table=capture.table, kind="local")
        except NetlinkError as error:
            _tolerate((errno.ESRCH, errno.ENOENT), error)
