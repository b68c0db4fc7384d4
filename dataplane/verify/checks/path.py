"""Path: a flow is seen on exactly the interfaces the plan wires, in order,
with the expected addresses at each hop.

A bounded, representative set of flows is chosen from the plan: for each
pair of nodes one pod -> pod flow, one pod -> ClusterIP flow whose endpoints
run on other nodes, the outside client to a NodePort and to a LoadBalancer
VIP, and one meshed pod pair when the mesh is on.  The expected hops come
from ``verify.hops`` (one alternative per endpoint, and per node for a
load balancer, since kube-proxy and the LB choose at random).

Every namespace a flow may cross (the router, every node, the flows' pods,
the load balancer and the client) is captured on all its interfaces while
the flows are sent.  An unmeshed flow is a crafted SYN with a random
sequence number; its sightings, in kernel-timestamp order, must equal one
alternative hop for hop.  A meshed flow is a real connection (the ztunnels
carry it as HBONE); its first segment leaving the source pod to port 15008
(or, when none did, whatever it sent instead) is followed the same way.  A failure names the first hop that differs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from dataplane.kernel import netns
from dataplane.kernel.craft import RawSender
from dataplane.kubeproxy.categorize import categorize, external_policy_local, internal_policy_local, usable
from dataplane.mesh.enrollment import accepts_hbone, has_sidecar, is_enrolled, is_meshed
from dataplane.topology.endpoints import Endpoint, PodIndex, service_port_endpoints
from dataplane.topology.plan import Plan, Pod, Service, ServicePort
from dataplane.verify import hops as H
from dataplane.verify.checks.connectivity import served_ports
from dataplane.verify.checks.encryption import HBONE_PORT, sample_pairs
from dataplane.verify.compare import Verdict, best
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.result import CheckResult
from dataplane.verify.sniffers import Captures
from dataplane.verify.wire import Sighting, new_syn, parse, sightings

NAME = "path"
BPF = "tcp or udp port 4789"  # the flows, bare or inside VXLAN
WAIT = 1.5  # longest wait for a flow's last hop
MESH_TIMEOUT = 5.0


@dataclass(frozen=True)
class Flow:
    subject: str
    source_netns: str
    src: str
    dst: str
    dport: int
    alternatives: tuple[tuple[H.Hop, ...], ...]
    meshed: bool = False  # a real connection to dst:dport, carried as HBONE on 15008

    @property
    def namespaces(self) -> set[str]:
        return {h.netns for hops in self.alternatives for h in hops}


def places(plan: Plan) -> dict[str, str]:
    """Namespace -> the name a report uses for it."""
    names = {plan.router_netns: "router"}
    names.update({n.netns: f"node {n.name}" for n in plan.nodes})
    names.update({p.netns: f"pod {p.key}" for p in plan.pods})
    if plan.external is not None:
        names[plan.external.lb_netns] = "lb"
        names[plan.external.client_netns] = "external"
    return names


def _pods_by_preference(plan: Plan) -> list[Pod]:
    """Unmeshed pods (a crafted SYN would be captured by a ztunnel), cluster DNS last."""
    pods = [p for p in plan.pods if not is_meshed(plan, p)]
    return sorted(pods, key=lambda p: (p.namespace == "kube-system", p.namespace, p.name))


def _pod_pairs(plan: Plan, sources: list[Pod]) -> Iterator[Flow]:
    for i, a in enumerate(plan.nodes):
        for b in plan.nodes[i + 1:]:
            for x, y in ((a, b), (b, a)):
                src = next((p for p in sources if p.node == x.name), None)
                dst = next((p for p in _pods_by_preference(plan) if p.node == y.name and served_ports(p)), None)
                if src and dst:
                    port = served_ports(dst)[0][0]
                    yield Flow(
                        f"pod {src.key} -> pod {dst.key}:{port}", src.netns, src.ip, dst.ip, port,
                        (tuple(H.pod_to_pod(plan, src, dst, port)),),
                    )
                    break


def _service_ports(plan: Plan) -> Iterator[tuple[Service, ServicePort, tuple[Endpoint, ...]]]:
    index = PodIndex(plan.pods)
    for svc in sorted(plan.services, key=lambda s: (s.namespace == "kube-system", s.namespace, s.name)):
        for port, endpoints in service_port_endpoints(plan, svc, index):
            if port.protocol == "TCP":
                yield svc, port, endpoints


def _cluster_ip_flow(plan: Plan, sources: list[Pod]) -> Flow | None:
    """A pod -> ClusterIP flow whose every endpoint runs on another node than the source."""
    for svc, port, endpoints in _service_ports(plan):
        if svc.cluster_ip is None:
            continue
        for src in sources:
            cats = categorize(endpoints, svc, port, src.node)
            targets = cats.local if internal_policy_local(svc) else cats.cluster
            if targets and all(e.node != src.node for e in targets):
                alternatives = tuple(
                    tuple(H.pod_to_service(plan, src, svc.cluster_ip, port.port, plan.pod(e.namespace, e.pod), e.port))
                    for e in targets
                )
                return Flow(
                    f"pod {src.key} -> svc {svc.key}:{port.port} ({svc.cluster_ip})", src.netns, src.ip,
                    svc.cluster_ip, port.port, alternatives,
                )
    return None


def _admits_client(plan: Plan, svc: Service) -> bool:
    assert plan.external is not None
    client = IPv4Address(plan.external.client_ip)
    ranges = svc.load_balancer_source_ranges
    return not ranges or any(client in IPv4Network(r, strict=False) for r in ranges)


def _node_port_flow(plan: Plan, svc: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> Flow | None:
    """The client to the NodePort of the first node with an endpoint for it."""
    assert plan.external is not None and port.node_port is not None
    local = external_policy_local(svc, port)
    for node in plan.nodes:
        cats = categorize(endpoints, svc, port, node.name)
        targets = cats.local if local else cats.cluster
        if targets:
            alternatives = tuple(
                tuple(H.outside_to_endpoint(
                    plan, None, port.node_port, node, port.node_port, plan.pod(e.namespace, e.pod), e.port, local,
                ))
                for e in targets
            )
            return Flow(
                f"external -> nodeport {svc.key} {node.name}:{port.node_port}", plan.external.client_netns,
                plan.external.client_ip, node.ip, port.node_port, alternatives,
            )
    return None


def _load_balancer_flow(plan: Plan, svc: Service, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> Flow | None:
    """The client to the first VIP: any node the LB may pick, any endpoint that node may pick."""
    assert plan.external is not None and port.node_port is not None
    local = external_policy_local(svc, port)
    vip = svc.load_balancer_ips[0]
    alternatives = tuple(
        tuple(H.outside_to_endpoint(
            plan, vip, port.port, node, port.node_port, plan.pod(e.namespace, e.pod), e.port, local,
        ))
        for node in plan.nodes
        for e in (categorize(endpoints, svc, port, node.name).local if local else usable(endpoints))
    )
    if not alternatives:
        return None
    return Flow(
        f"external -> lb {svc.key} {vip}:{port.port}", plan.external.client_netns, plan.external.client_ip, vip,
        port.port, alternatives,
    )


def _outside_flows(plan: Plan) -> Iterator[Flow]:
    """The client to the first NodePort and the first LB VIP; the Cluster policy
    first, since it shows the masquerade as well as the DNAT."""
    if plan.external is None:
        return
    node_port = load_balancer = None
    ports = sorted(_service_ports(plan), key=lambda item: external_policy_local(item[0], item[1]))
    for svc, port, endpoints in ports:
        if not port.node_port or not usable(endpoints):
            continue
        node_port = node_port or _node_port_flow(plan, svc, port, endpoints)
        if svc.load_balancer_ips and _admits_client(plan, svc):
            load_balancer = load_balancer or _load_balancer_flow(plan, svc, port, endpoints)
    yield from (f for f in (node_port, load_balancer) if f is not None)


def _meshed_flow(plan: Plan) -> Flow | None:
    pairs = sample_pairs(plan, limit=1)
    if not pairs:
        return None
    src, dst, port = pairs[0]
    return Flow(
        f"pod {src.key} -> pod {dst.key}:{port} (HBONE)", src.netns, src.ip, dst.ip, port,
        (tuple(H.pod_to_pod(plan, src, dst, HBONE_PORT)),), meshed=True,
    )


def plan_flows(plan: Plan) -> list[Flow]:
    sources = _pods_by_preference(plan)
    flows = list(_pod_pairs(plan, sources))
    service = _cluster_ip_flow(plan, sources)
    if service is not None:
        flows.append(service)
    flows += _outside_flows(plan)
    meshed = _meshed_flow(plan)
    if meshed is not None:
        flows.append(meshed)
    return flows


# -- running ------------------------------------------------------------------------------


def _first_segment(flow: Flow, packets: list[Sighting], since: float) -> Sighting | None:
    """The first segment the source pod sent to the destination pod after ``since``:
    to 15008 when there is one, else (no ztunnel on the way) to any port, so the
    comparison names what went out instead of HBONE."""
    sent = [
        s for s in packets
        if s.time >= since and (s.netns, s.iface, s.direction) == (flow.source_netns, "eth0", H.OUT)
        and (s.src, s.dst) == (flow.src, flow.dst)
    ]
    return next((s for s in sent if s.dport == HBONE_PORT), sent[0] if sent else None)


def _talk(flow: Flow) -> None:
    """One real request over the mesh, so that the ztunnels carry a segment as HBONE."""
    sock = netns.socket_in(flow.source_netns, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(MESH_TIMEOUT)
        sock.connect((flow.dst, flow.dport))
        sock.sendall(b"GET /dpctl-verify-path HTTP/1.0\r\n\r\n")
        sock.recv(4096)


def _follow_meshed(flow: Flow, captures: Captures) -> tuple[list[Sighting], str]:
    """Talk over the mesh, then follow the first segment the source pod sent (to 15008)."""
    started = time.time()
    try:
        _talk(flow)
    except OSError as exc:
        return [], f"the connection failed: {exc}"
    time.sleep(0.05)
    snapshot = captures.snapshot()
    mine = [s for s in (parse(flow.source_netns, p) for p in snapshot.get(flow.source_netns, [])) if s]
    first = _first_segment(flow, mine, started)
    if first is None:
        return [], f"no segment to {flow.dst} left {flow.source_netns} eth0"
    key = (first.seq, first.ack, first.flags, first.sport)
    return [s for s in sightings(snapshot, [first.seq]) if (s.seq, s.ack, s.flags, s.sport) == key], ""


def _send_syn(flow: Flow) -> int:
    """Send the flow's crafted SYN from its source namespace; its sequence number."""
    syn = new_syn(flow.src, flow.dst, flow.dport)
    with RawSender(flow.source_netns) as sender:
        sender.send(syn.packet(), flow.dst)
    return syn.seq


