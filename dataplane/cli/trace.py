"""``dpctl trace SRC DST``: send one real probe and show what the kernel did to it.

The probe is a real connect (or datagram) from inside SRC with nftables
tracing on in every namespace it may cross, so what is shown is what the
kernel did -- the Service chain, the endpoint the random choice picked, the
DNAT, the masquerade, the reject -- not a simulation of the rules.

To a URL (``https://host/path``) from the outside client, the host is
resolved as the client would resolve it (Route 53) and the probe goes to
the ALB node it gives; the trace then shows the load balancer's decisions
from the plan (``trace.edgetrace``): listener, certificate, rule, targets.

From a meshed pod a TCP probe ends at its proxy's outbound listener (15001);
the trace then follows the proxies' decisions from the plan
(``trace.meshplan``), and with ``--live`` one real connection through them:
the node links captured, the agents' access-log lines read back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import click
from scapy.layers.inet import IP, TCP
from scapy.layers.vxlan import VXLAN

from dataplane.cli.context import Seconds, print_json, print_table, require_root, running_plan, topology_option
from dataplane.edge import zonalshift
from dataplane.errors import DpctlError
from dataplane.kernel import flowprobe, nft, nftrace
from dataplane.kernel.probe import Probe, ProbeResult
from dataplane.kernel.sniff import CapturedPacket
from dataplane.mesh.constants import HBONE_PORT
from dataplane.route53.records import zones_from_json
from dataplane.state import reports
from dataplane.state.layout import route53_path, zonal_shifts_path
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan, Pod
from dataplane.topology.targets import resolve_place
from dataplane.trace import (
    accesslogs,
    edgetrace,
    links,
    livereport,
    meshplan,
    meshreport,
    report,
    routing,
    ruleset,
    targets,
)
from dataplane.trace.meshmodel import Branch, HttpCall, MeshTrace, address
from dataplane.verify.sniffers import Captures


@contextlib.contextmanager
def one_trace_at_a_time(plan: Plan, wait: float = 10.0) -> Iterator[None]:
    """Every trace of an emulation uses the same table name in the same
    namespaces, so a second trace would replace the first one's table: they
    take turns on a lock file in the state directory."""
    fd = os.open(os.path.join(StateDir(plan.name).path, "trace.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DpctlError(f"another dpctl trace is running in {plan.name}; try again") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def run_probe(
    plan: Plan, src_netns: str, destination: targets.Destination, timeout: float
) -> tuple[int, ProbeResult, dict[str, list[str]]]:
    """Probe with tracing on; the source port, the probe's result, the monitor lines."""
    with Probe(src_netns, destination.proto, avoid=targets.used_ports(plan)) as probe:
        peers = [(ip, destination.proto, port) for ip, port in destination.peers]
        table = ruleset.render(probe.port, destination.proto, peers)
        namespaces = targets.watchers(plan, src_netns, destination)
        with nftrace.TraceSession(namespaces, ruleset.TABLE, table) as session:
            result = probe.send(destination.ip, destination.port, timeout)
            session.settle()
            return probe.port, result, session.lines()


def http_call(method: str, path: str, headers: tuple[str, ...]) -> HttpCall:
    """The request of ``--http-method``, ``--http-path`` and ``-H name:value``."""
    pairs = []
    for text in headers:
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise DpctlError(f"-H {text!r}: expected NAME:VALUE")
        pairs.append((name.strip().lower(), value.strip()))
    if not path.startswith("/"):
        raise DpctlError(f"--http-path {path!r}: expected an absolute path (/...)")
    return HttpCall(method.upper(), path, tuple(pairs))


def _involved(trace: MeshTrace) -> tuple[list[Branch], set[str], set[int], set[str]]:
    """The branches, the workloads' addresses, their ports and the nodes of a mesh trace."""
    branches = list(trace.waypoint.branches if trace.waypoint else trace.branches)
    hops = [trace.tunnel] + [b.arrival.tunnel for b in branches]
    addresses = {t.peer[0] for t in hops if t is not None} | {b.endpoint[0] for b in branches}
    addresses |= {b.arrival.peer_ip for b in branches}
    ports = {HBONE_PORT, trace.destination[1]} | {b.endpoint[1] for b in branches}
    nodes = {trace.node} | {b.arrival.node for b in branches if b.arrival.node}
    if trace.waypoint is not None:
        nodes.add(trace.waypoint.node)
    return branches, addresses, ports, nodes


def _segment(netns_name: str, captured: CapturedPacket) -> links.Segment | None:
    """A captured frame as a TCP segment (a VXLAN frame as its inner one)."""
    frame = captured.packet
    inner = frame[VXLAN].payload if frame.haslayer(VXLAN) else frame
    ip, tcp = inner.getlayer(IP), inner.getlayer(TCP)
    if ip is None or tcp is None:
        return None
    length = max(0, ip.len - ip.ihl * 4 - tcp.dataofs * 4)
    payload = bytes(tcp.payload)[: min(length, 8)]
    return links.Segment(netns_name, captured.iface, captured.direction, ip.src, tcp.sport, ip.dst, tcp.dport,
                         str(tcp.flags), payload, length, frame.haslayer(VXLAN))


