"""``scripts/bench nat``: a NAT gateway filled to AWS's limit, one destination, against the direct path.

A pod in a private subnet opens TCP connections to one internet host and
port through a NAT gateway at its default limit (55,000 per destination)
and holds every one open; then one more (it must be reset, and counted as
``ErrorPortAllocation``) and one to another port (it must connect).  The
connection setup rate of the first ``SAMPLE`` connections is compared with
the same number to a pod in the VPC (the local route: no NAT gateway, no
internet gateway) in the same run.

Both ends are sockets of this process: the client's in the pod's namespace
(its ephemeral range widened to 1024-65535 inside that namespace, since one
source address needs 55,000 ports), the server's in the outside client's
namespace on the internet host's address, accepting on a thread and holding
what it accepts.  The process's file limit is raised to fit both ends.
"""

from __future__ import annotations

import errno
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Callable

from bench.common import emulation
from dataplane.kernel import netns
from dataplane.topology.plan import Plan
from dataplane.vpc.egress import MAX_CONNECTIONS_PER_DESTINATION, NAT_TABLE, read

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
  internet:
    hosts: [{name: api.example.net, ip: 198.51.100.10}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {nodeName: q1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: peer}
spec: {nodeName: q2, containers: [{name: c}]}
"""


class Holder:
    """A listener in ``netns_name`` on ``address:port`` that accepts and keeps every connection."""

    def __init__(self, netns_name: str, address: str, port: int):
        self.sock = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(socket.SOMAXCONN)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def _connect(netns_name: str, address: str, port: int) -> socket.socket:
    sock = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _open(count: int, connect: Callable[[], socket.socket], into: list[socket.socket]) -> float:
    """Open ``count`` connections into ``into``; connections per second."""
    started = time.monotonic()
    for _ in range(count):
        into.append(connect())
    return count / (time.monotonic() - started)


def _error_port_allocation(plan: Plan) -> int:
    nat = read(plan.vpc_egress).nat("nat-a")
    out = subprocess.run(["ip", "netns", "exec", nat.netns, "nft", "list", "counter", "ip", NAT_TABLE,
                          "error_port_allocation"], capture_output=True, text=True, check=True).stdout
    return int(out.split("packets")[1].split()[0])


def run() -> None:
    limit = MAX_CONNECTIONS_PER_DESTINATION
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4 * limit), max(hard, 4 * limit)))
    with emulation(TOPOLOGY, "nat") as plan:
        assert plan.external is not None
        client, peer = plan.pod("default", "client"), plan.pod("default", "peer")
        subprocess.run(["ip", "netns", "exec", client.netns, "sysctl", "-qw",
                        "net.ipv4.ip_local_port_range=1024 65535"], check=True)
        servers = [Holder(plan.external.client_netns, HOST, p) for p in (PORT, OTHER_PORT)]
        servers.append(Holder(peer.netns, peer.ip, LOCAL_PORT))
        held: list[socket.socket] = []
        try:
            direct = _open(SAMPLE, lambda: _connect(client.netns, peer.ip, LOCAL_PORT), held)
            for sock in held:
                sock.close()
            held.clear()
            started = time.monotonic()
            first = _open(SAMPLE, lambda: _connect(client.netns, HOST, PORT), held)
            _open(limit - SAMPLE, lambda: _connect(client.netns, HOST, PORT), held)
            to_limit = time.monotonic() - started
            try:
                _connect(client.netns, HOST, PORT).close()
                excess = "connected (the limit did not hold)"
            except OSError as error:
                excess = "reset" if error.errno == errno.ECONNREFUSED else f"failed: {error}"
            with _connect(client.netns, HOST, OTHER_PORT):
                other = "connected"
            errors = _error_port_allocation(plan)
        finally:
            for sock in held:
                sock.close()
            for server in servers:
                server.close()
    print(f"\nNAT gateway, one destination ({HOST}:{PORT}), TCP connections held open, default limit {limit:,}")
    print(f"{'path':<44}{'conn/s':>10}{'x direct':>10}")
    print(f"{'pod to pod in the VPC (first ' + f'{SAMPLE:,})':<44}{direct:>10.0f}{1:>10.2f}")
    print(f"{'through the NAT gateway (first ' + f'{SAMPLE:,})':<44}{first:>10.0f}{first / direct:>10.2f}")
    print(f"{limit:,} connections through it in {to_limit:.1f} s ({limit / to_limit:.0f}/s); "
          f"connection {limit + 1:,}: {excess}; ErrorPortAllocation {errors}; another port: {other}")