def _syns(captures: Captures, sent: dict[int, int]) -> dict[int, list[Sighting]]:
    snapshot = captures.snapshot()
    return {i: [s for s in sightings(snapshot, [seq]) if s.seq == seq and s.is_syn] for i, seq in sent.items()}


def _arrived(flow: Flow, seen: list[Sighting]) -> bool:
    lasts = {(alt[-1].netns, alt[-1].iface, alt[-1].direction) for alt in flow.alternatives}
    return any((s.netns, s.iface, s.direction) in lasts for s in seen)


def _run_flows(flows: list[Flow], captures: Captures) -> dict[int, tuple[list[Sighting], str]]:
    """Send every flow; per flow index, the sightings of its packet (or why there are none)."""
    found: dict[int, tuple[list[Sighting], str]] = {}
    sent: dict[int, int] = {}  # flow index -> sequence number of its crafted SYN
    for i, flow in enumerate(flows):
        if flow.meshed:
            found[i] = _follow_meshed(flow, captures)
        else:
            sent[i] = _send_syn(flow)
    deadline = time.monotonic() + WAIT
    while not all(_arrived(flows[i], seen) for i, seen in _syns(captures, sent).items()):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    time.sleep(0.05)  # frames that follow the last expected hop (a detour) still count
    found.update({i: (seen, "") for i, seen in _syns(captures, sent).items()})
    return found


