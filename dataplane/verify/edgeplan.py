"""The edge check's plan: one request per ALB listener rule and default, per zone node,
and what the outside client and the pod should see (``aws-edge.md`` §1.3-§1.7).

Computed from the plan alone (no root).  For each internet-facing ALB node
and each listener: every rule gets a request made up from its first host and
path pattern (``*`` becomes a label or a path segment, ``?`` a letter) that
the rule takes and no earlier rule does (else it is "not checkable" with the
rule that shadows it), and the listener's default gets a request no rule
takes.  Expectations:

* a forward: an answer from a pod of the target group's Service, which saw
  the client's address in ``X-Forwarded-For``, the scheme in
  ``X-Forwarded-Proto``, the listener port in ``X-Forwarded-Port``, an
  ``X-Amzn-Trace-Id``, and as its TCP peer the ALB node (``ip``) or a node
  (``instance``, externalTrafficPolicy Cluster; Local keeps the ALB's address);
* a fixed response: its status; a redirect: 301 and its ``Location``;
* on HTTPS, the certificate SNI should pick (``edge.certificates``), read
  back from the handshake by its ARN.

Internal ALBs are reachable from inside the VPC only: reported as not
checked from the outside client.

NLBs (``nlb_trials``): one request per internet-facing NLB node and TCP
listener whose targets run the HTTP responder -- over TLS where the NLB
terminates it -- answered by a target of that node's zone (all zones with
cross-zone on), whose TCP peer follows the reference's table (§1.4, T23,
T24): the client with client IP preservation and externalTrafficPolicy
Local, a node under Cluster, else the NLB node's private address.  No
forwarded headers: an NLB is layer 4.  PROXY v2 listeners are not checkable
by a plain HTTP request.

Names: every A record of a public hosted zone (``dns_trials``) should
resolve, from the outside client, to its values -- or, for an ALIAS to a
load balancer, to that load balancer's public addresses, less the nodes of a
zone shifted away.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dataplane.edge import albmatch, certificates, zonalshift
from dataplane.edge.albmodel import Alb, FixedResponse, Forward, Listener, Redirect, Rule
from dataplane.edge.zonalshift import ZonalShift
from dataplane.kubeproxy.nlb import ServedNlb, served_nlbs, targets
from dataplane.route53.records import HostedZone
from dataplane.topology.albs import all_albs
from dataplane.topology.endpoints import Endpoint, PodIndex, service_port_endpoints
from dataplane.topology.plan import LbNode, LoadBalancer, Plan, Pod, ServicePort

DEFAULT_HOST = "edge.dpctl.test"  # a host no rule names, for the listeners' defaults


@dataclass(frozen=True)
class EdgeTrial:
    subject: str
    address: str  # the ALB node's public address
    port: int
    tls: bool
    host: str  # Host header, and SNI on HTTPS
    path: str
    status: int | None  # expected status, None for a forward (any answer from the pods)
    pods: frozenset[str] = frozenset()  # "ns/pod" that may answer a forward
    peers: frozenset[str] = frozenset()  # addresses the pod may see as its TCP peer
    location: str | None = None
    certificate: str | None = None  # the ARN the handshake should present
    balancer: str = "alb"  # alb: X-Forwarded-* and X-Amzn-Trace-Id added; nlb: nothing; gateway: Envoy's headers
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()  # what the rule's http-header conditions ask for


@dataclass(frozen=True)
class DnsTrial:
    subject: str
    name: str
    expected: frozenset[str]


@dataclass(frozen=True)
class Unchecked:
    subject: str
    reason: str


def _quiet(path: str, message: str) -> None:
    """Reported when the file was read."""


def plan_edge(plan: Plan) -> list[EdgeTrial | Unchecked]:
    albs = {alb.name: alb for alb in all_albs(plan.traffic, _quiet, _quiet, {n.name: n.labels for n in plan.namespaces})}
    found: list[EdgeTrial | Unchecked] = []
    for lb in plan.load_balancers:
        alb = albs.get(lb.group)
        if alb is None:
            continue
        if lb.scheme != "internet-facing":
            found.append(Unchecked(f"alb {lb.name}", "not checked: an internal ALB is reachable from the VPC only"))
            continue
        for node in lb.nodes:
            for listener in alb.listeners:
                found += _listener_trials(plan, lb, alb, node, listener)
    return found


def _listener_trials(plan: Plan, lb: LoadBalancer, alb: Alb, node: LbNode, listener: Listener) -> list[EdgeTrial | Unchecked]:
    assert node.public_ip is not None
    label = f"alb {lb.name} zone {node.zone} {listener.protocol}:{listener.port}"
    trials: list[EdgeTrial | Unchecked] = []
    for rule in listener.rules:
        host, path = _host(rule.hosts[0] if rule.hosts else DEFAULT_HOST), _path(rule.paths[0] if rule.paths else "/")
        method, headers, path = _satisfying(rule, path)
        chosen, _action = albmatch.select(listener, host, path, method, headers)
        subject = f"{label} {rule.source} ({method + ' ' if method != 'GET' else ''}{host}{path})"
        if chosen is not rule:
            where = chosen.source if chosen is not None else "the listener's default"
            trials.append(Unchecked(subject, f"not checkable: {host}{path} goes to {where} first"))
            continue
        trial = _trial(plan, lb, alb, node, listener, rule, subject, host, path)
        trials.append(dataclasses.replace(trial, method=method, headers=headers))
    host, path = DEFAULT_HOST, "/dpctl-edge-default"
    chosen, _ = albmatch.select(listener, host, path)
    if chosen is None:
        trials.append(_trial(plan, lb, alb, node, listener, None, f"{label} default ({host}{path})", host, path))
    return trials


def _trial(
    plan: Plan, lb: LoadBalancer, alb: Alb, node: LbNode, listener: Listener, rule: Rule | None, subject: str,
    host: str, path: str,
) -> EdgeTrial:
    assert node.public_ip is not None
    action = rule.action if rule is not None else listener.default
    tls = listener.protocol == "HTTPS"
    cert = _certificate(plan, alb, listener, host) if tls else None
    common = dict(subject=subject, address=node.public_ip, port=listener.port, tls=tls, host=host, path=path,
                  certificate=cert)
    if isinstance(action, FixedResponse):
        return EdgeTrial(status=action.status, **common)  # type: ignore[arg-type]
    if isinstance(action, Redirect):
        shown = "" if (action.protocol, action.port) in (("HTTPS", "443"), ("HTTP", "80")) else f":{action.port}"
        return EdgeTrial(status=action.status, location=f"{action.protocol.lower()}://{host}{shown}{path}",
                         **common)  # type: ignore[arg-type]
    assert isinstance(action, Forward)
    pods: set[str] = set()
    peers: set[str] = set()
    for group, weight in action.groups():  # a weighted forward: any group with a weight may answer
        if weight <= 0:
            continue
        pods |= _pods(plan, group.namespace, group.service, group.port)
        if group.target_type == "ip":
            peers.add(node.ip)
        else:
            local = any(s.external_traffic_policy == "Local" for s in plan.services
                        if (s.namespace, s.name) == (group.namespace, group.service))
            peers |= {node.ip} if local else {n.ip for n in plan.nodes}
    return EdgeTrial(status=None, pods=frozenset(pods), peers=frozenset(peers), **common)  # type: ignore[arg-type]


def _satisfying(rule: Rule, path: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    """(method, headers, path with query) of a request that meets the rule's other conditions."""
    method, headers, query = "GET", [], []
    for condition in rule.conditions:
        value = _host(condition.values[0]) if condition.values else ""
        if condition.field == "http-request-method":
            method = condition.values[0]
        elif condition.field == "http-header":
            headers.append((condition.name.lower(), value))
        else:
            query.append(f"{condition.name}={value}")
    return method, tuple(headers), path + (f"?{'&'.join(query)}" if query else "")


