"""The outside client trusts the emulation's public root, as a browser trusts Amazon's.

Certificates the ALBs, NLBs and ingress gateways present are issued by the
emulated ACM's root (``lb.acm``); the outside client's ``/etc/ssl`` (bind
mounted by ``ip netns exec``, so ``dpctl exec external -- curl https://...``
sees it) holds the host's CA bundle with that root added.  Only the bundle
file and ``openssl.cnf`` are there: tools read ``CAfile``, and nothing of the
host's private key directory is copied.  The root is made here, before the
agents that serve TLS start, so they all load the same one.
"""

from __future__ import annotations

from pathlib import Path

from dataplane.kernel import etcnetns
from dataplane.lb import acm
from dataplane.topology.plan import Plan

HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_OPENSSL_CNF = Path("/etc/ssl/openssl.cnf")


def needs_root(plan: Plan) -> bool:
    """Whether anything in the plan terminates TLS with the emulation's public root."""
    gateways = any(t.kind == "Gateway" and t.spec.get("gatewayClassName") == "istio" for t in plan.traffic)
    return bool(plan.load_balancers) or gateways


def trust(plan: Plan, state_dir: str | Path) -> None:
    if plan.external is None or not needs_root(plan):
        return
    acm.ensure_root(Path(state_dir), plan.name)
    root = acm.root_path(Path(state_dir)).read_bytes()
    host = HOST_BUNDLE.read_bytes() if HOST_BUNDLE.exists() else b""
    client = plan.external.client_netns
    etcnetns.write_file(client, "ssl/certs/ca-certificates.crt", host.rstrip(b"\n") + b"\n" + root)
    if HOST_OPENSSL_CNF.exists():
        etcnetns.write_file(client, "ssl/openssl.cnf", HOST_OPENSSL_CNF.read_bytes())
