"""A finished trace as JSON and as table rows, in the plan's own names.

Kernel namespace names (``dp-T.shop.web-1``) mean little to a user; the
report calls them what the topology calls them (``shop/web-1``, ``node a1``,
``vpc router``), and names the pod a packet was delivered to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dataplane.mesh.constants import OUTBOUND_PORT
from dataplane.netpol.render import TABLE as NETPOL_TABLE
from dataplane.topology.plan import Plan
from dataplane.trace import livereport, meshreport
from dataplane.trace.hops import Flow, Hop, Probe, RuleHit, Verdict, assemble
from dataplane.trace.livereport import LiveResult
from dataplane.trace.meshmodel import MeshTrace
from dataplane.trace.targets import Destination
from dataplane.vpc.egress import IGW_TABLE, NAT_TABLE, read
from dataplane.vpc.network import NETWORK_TABLE
from dataplane.vpc.network import read as read_network
from dataplane.vpc.render import NACL_TABLE, SG_TABLE

_COMMENT = re.compile(r'comment "([^"]*)"')
_OWN_TABLES = (NETPOL_TABLE, SG_TABLE, NACL_TABLE, NAT_TABLE, IGW_TABLE, NETWORK_TABLE)


def netns_labels(plan: Plan) -> dict[str, str]:
    labels = {plan.router_netns: "vpc router"}
    if plan.external:
        labels[plan.external.lb_netns] = "load balancer"
        labels[plan.external.client_netns] = "external client"
    labels.update({n.netns: f"alb {lb.name} zone {n.zone}" for lb in plan.load_balancers if lb.kind == "alb" for n in lb.nodes})
    labels.update({n.netns: f"nat gateway {n.name}" for n in read(plan.vpc_egress).nat_gateways})
    labels.update(network_labels(plan))
    labels.update({n.netns: f"node {n.name}" for n in plan.nodes})
    labels.update({p.netns: p.key for p in plan.pods})
    return labels


def network_labels(plan: Plan) -> dict[str, str]:
    """The other VPCs' routers, instances, transit gateways and the VPN's ends (``vpc.network``)."""
    if not plan.vpc_network:
        return {}
    network = read_network(plan.vpc_network)
    labels = {v.router_netns: f"vpc {v.name} router" for v in network.vpcs.values() if not v.cluster}
    labels.update({i.netns: f"ec2 {i.name}" for i in network.instances})
    labels.update({t.netns: f"transit gateway {t.name}" for t in network.transit_gateways})
    if network.on_premises is not None:
        site = network.on_premises
        labels.update({site.vgw_netns: f"vpn gateway of {site.vpc}", site.netns: f"on-premises {site.name}"})
    if network.resolver is not None:
        labels[network.resolver.netns] = "route 53 resolver endpoints"
    return labels


@dataclass(frozen=True)
class Report:
    source: str  # the SRC argument as given
    source_netns: str
    destination: Destination
    sport: int
    probe_outcome: str
    probe_detail: str
    probe_seconds: float
    hops: Sequence[Hop]
    verdict: Verdict
    raw: Mapping[str, Sequence[str]]  # monitor lines by namespace
    labels: Mapping[str, str]
    mesh: MeshTrace | None = None  # what the proxies do past the capture (a meshed source, TCP)
    live: LiveResult | None = None  # what one real connection did (``--live``)
    route_reason: str | None = None  # a drop outside nftables: a route table's, a NAT gateway's (``trace.routing``)
    reply_lost: tuple[str, str] | None = None  # (namespace, why) a reply found no route back (``trace.routing``)

    def captured(self) -> bool:
        """The probe ended at the source's own proxy: its capture redirected it to 15001."""
        v = self.verdict
        return (
            self.mesh is not None and v.kind == "delivered" and v.netns == self.source_netns
            and (v.address or "").endswith(f":{OUTBOUND_PORT}")
        )

    def label(self, netns: str | None) -> str:
        return "-" if netns is None else self.labels.get(netns, netns)

    def verdict_text(self) -> str:
        v = self.verdict
        where = self.label(v.netns)
        if self.captured() and self.mesh is not None:
            return f"{meshreport.capture_text(self.mesh)} ({v.address})"
        if v.kind == "delivered":
            return f"delivered to {where} ({v.address}){self._reply_drop()}"
        if v.kind in ("rejected", "dropped"):
            via = f" (via {v.via})" if v.via else ""
            return f"{v.kind} at {where}{_by(v.rule)}{via}"
        if v.kind in ("vanished", "lost") and self.route_reason:
            return f"dropped at {where} ({self.route_reason})"
        if v.kind == "vanished":
            return f"lost in {where} (it never left: no route, or dropped outside nftables)"
        if v.kind == "lost":
            return f"lost after {where} (no traced namespace saw it next)"
        return f"not seen leaving {where}"

    def _reply_drop(self) -> str:
        """``, but the reply was dropped at ...`` when a stateless rule drops the answer (an ACL's ephemeral-port trap)."""
        hop = next((h for h in self.hops if h.direction == "reply" and h.outcome == "dropped"), None)
        if hop is None and self.reply_lost is not None:
            netns, why = self.reply_lost
            return f", but the reply was dropped at {self.label(netns)} ({why})"
        if hop is None:
            return ""
        rule = next((r for r in reversed(hop.rules) if r.verdict == "drop"), None)
        return f", but the reply was dropped at {self.label(hop.netns)}{_by(rule)}"

    def probe_text(self) -> str:
        return f"{self.probe_outcome} ({self.probe_detail}, {self.probe_seconds * 1000:.1f} ms)"


