"""DNAT: every Service port's rewrite, proved on the wire with crafted SYNs.

For every TCP Service port a crafted SYN (random source port and sequence
number, ``kernel/craft.py``) is sent to the ClusterIP from one unmeshed pod
and from that pod's node, and from the outside client to every NodePort on
every node and to every LoadBalancer VIP.  Every node namespace and the
client's are captured meanwhile, and the SYN is recognised by its sequence
number wherever it appears:

* leaving the client (a pod's host veth, the client's eth0) it must carry
  the VIP (or node IP:nodePort, LB VIP) as destination;
* arriving at exactly one endpoint (that pod's host veth, outbound) it must
  carry ``endpoint IP:targetPort``, the endpoint being one kube-proxy may
  choose (``kubeproxy.categorize``: Local policies, terminating fall-back),
  and as source the client's own address where kube-proxy keeps it (pod ->
  ClusterIP, ``externalTrafficPolicy: Local``) or the node's where it
  masquerades (node -> ClusterIP, hairpin, outside traffic under Cluster);
* the SYN-ACK must come back to the client with the VIP as its source
  (conntrack's un-DNAT).  The client's kernel answers it with a RST, which
  ends the half-open connection everywhere.

A Service port without a usable endpoint anywhere must be rejected (an RST
or ICMP error back, nothing at any pod); one whose traffic policy leaves no
endpoint for this path must be dropped.  Meshed pods are not used as
sources: their ztunnel resolves VIPs itself and never meets kube-proxy's
DNAT (the connectivity and encryption checks cover that path).  A node's
own SYN-ACK is un-DNATed inside the node, where no interface sees it, so
for node sources only the way in is checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from dataplane.kernel.craft import RawSender
from dataplane.kernel.sniff import CapturedPacket
from dataplane.kubeproxy.categorize import categorize, external_policy_local, internal_policy_local, usable
from dataplane.mesh.enrollment import is_meshed
from dataplane.topology.endpoints import Endpoint, PodIndex, service_port_endpoints
from dataplane.topology.plan import Node, Plan, Pod, Service, ServicePort
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.hops import IN, OUT, node_addresses
from dataplane.verify.result import CheckResult
from dataplane.verify.sniffers import Captures
from dataplane.verify.wire import Sighting, new_syn, sightings

NAME = "dnat"
BPF = "icmp or tcp[tcpflags] & (tcp-syn|tcp-rst) != 0"
ANSWER, REFUSED, DROPPED = "answer", "refused", "dropped"
WAIT = 2.0  # longest wait for every expected SYN-ACK
QUIET = 0.3  # how long after the last SYN nothing may arrive where nothing is expected


@dataclass(frozen=True)
class Target:
    """An endpoint the SYN may reach, with the sources it may carry there."""

    pod: str  # ns/pod
    netns: str  # its node's namespace
    iface: str  # its host veth
    ip: str
    port: int
    sources: frozenset[str]


@dataclass(frozen=True)
class Tap:
    """Where the client side is seen: the SYN leaves ``leaving``, the reply returns ``returning``."""

    netns: str
    iface: str
    leaving: str
    returning: str


@dataclass(frozen=True)
class DnatProbe:
    subject: str
    service: str  # ns/name:port
    source_netns: str
    client_ip: str
    ip: str  # the address the client dials
    port: int
    outcomes: frozenset[str]
    targets: tuple[Target, ...]
    tap: Tap | None  # None: the client is a node, its reply is un-DNATed where no interface sees it
    why: str = ""


def _targets(
    plan: Plan, endpoints: tuple[Endpoint, ...], sources: Callable[[Endpoint], frozenset[str]]
) -> tuple[Target, ...]:
    found = []
    for e in endpoints:
        pod = plan.pod(e.namespace, e.pod)
        found.append(Target(e.key, plan.node(e.node).netns, pod.host_iface, e.ip, e.port, sources(e)))
    return tuple(found)


def _expect(targets: tuple[Target, ...], has_any: bool, policy_miss: str) -> tuple[frozenset[str], str]:
    if targets:
        return frozenset({ANSWER}), ""
    if has_any:
        return frozenset({DROPPED}), policy_miss
    return frozenset({REFUSED}), "no usable endpoint: kube-proxy rejects"


def cluster_ip_probe(
    plan: Plan, svc: Service, port: ServicePort, endpoints: tuple[Endpoint, ...], node: Node, pod: Pod | None
) -> DnatProbe:
    """From ``pod`` (kept source; masqueraded on hairpin) or from ``node`` itself (masqueraded)."""
    assert svc.cluster_ip is not None
    cats = categorize(endpoints, svc, port, node.name)
    chosen = cats.local if internal_policy_local(svc) else cats.cluster
    masq = node_addresses(node)
    if pod is None:
        targets = _targets(plan, chosen, lambda e: masq)
        who, netns, client, tap = f"node {node.name}", node.netns, node.ip, None
    else:
        targets = _targets(plan, chosen, lambda e: masq if e.key == pod.key else frozenset({pod.ip}))
        who, netns, client, tap = pod.key, pod.netns, pod.ip, Tap(node.netns, pod.host_iface, IN, OUT)
    outcomes, why = _expect(targets, cats.has_any, f"internalTrafficPolicy Local: no endpoint on {node.name}")
    service = f"{svc.key}:{port.port}"
    return DnatProbe(
        f"{who} -> svc {service} ({svc.cluster_ip}:{port.port})", service, netns, client, svc.cluster_ip, port.port,
        outcomes, targets, tap, why,
    )


def node_port_probe(
    plan: Plan, svc: Service, port: ServicePort, endpoints: tuple[Endpoint, ...], node: Node
) -> DnatProbe:
    ext = plan.external
    assert ext is not None and port.node_port is not None
    cats = categorize(endpoints, svc, port, node.name)
    local = external_policy_local(svc, port)
    kept = frozenset({ext.client_ip}) if local else node_addresses(node)
    targets = _targets(plan, cats.local if local else cats.cluster, lambda e: kept)
    outcomes, why = _expect(targets, cats.has_any, f"externalTrafficPolicy Local: no endpoint on {node.name}")
    service = f"{svc.key}:{port.port}"
    return DnatProbe(
        f"external -> nodeport {svc.key} {node.name}:{port.node_port}", service, ext.client_netns, ext.client_ip,
        node.ip, port.node_port, outcomes, targets, Tap(ext.client_netns, "eth0", OUT, IN), why,
    )


def load_balancer_probe(
    plan: Plan, svc: Service, port: ServicePort, endpoints: tuple[Endpoint, ...], vip: str
) -> DnatProbe:
    ext = plan.external
    assert ext is not None
    service = f"{svc.key}:{port.port}"
    subject = f"external -> lb {svc.key} {vip}:{port.port}"
    tap = Tap(ext.client_netns, "eth0", OUT, IN)
    client = IPv4Address(ext.client_ip)
    ranges = svc.load_balancer_source_ranges
    if ranges and not any(client in IPv4Network(r, strict=False) for r in ranges):
        return DnatProbe(subject, service, ext.client_netns, ext.client_ip, vip, port.port,
                         frozenset({DROPPED}), (), tap, "client outside loadBalancerSourceRanges")
    local = external_policy_local(svc, port)
    if local:
        chosen = tuple(e for node in plan.nodes for e in categorize(endpoints, svc, port, node.name).local)
        targets = _targets(plan, chosen, lambda e: frozenset({ext.client_ip}))
    else:
        every_node = frozenset().union(*(node_addresses(n) for n in plan.nodes))
        targets = _targets(plan, usable(endpoints), lambda e: every_node)
    outcomes = frozenset({ANSWER}) if targets else frozenset({REFUSED, DROPPED})
    return DnatProbe(subject, service, ext.client_netns, ext.client_ip, vip, port.port, outcomes, targets, tap,
                     "" if targets else "no healthy target")


def client_pod(plan: Plan) -> Pod | None:
    """The first unmeshed pod (cluster DNS last): kube-proxy DNATs its traffic."""
    pods = sorted(
        (p for p in plan.pods if not is_meshed(plan, p)),
        key=lambda p: (p.namespace == "kube-system", p.namespace, p.name),
    )
    return pods[0] if pods else None


def plan_probes(plan: Plan) -> list[DnatProbe]:
    index = PodIndex(plan.pods)
    pod = client_pod(plan)
    node = plan.node(pod.node) if pod else plan.nodes[0]
    probes = []
    for svc in sorted(plan.services, key=lambda s: (s.namespace, s.name)):
        for port, endpoints in service_port_endpoints(plan, svc, index):
            if port.protocol != "TCP":
                continue
            if svc.cluster_ip is not None:
                if pod is not None:
                    probes.append(cluster_ip_probe(plan, svc, port, endpoints, node, pod))
                probes.append(cluster_ip_probe(plan, svc, port, endpoints, node, None))
            if plan.external is None:
                continue
            if port.node_port:
                probes += [node_port_probe(plan, svc, port, endpoints, n) for n in plan.nodes]
            probes += [load_balancer_probe(plan, svc, port, endpoints, vip) for vip in svc.load_balancer_ips]
    return probes


# -- judging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """The sightings of one probe's SYN and of what came back for it."""

    left: tuple[Sighting, ...]  # the SYN leaving the client
    arrived: tuple[tuple[str, Sighting], ...]  # (pod, the SYN delivered to it)
    replies: tuple[Sighting, ...]  # SYN-ACK, RST or ICMP error back at the client


