"""``scripts/bench nat``: a NAT gateway filled to AWS's limit, one destination, against the direct path.

Six pods in a private subnet open TCP connections to one internet host and
port through a NAT gateway at its default limit (55,000 per destination)
and hold every one open; then one more, one to another port of the host,
and the ``ErrorPortAllocation`` count.  The setup rate of the first
``SAMPLE`` connections is compared with the same number to a pod in the
VPC (the local route: no NAT gateway, no internet gateway) in the same run,
and the rest of the fill is reported by fifths: near the limit the kernel's
randomized port search starts missing the last free ports.

A process may hold only so many descriptors (the hard limit, 20,000 on the
machine this was written on, and raising it needs a capability a container
may not have), so both ends are spread over worker processes: servers
sharing the port with ``SO_REUSEPORT`` in the outside client's namespace,
clients one per pod.  One pod alone would measure its own kernel instead:
with tens of thousands of connections to one destination from one address,
connect()'s search for a free ephemeral port scans ever longer, and the
rate fell from 17,000 to 2,800 connections/s at 25,000 held and to 440 at
35,000, with the NAT gateway less than two-thirds full.
"""

from __future__ import annotations

import multiprocessing
import socket
import time
from multiprocessing.synchronize import Event

from bench.common import emulation
from dataplane.kernel import conntrack, netns
from dataplane.topology.plan import Plan
from dataplane.vpc.egress import MAX_CONNECTIONS_PER_DESTINATION, read

HOST = "198.51.100.10"
PORT, OTHER_PORT, LOCAL_PORT = 443, 8443, 9443
SAMPLE = 5_000
TOPOLOGY = """\
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: NAME}
spec:
  vpc:
    cidr: 10.60.0.0/16
    internetGateway: true
    subnets:
      - {name: pub, cidr: 10.60.0.0/24, zone: a, routeTable: public}
      - {name: priv, cidr: 10.60.10.0/24, zone: a, routeTable: private}
    natGateways: [{name: nat-a, subnet: pub}]
    routeTables:
      - {name: public, routes: [{destination: 0.0.0.0/0, target: igw}]}
      - {name: private, routes: [{destination: 0.0.0.0/0, target: nat/nat-a}]}
  nodes:
    - {name: q1, subnet: priv}
    - {name: q2, subnet: priv}
    - {name: q3, subnet: priv}
  internet:
    hosts: [{name: api.example.net, ip: 198.51.100.10}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client}
spec:
  replicas: 6
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers: [{name: c}]
---
apiVersion: v1
kind: Pod
metadata: {name: peer}
spec: {nodeName: q3, containers: [{name: c}]}
"""


DIAL_TIMEOUT = 1.0  # before the SYN's retransmission: a SYN that found no source port makes a failed attempt
SLICES = 5  # the fill's setup rate per fifth
WORKERS = 6  # each end's connections over this many processes: 55,000 / 6 fits any common descriptor limit
_FORK = multiprocessing.get_context("fork")


def _serve(netns_name: str, address: str, port: int, ready: Event, stop: Event) -> None:
    """A worker process: accept on ``address:port`` (shared with its siblings) and hold every connection."""
    netns.enter(netns_name)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((address, port))
    listener.listen(socket.SOMAXCONN)
    listener.settimeout(0.2)
    ready.set()
    held = []
    while not stop.is_set():
        try:
            held.append(listener.accept()[0])
        except TimeoutError:
            continue


def _dial(netns_name: str, address: str, port: int, count: int, done: multiprocessing.SimpleQueue, stop: Event) -> None:
    """A worker process: try ``count`` connections; report (when each one that connected did, how many
    did not), hold them until ``stop``."""
    netns.enter(netns_name)
    held, connected_at, failed = [], [], 0
    for _ in range(count):
        try:
            held.append(socket.create_connection((address, port), timeout=DIAL_TIMEOUT))
            connected_at.append(time.monotonic())
        except OSError:
            failed += 1
    done.put((connected_at, failed))
    stop.wait()


