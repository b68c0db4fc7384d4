"""Switch istio-cni-style in-pod traffic capture on and off in a pod namespace.

Capture needs three pieces inside the pod (``inpod-redirection.md`` §4, each
verified to be necessary): the nftables tables of ``dataplane.mesh.redirect``,
an ``ip rule fwmark 0x111/0xfff lookup 100`` and ``local 0.0.0.0/0 dev lo`` in
table 100.  The rule and route carry the replies of the application to the
ztunnel's spoofed-source sockets back through lo instead of out of eth0.

Both calls are idempotent, so enrolling or unenrolling a pod twice (or
retrying after a crash half-way) is harmless.  Nothing here touches the
host's namespace: nft runs under ``nsenter --net`` and netlink on a thread
that entered the pod.
"""

from __future__ import annotations

import errno

from dataplane.kernel import nft
from dataplane.kernel.links import NamespaceConfig, NetlinkError
from dataplane.mesh.constants import CONNMARK, MARK_MASK, ROUTE_TABLE, RULE_PRIORITY
from dataplane.mesh.redirect import inpod_ruleset, remove_ruleset

_ANY = "0.0.0.0/0"


def _tolerate(codes: tuple[int, ...], error: NetlinkError) -> None:
    if error.code not in codes:
        raise error


def _rule(config: NamespaceConfig, command: str) -> None:
    config.rule(command, table=ROUTE_TABLE, priority=RULE_PRIORITY, fwmark=CONNMARK, fwmask=MARK_MASK)


def enable_redirection(netns: str) -> None:
    """Capture every TCP flow of pod namespace ``netns`` into the ztunnel ports.

    The route is added before the rule and the ruleset last, so by the time a
    flow is captured the return path for its spoofed leg already exists.
    """
    with NamespaceConfig(netns) as config:
        try:
            config.route(_ANY, dev="lo", table=ROUTE_TABLE, kind="local")
        except NetlinkError as error:
            _tolerate((errno.EEXIST,), error)
        try:
            _rule(config, "add")
        except NetlinkError as error:
            _tolerate((errno.EEXIST,), error)
    nft.apply(netns, inpod_ruleset())


def disable_redirection(netns: str) -> None:
    """Undo ``enable_redirection``: new flows then go straight to their target.

    The ruleset goes first so nothing new is captured while the return-path
    plumbing is removed.  Already captured flows keep their conntrack NAT
    entries; they live only as long as the ztunnel keeps its sockets.
    """
    nft.apply(netns, remove_ruleset())
    with NamespaceConfig(netns) as config:
        try:
            _rule(config, "del")
        except NetlinkError as error:
            _tolerate((errno.ENOENT,), error)
        try:
            config.delete_route(_ANY, dev="lo", table=ROUTE_TABLE, kind="local")
        except NetlinkError as error:
            _tolerate((errno.ESRCH, errno.ENOENT), error)
