"""``scripts/bench edge``: HTTPS through the ALB emulation against haproxy
terminating TLS on the same path, an NLB's TCP passthrough against the
NodePort it sends to, and plain HTTP to the pod, in one run.

Paths (the outside client, one web pod on node-a, the built-in HTTP responder):

* direct: the client to the pod's own address over plain HTTP (VPC CNI: pod
  addresses are routable), the floor every proxy is measured against;
* ALB: HTTPS to the ALB node in zone a (TLS terminated with its ACM
  certificate, listener rules, a keep-alive connection to the pod);
* haproxy: HTTPS to haproxy in a pod of its own on node-a, terminating TLS
  with the same certificate and forwarding to the pod (a C L7 proxy on a
  comparable path);
* NodePort: plain HTTP to node-a's address and the Service's NodePort (the
  kernel's DNAT to the pod);
* NLB: plain HTTP to the zone-a NLB node's public address (instance
  targets: the LB namespace DNATs to node-a's NodePort, all in the kernel).

For each: requests/s over ``CONNECTIONS`` keep-alive connections and new
connections/s (a connection -- with its TLS handshake on HTTPS -- and one
request each, from ``CONNECTIONS`` threads), with ratios against the direct
path, and the ALB against haproxy, the NLB against the NodePort.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import emulation
from bench.l7 import REQUEST, _exchange
from bench.mesh import _connect, in_netns
from dataplane.lb import acm
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan

CONNECTIONS = 8
SECONDS = 4.0
HOST = "shop.example.com"
ARN = "arn:aws:acm:us-east-1:111122223333:certificate/bench"
NODE_PORT = 30080

TOPOLOGY = f"""
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {{name: NAME}}
spec:
  cni: vpc
  vpc:
    cidr: 192.168.0.0/16
    subnets: [{{name: a, cidr: 192.168.1.0/24, zone: a}}, {{name: b, cidr: 192.168.2.0/24, zone: b}}]
  nodes: [{{name: node-a, subnet: a}}, {{name: node-b, subnet: b}}]
  certificates: [{{arn: "{ARN}", domains: [{HOST}]}}]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {{name: alb}}
