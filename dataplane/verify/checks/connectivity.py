"""Connectivity: every pod to every Service port and every other pod's TCP
ports, and the outside client to every NodePort and LoadBalancer VIP.

The expected outcome of each probe is computed from the plan, never assumed:
the endpoints kube-proxy would use from that node (``kubeproxy.categorize``,
so Local traffic policies and terminating fall-backs are the real rules),
reject where a Service has no usable endpoint anywhere, drop where it has
some but none the policy allows, a drop where a NetworkPolicy refuses the
connection on the wire (``netpol.resolve.Verdicts``) or the VPC's security
groups and network ACLs drop it (``vpc.evaluate``), and the ambient mesh's L4 authorization
(``mesh.authz.evaluate``) for enrolled destinations, which shows up as a
connection accepted and then reset or closed without an answer.

Each probe is a real TCP connection from inside the source namespace
(``verify/probes.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

from dataplane.kubeproxy.categorize import categorize, external_policy_local, internal_policy_local, usable
from dataplane.mesh import authz
from dataplane.mesh.constants import HBONE_PORT, PROXY_PORTS
from dataplane.mesh.enrollment import accepts_hbone, has_sidecar, is_enrolled, is_meshed
from dataplane.mesh.identity import pod_identity
from dataplane.netpol.resolve import verdicts
from dataplane.topology.endpoints import Endpoint, PodIndex, service_port_endpoints
from dataplane.topology.plan import Plan, Pod, Service, ServicePort
from dataplane.verify.checks import viawaypoint
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.probes import (
    ANSWER,
    DENIED,
    REFUSED,
    TIMEOUT,
    Expected,
    Outcome,
    Probe,
    run_probes,
)
from dataplane.verify.result import CheckResult
from dataplane.vpc.evaluate import verdicts as vpc_verdicts

NAME = "connectivity"
MAX_SOURCES = 30
EXTERNAL = "external"

# -- what to expect ------------------------------------------------------------------


def _authz_expectation(
    plan: Plan, targets: list[tuple[Pod, int]], src_ip: str, identity: str | None, source: Pod | None = None,
    leg_from: str | None = None,
) -> Expected:
    """ANSWER from the targets the NetworkPolicies and the mesh allow; TIMEOUT possible when a
    NetworkPolicy drops the connection to some (HBONE's port 15008 on the wire when it tunnels),
    or the VPC drops its last leg (from ``leg_from``, by default ``src_ip``), DENIED when the
    mesh denies some."""
    allowed, denied, dropped, reasons = set(), set(), set(), []
    policies, network = verdicts(plan), vpc_verdicts(plan)
    for pod, port in targets:
        key = f"{pod.namespace}/{pod.name}"
        wire = HBONE_PORT if identity is not None else port
        refusal = policies.refusal(source, src_ip, pod, wire) or network.refusal(leg_from or src_ip, pod.ip, "tcp", wire)
        if refusal is not None:
            dropped.add(key)
            reasons.append(f"{key}: {refusal}")
            continue
        if is_meshed(plan, pod):
            decision = authz.evaluate(plan, pod, authz.Connection(src_ip, identity, pod.ip, port))
            if not decision.allowed:
                denied.add(key)
                reasons.append(f"{key}: {decision.reason}")
                continue
        allowed.add(key)
    outcomes = set()
    if allowed:
        outcomes.add(ANSWER)
    if denied:
        outcomes.add(DENIED)
    if dropped:
        outcomes.add(TIMEOUT)
    return Expected(frozenset(outcomes), frozenset(allowed), "; ".join(reasons))


def _pods_of(plan: Plan, endpoints: tuple[Endpoint, ...] | list[Endpoint]) -> list[tuple[Pod, int]]:
    return [(plan.pod(e.namespace, e.pod), e.port) for e in endpoints]


def expect_cluster_ip(
    plan: Plan, source: Pod, service: Service, port: ServicePort, endpoints: tuple[Endpoint, ...], http: bool = True
) -> Expected:
    if (binding := viawaypoint.binding_for(plan, source, service=service)) is not None:
        return viawaypoint.expect(plan, source, binding, port.port, http, service=service)
    meshed = is_meshed(plan, source)
    identity = pod_identity(plan, source).principal if meshed else None
    if meshed:
        # the source's ztunnel resolves the VIP itself to a ready endpoint
        targets = list(usable(endpoints))
        if not targets:
            return Expected(frozenset({REFUSED, DENIED}), why="no usable endpoint (meshed source)")
    else:
        cats = categorize(endpoints, service, port, source.node)
        targets = list(cats.local if internal_policy_local(service) else cats.cluster)
        if not targets:
            if cats.has_any:
                return Expected(frozenset({TIMEOUT}), why=f"internalTrafficPolicy Local: no endpoint on {source.node}")
            return Expected(frozenset({REFUSED}), why="no usable endpoint")
    return _authz_expectation(plan, _pods_of(plan, targets), source.ip, identity, source)


def expect_pod(plan: Plan, source: Pod, target: Pod, port: int, http: bool = True) -> Expected:
    if (binding := viawaypoint.binding_for(plan, source, pod=target)) is not None:
        return viawaypoint.expect(plan, source, binding, port, http, pod=target)
    tunnels = (is_enrolled(plan, source) and accepts_hbone(plan, target)) or (
        has_sidecar(plan, source) and is_meshed(plan, target)
    )
    identity = pod_identity(plan, source).principal if tunnels else None
    return _authz_expectation(plan, [(target, port)], source.ip, identity, source)


def expect_node_port(plan: Plan, node: str, service: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> Expected:
    cats = categorize(endpoints, service, port, node)
    local = external_policy_local(service, port)
    targets = list(cats.local if local else cats.cluster)
    if not targets:
        if cats.has_any:
            return Expected(frozenset({TIMEOUT}), why=f"externalTrafficPolicy Local: no endpoint on {node}")
        return Expected(frozenset({REFUSED}), why="no usable endpoint")
    assert plan.external is not None
    arriving = vpc_verdicts(plan).refusal(plan.external.client_ip, plan.node(node).ip, "tcp", port.node_port or 0)
    if arriving is not None:
        return Expected(frozenset({TIMEOUT}), why=arriving)
    # Cluster policy masquerades to the node; Local keeps the client's address
    src_ip = plan.external.client_ip if local else plan.node(node).ip
    return _authz_expectation(plan, _pods_of(plan, targets), src_ip, None, leg_from=plan.node(node).ip)


def expect_vip(plan: Plan, service: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> Expected:
    assert plan.external is not None
    client = IPv4Address(plan.external.client_ip)
    ranges = service.load_balancer_source_ranges
    if ranges and not any(client in IPv4Network(r, strict=False) for r in ranges):
        return Expected(frozenset({TIMEOUT}), why="client outside loadBalancerSourceRanges")
    if external_policy_local(service, port):
        targets = [e for node in plan.nodes for e in categorize(endpoints, service, port, node.name).local]
    else:
        targets = list(usable(endpoints))
    if not targets:
        return Expected(frozenset({REFUSED, TIMEOUT}), why="no healthy target")
    merged: dict[str, Expected] = {}
    for e in targets:
        pod = plan.pod(e.namespace, e.pod)
        src_ip = plan.external.client_ip if external_policy_local(service, port) else plan.node(e.node).ip
        # the load balancer's own leg to the node is not judged here; the node's leg to the pod is
        merged[e.pod + e.namespace] = _authz_expectation(plan, [(pod, e.port)], src_ip, None,
                                                         leg_from=plan.node(e.node).ip)
    return Expected(
        frozenset().union(*(x.outcomes for x in merged.values())),
        frozenset().union(*(x.answerers for x in merged.values())),
        "; ".join(x.why for x in merged.values() if x.why),
    )


# -- what to probe --------------------------------------------------------------------


def sample_sources(plan: Plan, limit: int | None = None) -> list[Pod]:
    """All pods when there are few; else a deterministic sample with one per node."""
    pods = sorted(plan.pods, key=lambda p: (p.namespace, p.name))
    limit = MAX_SOURCES if limit is None else limit
    if len(pods) <= limit:
        return pods
    chosen: dict[str, Pod] = {}
    for node in plan.nodes:
        on_node = [p for p in pods if p.node == node.name]
        if on_node:
            chosen[f"{on_node[0].namespace}/{on_node[0].name}"] = on_node[0]
    step = len(pods) / max(1, limit - len(chosen))
    i = 0.0
    while len(chosen) < limit and int(i) < len(pods):
        p = pods[int(i)]
        chosen.setdefault(f"{p.namespace}/{p.name}", p)
        i += step
    return sorted(chosen.values(), key=lambda p: (p.namespace, p.name))[:limit]


def _responder_for(plan: Plan, service: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> str:
    for e in endpoints:
        for cp in plan.pod(e.namespace, e.pod).ports:
            if cp.port == e.port and cp.protocol == "TCP":
                return cp.responder if cp.responder in ("http", "tcp-echo") else "connect"
    return "connect"


def _self_call(plan: Plan, source: Pod, port: int) -> bool:
    """A meshed client's own proxy refuses a connection to a proxy port (15001/15006/15008)
    anywhere as a call to itself, after accepting it: nothing to probe (its reset may
    come before or after ``connect()`` returns)."""
    return port in PROXY_PORTS and is_meshed(plan, source)


def served_ports(pod: Pod) -> list[tuple[int, str]]:
    """The pod's TCP ports the node agent serves (containers with a command serve their own)."""
    ports = []
    for container in pod.containers:
        if container.command:
            continue
        for cp in container.ports:
            if cp.protocol == "TCP":
                ports.append((cp.port, cp.responder if cp.responder in ("http", "tcp-echo") else "connect"))
    return ports


def plan_probes(plan: Plan, max_sources: int | None = None) -> list[Probe]:
    index = PodIndex(plan.pods)
    slices = {s.key: service_port_endpoints(plan, s, index) for s in plan.services}
    services = sorted(plan.services, key=lambda s: (s.namespace, s.name))
    probes: list[Probe] = []
    for src in sample_sources(plan, max_sources):
        label = f"{src.namespace}/{src.name}"
        for svc in services:
            if svc.cluster_ip is None:
                continue
            for port, endpoints in slices[svc.key]:
                if port.protocol != "TCP" or _self_call(plan, src, port.port):
                    continue
                dest = f"svc {svc.namespace}/{svc.name}:{port.port}"
                responder = _responder_for(plan, svc, port, endpoints)
                probes.append(Probe(
                    label, src.netns, dest, f"{label} -> {dest}", svc.cluster_ip, port.port, responder,
                    expect_cluster_ip(plan, src, svc, port, endpoints, responder == "http"),
                ))
        for dst in sorted(plan.pods, key=lambda p: (p.namespace, p.name)):
            if dst is src:
                continue
            for number, responder in served_ports(dst):
                if _self_call(plan, src, number):
                    continue
                dest = f"pod {dst.namespace}/{dst.name}:{number}"
                probes.append(Probe(
                    label, src.netns, dest, f"{label} -> {dest}", dst.ip, number, responder,
                    expect_pod(plan, src, dst, number, responder == "http"),
                ))
    if plan.external is not None:
        ext = plan.external
        for svc in services:
            for port, endpoints in slices[svc.key]:
                if port.protocol != "TCP":
                    continue
                responder = _responder_for(plan, svc, port, endpoints)
                if port.node_port:
                    for node in plan.nodes:
                        dest = f"nodeport {svc.namespace}/{svc.name} {node.name}:{port.node_port}"
                        probes.append(Probe(
                            EXTERNAL, ext.client_netns, dest, f"{EXTERNAL} -> {dest}", node.ip, port.node_port,
                            responder, expect_node_port(plan, node.name, svc, port, endpoints),
                        ))
                for vip in svc.load_balancer_ips:
                    dest = f"lb {svc.namespace}/{svc.name} {vip}:{port.port}"
                    probes.append(Probe(
                        EXTERNAL, ext.client_netns, dest, f"{EXTERNAL} -> {dest}", vip, port.port,
                        responder, expect_vip(plan, svc, port, endpoints),
                    ))
    return probes


# -- probing ---------------------------------------------------------------------------


def judge(probe: Probe, outcome: Outcome, seconds: float) -> CheckResult:
    exp = probe.expected
    ok = outcome.kind in exp.outcomes
    reason = ""
    if ok and outcome.kind == ANSWER and outcome.answerer and exp.answerers and outcome.answerer not in exp.answerers:
        ok = False
        reason = f"wrong pod answered: {outcome.answerer} (expected one of {', '.join(sorted(exp.answerers))})"
    elif not ok:
        reason = f"{outcome.kind}: {outcome.detail}; expected {exp.text()}" + (f" ({exp.why})" if exp.why else "")
    return CheckResult(
        NAME, probe.subject, ok, reason, evidence=outcome.detail, seconds=round(seconds, 3),
        source=probe.source, destination=probe.destination,
    )


def run(
    plan: Plan,
    progress: Callable[[int, int], None] | None = None,
    max_sources: int | None = None,
    evidence: Evidence = NO_EVIDENCE,
) -> list[CheckResult]:
    nodes = [n.netns for n in plan.nodes]
    return run_probes(plan_probes(plan, max_sources), lambda p: p, judge, progress, evidence, nodes)