def observe(probe: DnatProbe, seq: int, found: list[Sighting], pods_by_iface: dict[tuple[str, str], str]) -> Seen:
    tap = probe.tap
    syns = [s for s in found if s.icmp is None and s.seq == seq and s.is_syn]
    left = tuple(s for s in syns if tap and (s.netns, s.iface, s.direction) == (tap.netns, tap.iface, tap.leaving))
    arrived = tuple(
        (pods_by_iface[(s.netns, s.iface)], s)
        for s in syns
        if s.direction == OUT and (s.netns, s.iface) in pods_by_iface
    )
    back = [s for s in found if tap and (s.netns, s.iface, s.direction) == (tap.netns, tap.iface, tap.returning)]
    answer = (seq + 1) & 0xFFFFFFFF
    replies = tuple(
        s for s in back
        if (s.icmp is not None and s.seq == seq) or (s.icmp is None and s.ack == answer and (s.is_syn_ack or s.is_rst))
    )
    return Seen(left, arrived, replies)


def _problems_answer(probe: DnatProbe, seen: Seen) -> list[str]:
    problems = []
    dialled = f"{probe.ip}:{probe.port}"
    if probe.tap is not None:
        if not seen.left:
            problems.append(f"SYN never left the client ({probe.tap.iface} in {probe.tap.netns})")
        elif (seen.left[0].dst, seen.left[0].dport) != (probe.ip, probe.port):
            problems.append(f"SYN left the client to {seen.left[0].dst}:{seen.left[0].dport}, not {dialled}")
    if len(seen.arrived) != 1:
        where = ", ".join(f"{pod} ({s.addresses()})" for pod, s in seen.arrived) or "no endpoint"
        choices = ", ".join(t.pod for t in probe.targets)
        problems.append(f"SYN to {dialled} reached {where}; expected exactly one of {choices}")
    else:
        pod, s = seen.arrived[0]
        target = next((t for t in probe.targets if t.pod == pod), None)
        if target is None:
            problems.append(f"SYN to {dialled} reached {pod}, not an endpoint kube-proxy may choose here")
        else:
            if (s.dst, s.dport) != (target.ip, target.port):
                problems.append(
                    f"no DNAT: SYN reached {pod} addressed to {s.dst}:{s.dport}, expected {target.ip}:{target.port}"
                )
            if s.src not in target.sources:
                kind = "kept client address" if probe.client_ip in target.sources else "masqueraded node address"
                allowed = ", ".join(sorted(target.sources))
                problems.append(f"SYN reached {pod} from {s.src}, expected the {kind} ({allowed})")
    if probe.tap is not None:
        answers = [r for r in seen.replies if r.is_syn_ack]
        if not answers:
            got = ", ".join(r.addresses() for r in seen.replies) or "nothing"
            problems.append(f"no SYN-ACK back at the client (got {got})")
        elif (answers[0].src, answers[0].sport) != (probe.ip, probe.port) or answers[0].dst != probe.client_ip:
            problems.append(
                f"reply not un-DNATed: SYN-ACK came back as {answers[0].addresses()}, expected from {dialled}"
            )
    return problems