def judge(flow: Flow, seen: list[Sighting], problem: str, names: dict[str, str], seconds: float) -> CheckResult:
    verdict = Verdict(False, problem, 0) if problem else best(flow.alternatives, seen, names)
    evidence = " | ".join(f"{names.get(s.netns, s.netns)} {s.iface} {s.direction}" for s in seen)
    return CheckResult(
        NAME, flow.subject, verdict.ok, verdict.reason, evidence or "no frame seen", seconds=round(seconds, 3)
    )


def pod_flow(plan: Plan, src: Pod, dst: Pod, port: int) -> Flow:
    """The flow from pod ``src`` to pod ``dst``:``port`` as the plan routes it:
    HBONE on 15008 when the source's proxy tunnels to the destination, else a
    crafted SYN straight to the port."""
    meshed = (is_enrolled(plan, src) and accepts_hbone(plan, dst)) or (has_sidecar(plan, src) and is_meshed(plan, dst))
    hops = H.pod_to_pod(plan, src, dst, HBONE_PORT if meshed else port)
    label = f"pod {src.key} -> pod {dst.key}:{port}" + (" (HBONE)" if meshed else "")
    return Flow(label, src.netns, src.ip, dst.ip, port, (tuple(hops),), meshed=meshed)


def run(plan: Plan, progress: Callable[[int, int], None] | None = None, evidence: Evidence = NO_EVIDENCE) -> list[CheckResult]:
    flows = plan_flows(plan)
    if not flows:
        return [CheckResult(NAME, "flows", ok=True, skipped=True, reason="skipped: no flow crosses two nodes")]
    return check_flows(plan, flows, progress, evidence)


def check_flows(
    plan: Plan, flows: list[Flow], progress: Callable[[int, int], None] | None = None, evidence: Evidence = NO_EVIDENCE
) -> list[CheckResult]:
    """Send ``flows`` while every namespace they may cross is captured; one result each."""
    names = places(plan)
    namespaces = [plan.router_netns, *(n.netns for n in plan.nodes)]
    namespaces += sorted(set().union(*(f.namespaces for f in flows)) - set(namespaces))
    started = time.monotonic()
    with Captures(namespaces, BPF) as captures:
        found = _run_flows(flows, captures)
    seconds = (time.monotonic() - started) / len(flows)
    results = []
    for i, flow in enumerate(flows):
        seen, problem = found[i]
        frames = [(s.netns, s.frame) for s in seen if s.frame is not None]
        results.append(evidence.keep(judge(flow, seen, problem, names, seconds), frames))
        if progress:
            progress(i + 1, len(flows))
    return results