def _certificate(plan: Plan, alb: Alb, listener: Listener, host: str) -> str | None:
    arns = listener.certificates or certificates.discover(listener.discover, tuple(plan.certificates.items()))
    chain = tuple((arn, plan.certificates.get(arn) or alb.hostnames) for arn in arns)
    return certificates.choose_certificate(chain, host) if chain else None


def _pods(plan: Plan, namespace: str, service: str, port: int | str) -> frozenset[str]:
    found = next((s for s in plan.services if (s.namespace, s.name) == (namespace, service)), None)
    if found is None:
        return frozenset()
    for entry in service_port_endpoints(plan, found, PodIndex(plan.pods)):
        if entry.port.port == port or entry.port.name == port:
            return frozenset(f"{e.namespace}/{e.pod}" for e in entry.endpoints if e.ready)
    return frozenset()


def nlb_trials(plan: Plan) -> list[EdgeTrial | Unchecked]:
    """One request per internet-facing NLB node and TCP listener (see the module's docstring)."""
    found: list[EdgeTrial | Unchecked] = []
    slices = {s.key: service_port_endpoints(plan, s, PodIndex(plan.pods)) for s in plan.services}
    for served in served_nlbs(plan):
        if served.lb.scheme != "internet-facing":
            found.append(Unchecked(f"nlb {served.lb.name}", "not checked: an internal NLB is reachable from the VPC only"))
            continue
        for port, endpoints in slices.get(served.service.key, ()):
            if port.protocol != "TCP":
                continue
            for node in served.lb.nodes:
                found.append(_nlb_trial(plan, served, node, port, endpoints))
    return found


