"""A mesh trace as text lines (after the kernel's hop table) and as JSON.

Read top to bottom as the connection goes: the capture, the source proxy's
decision, the first HBONE hop, the waypoint, then one block per branch (each
endpoint that may be picked: its second hop, its inbound verdict, its
application socket).  Identities are printed whole, as the access logs and
``istioctl`` print them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dataplane.mesh.constants import OUTBOUND_PORT
from dataplane.trace.meshmodel import Arrival, Branch, MeshTrace, Tunnel, WaypointHop, address

POOLING = "pooled per (client identity, server identity, peer)"


def capture_text(trace: MeshTrace) -> str:
    return f"captured by the {trace.proxy} outbound listener {OUTBOUND_PORT} of {trace.source} (node {trace.node})"


def _tunnel(label: str, tunnel: Tunnel) -> list[str]:
    return [
        f"{label}: {tunnel.source} -> {address(tunnel.peer)} ({tunnel.peer_workload}), "
        f"CONNECT :authority {address(tunnel.authority)}",
        f"    mTLS: client {tunnel.source_identity}, server {tunnel.peer_identity} (checked by the client); {POOLING}",
    ]


def _verdict(arrival: Arrival) -> str:
    if arrival.allowed is None:
        return arrival.reason
    who = arrival.identity or "no identity (plaintext)"
    verdict = "allowed" if arrival.allowed else "DENIED"
    proxy = "sidecar" if arrival.mode == "sidecar" else f"ztunnel {arrival.node}"
    return f"inbound {proxy} :{arrival.listener}: peer {arrival.peer_ip} as {who}: {verdict} ({arrival.reason})"


def _branch(branch: Branch, hop: int) -> list[str]:
    arrival = branch.arrival
    where = f"{arrival.pod} (node {arrival.node}, {arrival.mode})" if arrival.pod else "outside the emulation"
    lines = [f"[{branch.share}] {address(branch.endpoint)} {where}"]
    if arrival.tunnel is not None:
        lines += _tunnel(f"HBONE #{hop}", arrival.tunnel)
    else:
        lines.append(f"plain TCP from {arrival.peer_ip} to {address(branch.endpoint)}")
    lines.append(_verdict(arrival))
    if arrival.allowed is not False:
        lines.append(f"application socket {address(arrival.app)}, sees peer {arrival.app_peer}")
    return lines


def _l7(hop: WaypointHop) -> str:
    """The waypoint's DENY/ALLOW verdict in words, with Envoy's match details on a denial."""
    if hop.l7_allowed:
        return f"allowed by {hop.l7_policy}" if hop.l7_policy else "allowed: no ALLOW policy applies"
    if hop.l7_policy:
        return f"DENIED by {hop.l7_policy} ({hop.l7_detail})"
    return "DENIED: ALLOW policies apply and none matched"


def _waypoint(hop: WaypointHop) -> list[str]:
    lines = [f"waypoint {hop.waypoint}: pod {hop.pod} on node {hop.node} ({hop.address}); {hop.bound}",
             f"target {hop.target}: {hop.chain} chain ({hop.chain_reason})" if hop.chain != "-" else f"target {hop.target}"]
    if hop.request:
        lines.append(f"request {hop.request}")
    if hop.custom:
        lines.append(f"CUSTOM policy {hop.custom}: its external authorizer is asked first (its answer is not predicted)")
    if hop.l7_allowed is not None:
        lines.append(f"L7 policy: {_l7(hop)}")
    if hop.route:
        lines.append(f"route: {hop.route}")
    if hop.route_note:
        lines.append(f"routes: {hop.route_note}")
    for title, words in (("filters", hop.filters), ("faults", hop.faults), ("timing", hop.timing)):
        if words:
            lines.append(f"{title}: {'; '.join(words)}")
    if hop.backends:
        lines.append("backends (drawn at random per request by weight; the endpoint by the load balancer):")
        for b in hop.backends:
            ends = ", ".join(b.endpoints) or "-"
            subset = f" subset {b.subset}" if b.subset else ""
            problem = f" ({b.problem})" if b.problem else ""
            lines.append(f"    {b.service or 'the bound pod'}:{b.port}{subset} weight {b.weight} ({b.percent:g}%), "
                         f"{b.load_balancer}: {ends}{problem}")
    if hop.outcome != "forward":
        lines.append(f"answered by the waypoint: {hop.outcome}")
    return lines


def lines(trace: MeshTrace) -> list[str]:
    """The report, one step per unindented line and its details indented under it."""
    out = [f"1. {capture_text(trace)}, identity {trace.identity}",
           f"2. {trace.proxy} decision for {address(trace.destination)}: {trace.decision}: {trace.reason}"]
    out += [f"   note: {note}" for note in trace.notes]
    step = 3
    branches = trace.branches
    hop = 1
    if trace.tunnel is not None:
        first, *rest = _tunnel("HBONE #1", trace.tunnel)
        out += [f"{step}. {first}", *(f"   {x}" for x in rest)]
        step, hop = step + 1, 2
    if trace.waypoint is not None:
        first, *rest = _waypoint(trace.waypoint)
        out += [f"{step}. {first}", *(f"   {x}" for x in rest)]
        step += 1
        branches = trace.waypoint.branches
    for index, branch in enumerate(branches):
        first, *rest = _branch(branch, hop)
        number = f"{step}{chr(ord('a') + index)}" if len(branches) > 1 else f"{step}"
        out += [f"{number}. {first}", *(f"    {x}" for x in rest)]
    return out


def as_dict(trace: MeshTrace) -> dict[str, Any]:
    return dataclasses.asdict(trace)
