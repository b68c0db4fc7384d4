"""``scripts/bench l7``: HTTP requests through a waypoint, against the direct
paths and haproxy, in one run.

Paths (client on node-a, server pod on node-b, built-in HTTP responder):

* kernel: an unmeshed client to the server pod's address (no proxy at all);
* mesh, no waypoint: a meshed client to a Service labelled
  ``istio.io/use-waypoint: none`` (ztunnel HBONE only);
* waypoint: the same client to a Service bound to the waypoint (HBONE to the
  waypoint, L7 routing, HBONE to the server's ztunnel);
* haproxy: the unmeshed client through haproxy (HTTP mode, keep-alive) in a
  pod of its own on node-a, a C L7 proxy on a comparable two-hop path.

For each: p50/p99 of sequential requests on one keep-alive connection, and
requests/s from ``CONNECTIONS`` keep-alive connections in parallel.  Ratios
are against the kernel path measured in the same run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from bench.common import emulation
from bench.mesh import _connect, in_netns
from dataplane.topology.plan import Plan

SEQUENTIAL = 2000
CONNECTIONS = 8
SECONDS = 4.0
REQUEST = b"GET /bench HTTP/1.1\r\nHost: web\r\n\r\n"

TOPOLOGY = """
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: NAME}
spec:
  cni: vpc
  vpc:
    cidr: 192.168.0.0/16
    subnets: [{name: a, cidr: 192.168.1.0/24, zone: a}, {name: b, cidr: 192.168.2.0/24, zone: b}]
  nodes: [{name: node-a, subnet: a}, {name: node-b, subnet: b}]
---
apiVersion: v1
kind: Namespace
metadata: {name: mesh, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: mesh}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: mesh}
spec: {nodeName: node-a, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: mesh, labels: {app: web}}
spec: {nodeName: node-b, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: mesh}
spec: {selector: {app: web}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-direct, namespace: mesh, labels: {istio.io/use-waypoint: none}}
spec: {selector: {app: web}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: plain}
spec: {nodeName: node-a, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: plain, labels: {app: web}}
spec: {nodeName: node-b, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: haproxy, namespace: plain}
spec: {nodeName: node-a, containers: [{name: c}]}
"""


@dataclass(frozen=True)
class Result:
    label: str
    p50_ms: float
    p99_ms: float
    rps: float


def _exchange(sock: object) -> None:
    """One request and its whole response on a keep-alive connection."""
    sock.sendall(REQUEST)  # type: ignore[attr-defined]
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)  # type: ignore[attr-defined]
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)  # type: ignore[attr-defined]


def measure(label: str, netns_name: str, host: str, port: int) -> Result:
    def sequential() -> tuple[float, float]:
        samples = []
        with _connect(host, port) as sock:
            for _ in range(100):
                _exchange(sock)
            for _ in range(SEQUENTIAL):
                started = time.perf_counter_ns()
                _exchange(sock)
                samples.append(time.perf_counter_ns() - started)
        samples.sort()
        return samples[len(samples) // 2] / 1e6, samples[int(len(samples) * 0.99)] / 1e6

    def parallel() -> float:
        counts = [0] * CONNECTIONS
        deadline = time.monotonic() + SECONDS

        def worker(i: int) -> None:
            with _connect(host, port) as sock:
                while time.monotonic() < deadline:
                    _exchange(sock)
                    counts[i] += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts) / SECONDS

    p50, p99 = in_netns(netns_name, sequential)
    rps = in_netns(netns_name, parallel)  # threads started there inherit its network namespace
    return Result(label, p50, p99, rps)


def _haproxy(plan: Plan, directory: str) -> subprocess.Popen[bytes] | None:
    if shutil.which("haproxy") is None:
        return None
    server = plan.pod("plain", "web")
    config = os.path.join(directory, "haproxy.cfg")
    with open(config, "w") as handle:
        handle.write(
            "global\n  maxconn 1024\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n"
            "  timeout server 30s\n  option http-keep-alive\nfrontend f\n  bind :8080\n  default_backend b\n"
            f"backend b\n  server web {server.ip}:8080\n"
        )
    proxy = subprocess.Popen(
        ["ip", "netns", "exec", plan.pod("plain", "haproxy").netns, "haproxy", "-db", "-f", config],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    time.sleep(0.5)
    return proxy


def run() -> None:
    with emulation(TOPOLOGY, "l7") as plan, tempfile.TemporaryDirectory() as directory:
        mesh_client, plain_client = plan.pod("mesh", "client").netns, plan.pod("plain", "client").netns
        vip = {s.name: s.cluster_ip for s in plan.services if s.namespace == "mesh"}
        results = [
            measure("kernel (no proxy)", plain_client, plan.pod("plain", "web").ip, 8080),
            measure("mesh, no waypoint", mesh_client, str(vip["web-direct"]), 8080),
            measure("waypoint", mesh_client, str(vip["web"]), 8080),
        ]
        proxy = _haproxy(plan, directory)
        if proxy is not None:
            try:
                results.append(measure("haproxy (one L7 hop)", plain_client, plan.pod("plain", "haproxy").ip, 8080))
            finally:
                os.killpg(proxy.pid, signal.SIGTERM)
                proxy.wait()
    base = results[0]
    print(f"\nL7 through a waypoint: {SEQUENTIAL} sequential keep-alive requests, then {CONNECTIONS} connections "
          f"for {SECONDS:.0f} s")
    print(f"{'path':<24}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>10}{'p50 added':>11}{'req/s ratio':>13}")
    for r in results:
        print(f"{r.label:<24}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}{r.rps:>10.0f}{r.p50_ms - base.p50_ms:>11.3f}"
              f"{r.rps / base.rps:>13.2f}")
    haproxy = next((r for r in results if r.label.startswith("haproxy")), None)
    waypoint = next(r for r in results if r.label == "waypoint")
    if haproxy is None:
        print("haproxy: not installed (apt-get install haproxy) -- no reference L7 proxy in this run")
    else:
        print(f"waypoint / haproxy: {waypoint.rps / haproxy.rps:.2f}x the requests/s, "
              f"{waypoint.p50_ms / haproxy.p50_ms:.1f}x the p50")