spec: {{controller: ingress.k8s.aws/alb}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: default, labels: {{app: web}}}}
spec: {{nodeName: node-a, containers: [{{name: c, ports: [{{name: http, containerPort: 8080}}]}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: haproxy, namespace: default}}
spec: {{nodeName: node-a, containers: [{{name: c}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec: {{selector: {{app: web}}, ports: [{{name: http, port: 80, targetPort: 8080}}]}}
---
apiVersion: v1
kind: Service
metadata:
  name: web-nlb
  namespace: default
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: external
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: instance
    service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing
spec:
  type: LoadBalancer
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: 8080, nodePort: {NODE_PORT}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: default
  annotations:
    alb.ingress.kubernetes.io/scheme: internet-facing
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/listen-ports: '[{{"HTTPS": 443}}]'
    alb.ingress.kubernetes.io/certificate-arn: {ARN}
spec:
  ingressClassName: alb
  defaultBackend: {{service: {{name: web, port: {{number: 80}}}}}}
"""


@dataclass(frozen=True)
class Result:
    label: str
    rps: float
    connections: float  # new connections/s, each with one request (and a TLS handshake on HTTPS)


def _parallel(work: Callable[[], None]) -> float:
    """Times ``work`` ran per second, from ``CONNECTIONS`` threads for ``SECONDS``."""
    counts = [0] * CONNECTIONS
    deadline = time.monotonic() + SECONDS

    def worker(i: int) -> None:
        while time.monotonic() < deadline:
            work()
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / SECONDS


def measure(label: str, netns_name: str, address: str, port: int, context: ssl.SSLContext | None) -> Result:
    def connect() -> socket.socket:
        sock = _connect(address, port)
        return context.wrap_socket(sock, server_hostname=HOST) if context else sock

    def requests() -> float:
        local = threading.local()

        def one() -> None:
            if not hasattr(local, "sock"):
                local.sock = connect()
            _exchange(local.sock)

        return _parallel(one)

    def connections() -> float:
        def one() -> None:
            with connect() as sock:
                _exchange(sock)

        return _parallel(one)

    return Result(label, in_netns(netns_name, requests), in_netns(netns_name, connections))


def _haproxy(plan: Plan, directory: str, cert: acm.Files) -> subprocess.Popen[bytes] | None:
    if shutil.which("haproxy") is None:
        return None
    bundle = Path(directory) / "bundle.pem"
    bundle.write_bytes(cert.cert.read_bytes() + cert.key.read_bytes())
    web = plan.pod("default", "web")
    config = Path(directory) / "haproxy.cfg"
    config.write_text(
        "global\n  maxconn 1024\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n"
        f"  timeout server 30s\n  option http-keep-alive\nfrontend f\n  bind :443 ssl crt {bundle}\n"
        f"  default_backend b\nbackend b\n  server web {web.ip}:8080\n"
    )
    proxy = subprocess.Popen(
        ["ip", "netns", "exec", plan.pod("default", "haproxy").netns, "haproxy", "-db", "-f", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    time.sleep(0.5)
    return proxy


def run() -> None:
    with emulation(TOPOLOGY, "edge") as plan, tempfile.TemporaryDirectory() as directory:
        assert plan.external is not None
        client = plan.external.client_netns
        state = Path(StateDir(plan.name).path)
        context = ssl.create_default_context(cafile=str(acm.root_path(state)))
        [alb] = [next(n for n in lb.nodes if n.zone == "a") for lb in plan.load_balancers if lb.kind == "alb"]
        [nlb] = [next(n for n in lb.nodes if n.zone == "a") for lb in plan.load_balancers if lb.kind == "nlb"]
        assert alb.public_ip is not None and nlb.public_ip is not None
        results = [
            measure("direct (HTTP to the pod)", client, plan.pod("default", "web").ip, 8080, None),
            measure("ALB (HTTPS)", client, alb.public_ip, 443, context),
            measure("NodePort (HTTP)", client, plan.node("node-a").ip, NODE_PORT, None),
            measure("NLB (TCP passthrough)", client, nlb.public_ip, 80, None),
        ]
        root = acm.ensure_root(state, plan.name)
        proxy = _haproxy(plan, directory, acm.ensure_certificate(state, root, ARN, (HOST,)))
        if proxy is not None:
            try:
                results.append(measure("haproxy (HTTPS)", client, plan.pod("default", "haproxy").ip, 443, context))
            finally:
                os.killpg(proxy.pid, signal.SIGTERM)
                proxy.wait()
    by_label = {r.label.split()[0]: r for r in results}
    direct = by_label["direct"]
    print(f"\nThe edge: {CONNECTIONS} connections for {SECONDS:.0f} s each ({REQUEST.split()[1].decode()})")
    print(f"{'path':<26}{'req/s':>9}{'vs direct':>11}{'new conn/s':>12}{'vs direct':>11}")
    for r in results:
        print(f"{r.label:<26}{r.rps:>9.0f}{r.rps / direct.rps:>11.2f}"
              f"{r.connections:>12.0f}{r.connections / direct.connections:>11.2f}")
    nlb, node_port = by_label["NLB"], by_label["NodePort"]
    print(f"NLB / NodePort: {nlb.rps / node_port.rps:.2f}x the requests/s, "
          f"{nlb.connections / node_port.connections:.2f}x the new connections/s")
    haproxy = by_label.get("haproxy")
    if haproxy is None:
        print("haproxy: not installed (apt-get install haproxy) -- no reference TLS proxy in this run")
        return
    albr = by_label["ALB"]
    print(f"ALB / haproxy: {albr.rps / haproxy.rps:.2f}x the requests/s, "
          f"{albr.connections / haproxy.connections:.2f}x the new TLS handshakes/s")