def _by(rule: RuleHit | None) -> str:
    """`` by <table> <chain>``, with the reason dpctl's own tables give (a NetworkPolicy's default deny,
    the security groups, the ACL rule number)."""
    if rule is None:
        return ""
    said = _COMMENT.search(rule.rule) if rule.table in _OWN_TABLES else None
    return f" by {rule.table} {rule.chain}" + (f" ({said.group(1)})" if said else "")


def build(
    source: str,
    source_netns: str,
    destination: Destination,
    sport: int,
    probe: tuple[str, str, float],
    raw: Mapping[str, Sequence[str]],
    labels: Mapping[str, str],
    mesh: MeshTrace | None = None,
    live: LiveResult | None = None,
) -> Report:
    """The report of a probe (outcome, detail, seconds) from its monitor lines."""
    found, verdict = assemble(raw, Probe(source_netns, sport, destination.proto, destination.peers))
    outcome, detail, seconds = probe
    return Report(source, source_netns, destination, sport, outcome, detail, seconds, found, verdict, raw, labels, mesh,
                  live)


def _flow(flow: Flow) -> dict[str, Any]:
    return {"src": flow.src, "sport": flow.sport, "dst": flow.dst, "dport": flow.dport}


def as_dict(report: Report) -> dict[str, Any]:
    found = _as_dict(report)
    if report.mesh is not None:
        found["mesh"] = meshreport.as_dict(report.mesh)
    if report.live is not None:
        found["live"] = livereport.as_dict(report.live)
    return found


def _as_dict(report: Report) -> dict[str, Any]:
    dest = report.destination
    return {
        "source": report.source,
        "sourceNetns": report.source_netns,
        "destination": {
            "label": dest.label,
            "ip": dest.ip,
            "port": dest.port,
            "protocol": dest.proto,
            "peers": [[ip, port] for ip, port in sorted(dest.peers)],
        },
        "sourcePort": report.sport,
        "probe": {"outcome": report.probe_outcome, "detail": report.probe_detail, "seconds": report.probe_seconds},
        "hops": [
            {
                "hop": index,
                "direction": hop.direction,
                "name": report.label(hop.netns),
                "netns": hop.netns,
                "hook": hop.hook,
                "in": hop.iif,
                "out": hop.oif,
                "ttl": hop.ttl,
                "before": _flow(hop.before),
                "after": _flow(hop.after),
                "rewrites": list(hop.rewrites),
                "steps": list(hop.steps),
                "rules": [
                    {"table": r.table, "chain": r.chain, "rule": r.rule, "verdict": r.verdict} for r in hop.rules
                ],
                "outcome": hop.outcome,
            }
            for index, hop in enumerate(report.hops, 1)
        ],
        "verdict": {
            "kind": report.verdict.kind,
            "name": report.label(report.verdict.netns) if report.verdict.netns else None,
            "netns": report.verdict.netns,
            "address": report.verdict.address,
            "rule": vars(report.verdict.rule) if report.verdict.rule else None,
            "via": report.verdict.via,
            "text": report.verdict_text(),
        },
        "raw": {netns: list(lines) for netns, lines in report.raw.items() if lines},
    }


COLUMNS = ["HOP", "NAMESPACE", "IN/OUT", "PACKET", "RULES"]


_ENDS = {"delivered": "(local)", "rejected": "(rejected)", "dropped": "(dropped)", "vanished": "(lost)"}


def _interfaces(hop: Hop) -> str:
    leaving = _ENDS.get(hop.outcome) or hop.oif or "?"
    bridged = " (bridged)" if hop.outcome == "bridged" else ""
    return f"{hop.iif or '(local)'} -> {leaving}{bridged}"


def _packet(hop: Hop) -> str:
    text = str(hop.before)
    if hop.rewrites:
        text += "  " + ", ".join(hop.rewrites)
    return text


def _rules(hop: Hop) -> str:
    return " -> ".join(hop.steps) or "-"


def rows(report: Report) -> list[list[str]]:
    """One row per hop; reply hops are numbered on from the request's, marked ``<-``."""
    table = []
    for index, hop in enumerate(report.hops, 1):
        number = f"{index}" if hop.direction == "request" else f"{index} <-"
        table.append([number, report.label(hop.netns), _interfaces(hop), _packet(hop), _rules(hop)])
    return table