def _servers(netns_name: str, address: str, port: int, count: int, stop: Event) -> list[multiprocessing.Process]:
    procs = []
    for _ in range(count):
        ready = _FORK.Event()
        proc = _FORK.Process(target=_serve, args=(netns_name, address, port, ready, stop), daemon=True)
        proc.start()
        procs.append(proc)
        ready.wait(10)
    return procs


def _sample(netns_name: str, address: str, port: int) -> tuple[float, list[socket.socket]]:
    """``SAMPLE`` connections opened one after another from this process: (connections/s, the sockets)."""
    held = []
    started = time.monotonic()
    for _ in range(SAMPLE):
        sock = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect((address, port))
        held.append(sock)
    return SAMPLE / (time.monotonic() - started), held


def _connect_once(netns_name: str, address: str, port: int) -> str:
    sock = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(3)
    try:
        sock.connect((address, port))
        return "connected"
    except TimeoutError:
        return "timed out (its SYNs found no source port)"
    except OSError as error:
        return f"failed: {error}"
    finally:
        sock.close()


def _error_port_allocation(plan: Plan) -> int:
    return conntrack.insert_failed(read(plan.vpc_egress).nat("nat-a").netns)


def run() -> None:
    limit = MAX_CONNECTIONS_PER_DESTINATION
    with emulation(TOPOLOGY, "nat") as plan:
        assert plan.external is not None
        clients = [p for p in plan.pods if p.labels.get("app") == "client"]
        client, peer, outside = clients[0], plan.pod("default", "peer"), plan.external.client_netns
        stop = _FORK.Event()
        workers = [*_servers(outside, HOST, PORT, WORKERS, stop), *_servers(outside, HOST, OTHER_PORT, 1, stop),
                   *_servers(peer.netns, peer.ip, LOCAL_PORT, 1, stop)]
        held: list[socket.socket] = []
        try:
            direct, sockets = _sample(client.netns, peer.ip, LOCAL_PORT)
            for sock in sockets:
                sock.close()
            started = time.monotonic()
            first, held = _sample(client.netns, HOST, PORT)
            done = _FORK.SimpleQueue()
            share = (limit - SAMPLE) // WORKERS
            counts = [share + (1 if i < (limit - SAMPLE) % WORKERS else 0) for i in range(WORKERS)]
            dialers = [_FORK.Process(target=_dial, args=(clients[i % len(clients)].netns, HOST, PORT, n, done, stop),
                                     daemon=True) for i, n in enumerate(counts)]
            workers += dialers
            for proc in dialers:
                proc.start()
            filling = time.monotonic()
            reports = [done.get() for _ in dialers]
            times, failed = sorted(t for r in reports for t in r[0]), sum(r[1] for r in reports)
            to_limit = time.monotonic() - started
            excess = _connect_once(client.netns, HOST, PORT)
            other = _connect_once(client.netns, HOST, OTHER_PORT)
            errors = _error_port_allocation(plan)
        finally:
            stop.set()
            for sock in held:
                sock.close()
            for proc in workers:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
    print(f"\nNAT gateway, one destination ({HOST}:{PORT}), TCP connections held open, default limit {limit:,}")
    print(f"{'path (one process, one after another)':<48}{'conn/s':>10}{'x direct':>10}")
    print(f"{'pod to pod in the VPC (' + f'{SAMPLE:,} connections)':<48}{direct:>10.0f}{1:>10.2f}")
    print(f"{'through the NAT gateway (the first ' + f'{SAMPLE:,})':<48}{first:>10.0f}{first / direct:>10.2f}")
    print(f"then {WORKERS} processes, {limit - SAMPLE:,} attempts, by fifth of what connected:")
    step = max(1, len(times) // SLICES)
    edges = [filling, *times[step - 1::step]][: SLICES + 1]
    for i in range(len(edges) - 1):
        held_then = SAMPLE + (i + 1) * step
        print(f"  up to {held_then:>6,} held: {step / max(edges[i + 1] - edges[i], 1e-9):>8.0f} conn/s")
    print(f"{SAMPLE + len(times):,} held after {to_limit:.1f} s; {failed} attempts found no source port within "
          f"{DIAL_TIMEOUT:.0f} s; ErrorPortAllocation {errors}")
    print(f"one more: {excess}; another port of the host: {other}")
