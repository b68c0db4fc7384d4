"""Workload identities for an emulation: its root CA and a certificate per
service account that has pods, kept in ``<state>/certs`` (root only).

Issued at ``up`` and on every live change, so every pod's identity exists
before the mesh needs it; the store renews a certificate at half-life.
"""

from __future__ import annotations

from dataplane.mesh.identity import pod_identity
from dataplane.mesh.store import CertificateStore
from dataplane.state.layout import certs_dir
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan


def store_for(plan: Plan) -> CertificateStore:
    return CertificateStore(str(certs_dir(StateDir(plan.name).path)), plan.name, plan.trust_domain)


def issue(plan: Plan) -> None:
    """Make sure the root and every pod's workload certificate exist and are fresh."""
    store = store_for(plan)
    store.root()
    for identity in sorted({pod_identity(plan, pod) for pod in plan.pods}):
        store.workload(identity)
