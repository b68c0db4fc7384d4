"""Route 53 on every build and change: each ExternalDNS reconciles the hosted zones.

Records outlive the objects that made them unless a ``sync`` ExternalDNS
deletes them, so the zones are kept in the state directory (``route53.json``)
and each reconcile starts from what the previous one left: the zones as
declared now (``route53.sync.carried``), then every ExternalDNS of the plan
in file order, each only while a pod of it is ready (one scaled to zero
changes nothing, and its records stay).  It runs before the agents (re)load
the plan, so the resolver the first node's agent serves answers from the new
records at once.  A live change that fails after this step leaves the new
records in place while the agents go back to the old plan.

The outside client's ``/etc/netns/<netns>/resolv.conf`` points at that
resolver while a public zone exists, so ``dpctl exec external -- curl
http://<name>/`` resolves as a browser on the internet would.
"""

from __future__ import annotations

from pathlib import Path

from dataplane.atomicfile import write_atomic
from dataplane.kernel import etcnetns
from dataplane.route53.answer import OUTSIDE_RESOLVER
from dataplane.route53.records import zones_from_json, zones_to_json
from dataplane.route53.sync import carried, reconcile
from dataplane.state.layout import route53_path
from dataplane.topology.plan import ExternalDns, Plan


def sync(plan: Plan, state_dir: str | Path) -> None:
    path = route53_path(state_dir)
    zones = carried(zones_from_json(path.read_text()) if path.exists() else (), plan.hosted_zones)
    for controller in plan.external_dns:
        if _running(plan, controller):
            zones = reconcile(zones, controller.settings, controller.endpoints)
    write_atomic(path, zones_to_json(zones) + "\n")
    if plan.external is None:
        return
    if any(not z.private for z in plan.hosted_zones):
        etcnetns.write(plan.external.client_netns, {"resolv.conf": f"nameserver {OUTSIDE_RESOLVER}\noptions edns0\n"})
    else:
        etcnetns.remove_entry(plan.external.client_netns, "resolv.conf")


def _running(plan: Plan, controller: ExternalDns) -> bool:
    """Whether a pod of the ExternalDNS Deployment is ready: scaled to zero, it changes nothing."""
    owner = f"Deployment/{controller.name}"
    return any(p.namespace == controller.namespace and p.owner == owner and p.ready for p in plan.pods)