def _problems_refused(probe: DnatProbe, seen: Seen) -> list[str]:
    problems = [f"SYN reached {pod} ({s.addresses()})" for pod, s in seen.arrived]
    if probe.tap is not None and not any(r.is_rst or r.icmp is not None for r in seen.replies):
        problems.append("no RST or ICMP error back at the client")
    return problems


def _problems_dropped(probe: DnatProbe, seen: Seen) -> list[str]:
    problems = [f"SYN reached {pod} ({s.addresses()})" for pod, s in seen.arrived]
    problems += [
        f"the client got {r.addresses()} back" for r in seen.replies if r.is_syn_ack or r.is_rst or r.icmp is not None
    ]
    return problems


JUDGES = {ANSWER: _problems_answer, REFUSED: _problems_refused, DROPPED: _problems_dropped}
EXPECTATIONS = {ANSWER: "answered by an endpoint", REFUSED: "rejected", DROPPED: "dropped"}


def judge(probe: DnatProbe, seen: Seen, seconds: float, send_error: str = "") -> CheckResult:
    tried = {outcome: JUDGES[outcome](probe, seen) for outcome in sorted(probe.outcomes)}
    ok = any(not problems for problems in tried.values())
    expected = " or ".join(EXPECTATIONS[o] for o in sorted(probe.outcomes))
    reason = ""
    if not ok:
        first = next(iter(tried.values()))
        why = f": {probe.why}" if probe.why else ""
        reason = f"{probe.service}: " + "; ".join(first) + f" (expected {expected}{why})"
    evidence = "; ".join(
        ([send_error] if send_error else [])
        + [f"left {s.addresses()}" for s in seen.left]
        + [f"at {pod} {s.addresses()}" for pod, s in seen.arrived]
        + [f"back {s.addresses()}" + (" SYN-ACK" if s.is_syn_ack else " RST" if s.is_rst else "") for s in seen.replies]
    )
    return CheckResult(NAME, probe.subject, ok, reason, evidence or "nothing seen", seconds=round(seconds, 3))