def _log_offsets(state: StateDir, nodes: set[str]) -> dict[str, int]:
    offsets = {}
    for node in nodes:
        try:
            offsets[node] = os.path.getsize(state.agent_log_path(node))
        except OSError:
            offsets[node] = 0
    return offsets


def _appended(state: StateDir, offsets: Mapping[str, int]) -> list[accesslogs.ZtunnelLine | accesslogs.EnvoyLine]:
    found: list[accesslogs.ZtunnelLine | accesslogs.EnvoyLine] = []
    for node, offset in offsets.items():
        try:
            with open(state.agent_log_path(node), "rb") as log:
                log.seek(offset)
                found += accesslogs.parse(node, log.read().decode(errors="replace"))
        except OSError:
            continue
    return found


LOG_WAIT = 2.0
# The trace's own probe was reset a moment ago: its proxies' access-log lines
# are written by now, so they are not taken for the live connection's.
PROBE_SETTLE = 0.5


def _payload(call: HttpCall, http: bool, request_id: str) -> tuple[bytes, str]:
    """What the live connection sends, and how the report names it: an HTTP/1.1 request
    carrying ``request_id`` (the waypoint logs it), or a line of bytes for a TCP chain."""
    if not http:
        return b"dpctl trace\n", "12 bytes of plain TCP"
    headers = [("host", call.authority), *[(k, v) for k, v in call.headers if k != "host"],
               ("x-request-id", request_id), ("connection", "close")]
    head = [f"{call.method} {call.path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(head) + "\r\n\r\n").encode(), f"{call.method} {call.path} (x-request-id {request_id})"


def _read_logs(
    state: StateDir, offsets: Mapping[str, int], client: str, request_id: str, branches: list[Branch]
) -> list[accesslogs.ZtunnelLine | accesslogs.EnvoyLine]:
    """The connection's access-log lines, waiting up to ``LOG_WAIT`` for the source
    ztunnel's, which is written once the connection has closed."""
    endpoints = {address(b.endpoint) for b in branches}
    peers = {b.arrival.peer_ip for b in branches}
    deadline = time.monotonic() + LOG_WAIT
    while True:
        logs = accesslogs.ours(_appended(state, offsets), client, request_id, endpoints, peers)
        outbound = any(isinstance(x, accesslogs.ZtunnelLine) and x.direction == "outbound" for x in logs)
        if outbound or time.monotonic() > deadline:
            return logs
        time.sleep(0.1)


def run_live(plan: Plan, source: Pod, trace: MeshTrace, call: HttpCall, timeout: float) -> livereport.LiveResult:
    """One real connection from ``source`` along ``trace``, its node links captured and its
    access-log lines read back from the agents' logs."""
    branches, addresses, ports, nodes = _involved(trace)
    addresses.add(source.ip)
    http = trace.waypoint is None or trace.waypoint.chain != "tcp"
    request_id = str(uuid.uuid4()) if http else ""
    payload, sent = _payload(call, http, request_id)
    state = StateDir(plan.name)
    time.sleep(PROBE_SETTLE)
    offsets = _log_offsets(state, nodes)
    with Captures([plan.node(n).netns for n in sorted(nodes)], bpf="tcp or udp port 4789") as captures:
        done = flowprobe.exchange(source.netns, *trace.destination, payload, timeout, until_eof=http)
        time.sleep(0.2)  # the last FIN/ACKs
    client = address(done.client)
    logs = _read_logs(state, offsets, client, request_id, branches)
    segments = [
        seg for netns_name, packets in captures.packets.items() for p in packets
        if (seg := _segment(netns_name, p)) is not None and links.relevant(seg, addresses, ports)
    ]
    status, pod = livereport.http_answer(done.answer) if http and done.answer else (done.outcome, "")
    hops = [("HBONE #1", trace.tunnel)] if trace.tunnel else []
    hops += [(f"HBONE #{2 if trace.tunnel else 1} to {b.arrival.pod}", b.arrival.tunnel) for b in branches]
    states = tuple(
        (f"{name} ({address(t.peer)})", links.tunnel_state(segments, _ip_of(plan, t.source), t.peer[0]))
        for name, t in hops if t is not None
    )
    return livereport.LiveResult(client, sent, status, pod, done.seconds, states, tuple(logs),
                                 tuple(links.summarize(segments, ports)))


def _ip_of(plan: Plan, key: str) -> str:
    namespace, _, name = key.partition("/")
    return plan.pod(namespace, name).ip


def source_pod(plan: Plan, netns_name: str) -> Pod | None:
    return next((p for p in plan.pods if p.netns == netns_name), None)


@click.command("trace")
@topology_option
@click.argument("src", metavar="SRC")
@click.argument("dst", metavar="DST")
@click.option("--proto", type=click.Choice(["tcp", "udp"]), help="Default: the protocol of the port probed.")
@click.option("--timeout", type=Seconds(maximum=3600.0), default=2.0, show_default=True, help="Seconds to wait for an answer.")
@click.option("--http-method", default="GET", show_default=True, help="Through a waypoint: the request's method.")
@click.option("--http-path", default="/", show_default=True, help="Through a waypoint: the request's path and query.")
@click.option("-H", "--header", "headers", multiple=True, metavar="NAME:VALUE",
              help="Through a waypoint: a request header (repeatable; host:... sets the authority).")
@click.option("--live", is_flag=True,
              help="From a meshed pod: also make one real connection (an HTTP request) along the path, capture the "
                   "node links and read the proxies' access-log lines for it.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def command(
    topology: str | None, src: str, dst: str, proto: str | None, timeout: float, http_method: str, http_path: str,
    headers: tuple[str, ...], live: bool, output: str,
) -> None:
    """Send one probe from SRC to DST and show every hop nftables saw.

    From a meshed pod (ambient or sidecar) to a TCP port the trace goes on
    past the capture: the proxy's decision, each HBONE hop with both
    identities and its CONNECT authority, the waypoint's policy and route for
    the HTTP request given, the inbound policy verdict and the application
    socket.  --live also sends one real request that way.

    \b
    SRC: NS/POD, node/NAME or external.
    DST: NS/POD[:PORT], svc/NS/NAME[:PORT] (ClusterIP), lb/NS/NAME[:PORT]
         (LoadBalancer VIP), node/NAME:PORT (NodePort), IP:PORT, or from
         external a URL http(s)://host[:port]/path (resolved by Route 53).
    """
    require_root("dpctl trace")
    plan = running_plan(topology)
    src_netns = resolve_place(plan, src)
    edge = _edge(plan, src_netns, dst)
    destination = targets.resolve_destination(plan, f"{edge.address}:{edge.url.port}" if edge else dst, proto)
    call = http_call(http_method, http_path, headers)
    pod = source_pod(plan, src_netns)
    mesh = None
    if pod is not None and destination.proto == "tcp":
        mesh = meshplan.trace_mesh(plan, pod, (destination.ip, destination.port), call)
    if live and mesh is None:
        raise DpctlError("--live follows a TCP connection through the mesh: SRC must be a meshed pod")
    try:
        with one_trace_at_a_time(plan):
            sport, result, lines = run_probe(plan, src_netns, destination, timeout)
            found = run_live(plan, pod, mesh, call, timeout) if live and pod is not None and mesh else None
    except (nftrace.TraceError, nft.NftError) as error:
        raise DpctlError(f"trace failed: {error}") from error
    done = report.build(
        source=src,
        source_netns=src_netns,
        destination=destination,
        sport=sport,
        probe=(result.outcome, result.detail, result.seconds),
        raw=lines,
        labels=report.netns_labels(plan),
        mesh=mesh,
        live=found,
    )
    done = dataclasses.replace(done, route_reason=routing.vanished(plan, done.hops, done.verdict),
                               reply_lost=routing.reply_lost(plan, done.hops))
    as_dict = report.as_dict(done)
    if edge is not None:
        as_dict["edge"] = {"dns": list(edge.answer), "answeredBy": edge.how, "address": edge.address,
                           "steps": list(edge.steps)}
    reports.save_trace(StateDir(plan.name).path, as_dict)  # for dpctl ui's trace viewer
    if output == "json":
        print_json(as_dict)
    else:
        print_report(done, plan)
        if edge is not None:
            click.echo("edge:")
            for line in edgetrace.lines(edge):
                click.echo(f"  {line}")


def _edge(plan: Plan, src_netns: str, dst: str) -> edgetrace.EdgeTrace | None:
    """For a URL destination: what the outside client's request meets at the edge."""
    url = edgetrace.parse_url(dst)
    if url is None:
        return None
    if plan.external is None or src_netns != plan.external.client_netns:
        raise DpctlError("a URL is traced from the outside client: dpctl trace external https://host/path")
    state = Path(StateDir(plan.name).path)
    try:
        zones = zones_from_json(route53_path(state).read_text())
    except OSError:
        zones = ()
    try:
        shifts = zonalshift.from_json(zonal_shifts_path(state).read_text())
    except OSError:
        shifts = ()
    answer, how = edgetrace.resolve(plan, zones, shifts, time.time(), url.host)
    if not answer:
        raise DpctlError(f"{dst}: {how}")
    return edgetrace.trace_edge(plan, url, answer, how)


def print_report(done: report.Report, plan: Plan | None = None) -> None:
    dest = done.destination
    click.echo(f"trace {done.source} -> {dest.label} {dest.ip}:{dest.port}/{dest.proto}, source port {done.sport}")
    print_table(report.COLUMNS, report.rows(done))
    click.echo(f"probe: {done.probe_text()}")
    click.echo(f"verdict: {done.verdict_text()}")
    if done.mesh is not None:
        click.echo("mesh:")
        for line in meshreport.lines(done.mesh):
            click.echo(f"  {line}")
    if done.live is not None and plan is not None:
        pods = {p.ip: p.key for p in plan.pods}
        ifaces = {p.host_iface: p.key for p in plan.pods}
        for line in livereport.lines(done.live, pods, done.labels, ifaces):
            click.echo(f"  {line}")