def _nlb_trial(
    plan: Plan, served: ServedNlb, node: LbNode, port: ServicePort, endpoints: tuple[Endpoint, ...]
) -> EdgeTrial | Unchecked:
    assert node.public_ip is not None and plan.external is not None
    settings = served.settings
    tls = settings.terminates(port.port)
    subject = f"nlb {served.lb.name} zone {node.zone} {'TLS' if tls else 'TCP'}:{port.port}"
    if settings.proxy_protocol:
        return Unchecked(subject, "not checkable: the targets get PROXY v2 first, which a plain request cannot read")
    reachable = targets(plan, served, node.zone, port, endpoints)
    if not reachable:
        return Unchecked(subject, "not checked: no healthy target for this zone's node (it refuses)")
    pods = {p.key: p for p in plan.pods}
    anywhere = settings.cross_zone or (  # a NodePort under Cluster spreads over every endpoint
        settings.target_type == "instance" and served.service.external_traffic_policy != "Local")
    serving = [e for e in endpoints if e.ready and (anywhere or e.zone == node.zone)]
    http = [e for e in serving if _responder(pods[e.key], e.port) == "http"]
    if not http:
        return Unchecked(subject, "not checkable: the targets' port is not served by the HTTP responder")
    certificate = None
    if tls:
        chain = tuple((arn, plan.certificates.get(arn, ())) for arn in settings.certificates)
        certificate = certificates.choose_certificate(chain, served.lb.dns_name) if chain else None
    return EdgeTrial(
        subject=subject, address=node.public_ip, port=port.port, tls=tls, host=served.lb.dns_name, path="/",
        status=None, pods=frozenset(e.key for e in http), peers=_nlb_peers(plan, served, node),
        certificate=certificate, balancer="nlb",
    )


def _responder(pod: Pod, port: int) -> str | None:
    return next((declared.responder for declared in pod.ports if declared.port == port), None)


def _nlb_peers(plan: Plan, served: ServedNlb, node: LbNode) -> frozenset[str]:
    """Whom the pod sees as its TCP peer, by target type, client IP preservation and traffic policy (T23, T24)."""
    assert plan.external is not None
    arrives = plan.external.client_ip if served.settings.preserves("TCP") else node.ip
    if served.settings.target_type == "ip" or served.service.external_traffic_policy == "Local":
        return frozenset({arrives})
    return frozenset(n.ip for n in plan.nodes)  # a NodePort under Cluster masquerades as the node


def dns_trials(
    plan: Plan, zones: Iterable[HostedZone], shifts: Iterable[ZonalShift], now: float
) -> list[DnsTrial]:
    """One query per A record of the public zones, and the addresses it should return."""
    away = {s.resource: s.zone for s in zonalshift.active(shifts, now).values()}
    by_dns = {lb.dns_name: lb for lb in plan.load_balancers}
    trials = []
    for zone in zones:
        if zone.private:
            continue
        for record in zone.records:
            if record.type != "A":
                continue
            lb = by_dns.get(record.alias or "")
            if lb is not None:
                expected = frozenset(n.public_ip or n.ip for n in lb.nodes if away.get(lb.name) != n.zone)
                what = f"ALIAS {lb.name}"
            elif record.alias is None:
                expected, what = frozenset(record.values), ", ".join(record.values)
            else:
                continue  # an alias to something the emulation does not run
            trials.append(DnsTrial(f"dns {record.name} A ({what})", record.name, expected))
    return trials


def _host(pattern: str) -> str:
    return pattern.replace("*", "x").replace("?", "a")


def _path(pattern: str) -> str:
    """A path the ALB pattern takes: ``/p/*`` -> ``/p/x``, ``/*`` -> ``/x``, ``?`` -> ``a``."""
    return re.sub(r"\*", "x", pattern).replace("?", "a")