# -- running ------------------------------------------------------------------------------


def _settled(probes: list[DnatProbe], seqs: list[int], found: list[Sighting]) -> bool:
    """Every probe expected to be answered has its SYN-ACK back (or, for a node, its SYN delivered)."""
    answered = {s.ack for s in found if s.is_syn_ack}
    delivered = {s.seq for s in found if s.is_syn and s.direction == OUT}
    return all(
        ((seq + 1) & 0xFFFFFFFF in answered) if probe.tap else (seq in delivered)
        for probe, seq in zip(probes, seqs)
        if probe.outcomes == {ANSWER}
    )


def _send_all(probes: list[DnatProbe]) -> tuple[list[int], dict[int, str]]:
    """Send every probe's SYN; their sequence numbers, and per probe index a
    send error (EPERM: the source's own netfilter OUTPUT hook dropped or
    rejected it, as kube-proxy does for a node's traffic to a port without
    endpoints)."""
    senders: dict[str, RawSender] = {}
    seqs, errors = [], {}
    try:
        for i, probe in enumerate(probes):
            if probe.source_netns not in senders:
                senders[probe.source_netns] = RawSender(probe.source_netns)
            syn = new_syn(probe.client_ip, probe.ip, probe.port)
            try:
                senders[probe.source_netns].send(syn.packet(), probe.ip)
            except OSError as exc:
                errors[i] = f"send: {exc.strerror}"
            seqs.append(syn.seq)
    finally:
        for sender in senders.values():
            sender.close()
    return seqs, errors


def _frames(seq: int, found: list[Sighting]) -> list[tuple[str, CapturedPacket]]:
    """The frames of one probe: its SYN wherever it went, the SYN-ACK, ICMP quoting it."""
    answer = (seq + 1) & 0xFFFFFFFF
    return [(s.netns, s.frame) for s in found if s.frame is not None and (s.seq == seq or s.ack == answer)]


def _meshed_note(plan: Plan) -> Iterator[CheckResult]:
    if any(is_meshed(plan, p) for p in plan.pods):
        yield CheckResult(
            NAME, "meshed pods as sources", ok=True, skipped=True,
            reason="skipped: their ztunnel or sidecar resolves Service VIPs itself, bypassing kube-proxy's DNAT",
        )


def run(plan: Plan, progress: Callable[[int, int], None] | None = None, evidence: Evidence = NO_EVIDENCE) -> list[CheckResult]:
    probes = plan_probes(plan)
    if not probes:
        return [CheckResult(NAME, "Service ports", ok=True, skipped=True, reason="skipped: no TCP Service port")]
    pods_by_iface = {(plan.node(p.node).netns, p.host_iface): p.key for p in plan.pods}
    namespaces = [n.netns for n in plan.nodes] + ([plan.external.client_netns] if plan.external else [])
    started = time.monotonic()
    with Captures(namespaces, BPF) as captures:
        seqs, errors = _send_all(probes)
        sent = time.monotonic()
        while True:
            time.sleep(0.05)
            found = sightings(captures.snapshot(), seqs + [(s + 1) & 0xFFFFFFFF for s in seqs])
            now = time.monotonic()
            if (now - sent >= QUIET and _settled(probes, seqs, found)) or now - sent >= WAIT:
                break
            if progress:
                progress(len({s.ack for s in found if s.is_syn_ack}), len(probes))
    found = sightings(captures.packets, seqs + [(s + 1) & 0xFFFFFFFF for s in seqs])
    seconds = (time.monotonic() - started) / len(probes)
    results = [
        evidence.keep(judge(p, observe(p, seq, found, pods_by_iface), seconds, errors.get(i, "")), _frames(seq, found))
        for i, (p, seq) in enumerate(zip(probes, seqs))
    ]
    if progress:
        progress(len(probes), len(probes))
    return results + list(_meshed_note(plan))
