"""The destination side of one hop: who checks the connection and what the app sees.

The same for a ztunnel's hop and a waypoint's second hop, so both use it:
HBONE ends at the destination's 15008 (its ztunnel, or its sidecar when it
takes tunnels), which checks the L4 policies against the identity that
arrives -- the client's, or the waypoint's after a waypoint
(``waypoint-l7.md`` §2.3) -- and dials the app from the peer's own address
(a sidecar from 127.0.0.6).  Plain TCP to a meshed pod is captured on its
15006 and checked with no identity; a pod outside the mesh has no proxy.
"""

from __future__ import annotations

from dataplane.mesh import authz, enrollment
from dataplane.mesh.constants import HBONE_PORT, INBOUND_PLAINTEXT_PORT, SIDECAR_INBOUND_SOURCE
from dataplane.topology.plan import Plan, Pod
from dataplane.trace.meshmodel import Address, Arrival, Tunnel


def arrive(plan: Plan, pod: Pod | None, target: Address, peer_ip: str, tunnel: Tunnel | None) -> Arrival:
    """Where a connection from ``peer_ip`` to ``target`` ends, over ``tunnel`` or plain TCP."""
    if pod is None:
        return Arrival("", "", "none", None, None, peer_ip, None, None, None, "not a pod of the emulation: no proxy",
                       target, peer_ip)
    mode = enrollment.mode(plan, pod) or "none"
    if mode == "none":
        return Arrival(pod.key, pod.node, mode, None, None, peer_ip, None, None, None,
                       "outside the mesh: no proxy checks it", target, peer_ip)
    identity = tunnel.source_identity if tunnel is not None else None
    listener = HBONE_PORT if tunnel is not None else INBOUND_PLAINTEXT_PORT
    decision = authz.evaluate(plan, pod, authz.Connection(peer_ip, identity, pod.ip, target[1]))
    app_peer = SIDECAR_INBOUND_SOURCE if mode == enrollment.SIDECAR else peer_ip
    return Arrival(pod.key, pod.node, mode, listener, tunnel, peer_ip, identity, decision.allowed, decision.policy,
                   decision.reason, target, app_peer)


def tunnel_to(pod: Pod, target: Address, source: Pod, source_identity: str, identity: str) -> Tunnel:
    """The HBONE hop from ``source`` to ``pod``'s 15008 for ``target``."""
    return Tunnel(source.key, source_identity, (pod.ip, HBONE_PORT), pod.key, identity, target)
