"""``dpctl trace external https://host/path``: the edge's decisions for one URL, from the plan.

What the outside client's request meets, in order (``aws-edge.md`` §1, §3,
§5): the Route 53 answer for the host (an ALIAS gives its load balancer's
public addresses, less a zone shifted away), the ALB node the first address
belongs to, the listener for the URL's scheme and port, the certificate the
SNI picks, the listener rule that matches the Host and path (or the
default), and its action -- a fixed response, a redirect, or a target group
whose targets (pods for ``ip``, every node's NodePort for ``instance``) the
node balances round robin over the healthy ones.  The kernel part of the
trace (the public address mapped to the node) comes from the probe, as for
any destination; this is what happens after.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from dataplane.edge import albmatch, certificates, zonalshift
from dataplane.edge.albmodel import FixedResponse, Forward, Redirect, TargetGroup
from dataplane.edge.zonalshift import ZonalShift
from dataplane.route53.records import HostedZone
from dataplane.topology.albs import all_albs
from dataplane.topology.endpoints import PodIndex, service_port_endpoints
from dataplane.topology.plan import Plan


@dataclass(frozen=True)
class Url:
    scheme: str
    host: str
    port: int
    path: str  # path and query


@dataclass(frozen=True)
class EdgeTrace:
    url: Url
    answer: tuple[str, ...]  # the addresses DNS gives
    how: str  # where the answer came from
    address: str  # the one followed
    steps: tuple[str, ...]  # what the load balancer does, in order


def parse_url(text: str) -> Url | None:
    """``http(s)://host[:port]/path?query``, or None for anything that is not a URL."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Url(parts.scheme, parts.hostname.lower(), port, path)


def resolve(
    plan: Plan, zones: Iterable[HostedZone], shifts: Iterable[ZonalShift], now: float, host: str
) -> tuple[tuple[str, ...], str]:
    """The outside client's answer for ``host`` and how it was reached; ((), why) when none."""
    away = {s.resource: s.zone for s in zonalshift.active(shifts, now).values()}
    for zone in sorted((z for z in zones if not z.private and z.holds(host)), key=lambda z: -len(z.name)):
        for record in zone.records:
            if record.name != host or record.type != "A":
                continue
            lb = next((lb for lb in plan.load_balancers if lb.dns_name == record.alias), None)
            if lb is not None:
                nodes = [n for n in lb.nodes if away.get(lb.name) != n.zone]
                note = f", zone {away[lb.name]} shifted away" if lb.name in away else ""
                return tuple(n.public_ip or n.ip for n in nodes), f"ALIAS {lb.dns_name} in {zone.name}{note}"
            return record.values, f"A in {zone.name}"
        return (), f"{host}: no A record in hosted zone {zone.name} (NXDOMAIN)"
    return (), f"{host}: in no public hosted zone (REFUSED: the emulation has no internet to ask)"


def trace_edge(plan: Plan, url: Url, answer: tuple[str, ...], how: str) -> EdgeTrace:
    address = answer[0] if answer else ""
    found = next(((lb, n) for lb in plan.load_balancers for n in lb.nodes if address in (n.public_ip, n.ip)), None)
    if found is None:
        return EdgeTrace(url, answer, how, address, (f"{address or 'no address'}: no load balancer node there",))
    lb, node = found
    labels = {n.name: n.labels for n in plan.namespaces}
    alb = next((a for a in all_albs(plan.traffic, _quiet, _quiet, labels) if a.name == lb.group), None)
    steps = [f"load balancer {lb.name} ({lb.scheme}), its node in zone {node.zone} ({node.ip})"]
    listener = next((li for li in alb.listeners if li.port == url.port), None) if alb else None
    if alb is None or listener is None:
        steps.append(f"no listener on port {url.port}: the connection is refused")
        return EdgeTrace(url, answer, how, address, tuple(steps))
    steps.append(f"listener {listener.protocol}:{listener.port}")
    if listener.protocol == "HTTPS":
        arns = listener.certificates or certificates.discover(listener.discover, tuple(plan.certificates.items()))
        chain = tuple((arn, plan.certificates.get(arn) or alb.hostnames) for arn in arns)
        if chain:
            chosen = certificates.choose_certificate(chain, url.host)
            default = " (the default: SNI matches none)" if chosen == chain[0][0] and not certificates.covers(
                chain[0][1], url.host) else ""
            steps.append(f"TLS: SNI {url.host} -> certificate {chosen}{default}, policy {listener.ssl_policy}")
    rule, action = albmatch.select(listener, url.host, url.path)
    steps.append(f"rule: {rule.source}" if rule is not None else "rule: none matches -> the listener's default")
    if isinstance(action, FixedResponse):
        steps.append(f"fixed response {action.status} ({action.content_type}, {len(action.body)} bytes)")
    elif isinstance(action, Redirect):
        steps.append(f"redirect {action.status} to {action.protocol.lower()}://{url.host}{url.path}")
    else:
        assert isinstance(action, Forward)
        steps += _forward(plan, action, node.ip)
    return EdgeTrace(url, answer, how, address, tuple(steps))


def _forward(plan: Plan, action: Forward, node_ip: str) -> list[str]:
    groups = action.groups()
    if len(groups) == 1:
        return _target_group(plan, groups[0][0], node_ip)
    total = sum(w for _, w in groups) or 1
    lines = [f"weighted forward: {', '.join(f'{g.namespace}/{g.service} {100 * w / total:.0f}%' for g, w in groups)}"]
    for group, _weight in groups:
        lines += _target_group(plan, group, node_ip)
    return lines


def _target_group(plan: Plan, group: TargetGroup, node_ip: str) -> list[str]:
    service = next((s for s in plan.services if (s.namespace, s.name) == (group.namespace, group.service)), None)
    head = f"forward to target group {group.namespace}/{group.service}:{group.port} ({group.target_type})"
    if service is None:
        return [head, "no such Service: no target (503)"]
    port = next((p for p in service.ports if p.port == group.port or p.name == group.port), None)
    if port is None:
        return [head, "no such Service port: no target (503)"]
    if group.target_type == "instance":
        targets = [f"{n.name} {n.ip}:{port.node_port} (kube-proxy DNATs to an endpoint)" for n in plan.nodes]
        peer = "a node's address (externalTrafficPolicy Cluster)"
    else:
        entry = next((e for e in service_port_endpoints(plan, service, PodIndex(plan.pods)) if e.port == port), None)
        targets = [f"{e.namespace}/{e.pod} {e.ip}:{e.port}" for e in (entry.endpoints if entry else ()) if e.ready]
        peer = f"the ALB node ({node_ip})"
    lines = [head, f"targets, round robin over the healthy ones: {', '.join(targets) or 'none (503)'}"]
    lines.append(f"the pod sees {peer} as its peer, the client in X-Forwarded-For, X-Amzn-Trace-Id added")
    return lines


def lines(trace: EdgeTrace) -> list[str]:
    head = f"DNS {trace.url.host}: {', '.join(trace.answer) or 'no address'} ({trace.how})"
    return [head, *(f"{i}. {step}" for i, step in enumerate(trace.steps, 1))]


def _quiet(path: str, message: str) -> None:
    """Reported when the file was read."""
