"""What ``dpctl get ingress`` and ``dpctl get certificates`` show, from the plan.

An Ingress's ADDRESS is its ALB's DNS name, as the AWS Load Balancer
Controller writes ``status.loadBalancer.ingress[].hostname``; an Ingress no
ALB serves has none, as on a cluster without its controller.  Certificates
are the Topology's declared ACM certificates plus every ARN an ALB listener
uses; one not declared covers the hosts of the Ingresses that name it.
"""

from __future__ import annotations

from typing import Any

from dataplane.topology.albs import all_albs
from dataplane.topology.plan import Plan


def _quiet(path: str, message: str) -> None:
    """Reported when the file was read."""


def ingresses(plan: Plan, namespace: str | None) -> list[dict[str, Any]]:
    albs = {alb.name: alb for alb in all_albs(plan.traffic, _quiet, _quiet, {n.name: n.labels for n in plan.namespaces})}
    served = {key: lb for lb in plan.load_balancers for key in lb.ingresses}
    records = []
    for obj in plan.traffic:
        if obj.kind != "Ingress" or namespace not in (None, obj.namespace):
            continue
        key = f"{obj.namespace}/{obj.name}"
        lb = served.get(key)
        alb = albs.get(lb.group) if lb else None
        hosts = [str(r["host"]) for r in obj.spec.get("rules", []) if r.get("host")]
        records.append({
            "namespace": obj.namespace,
            "name": obj.name,
            "class": obj.spec.get("ingressClassName") or obj.annotations.get("kubernetes.io/ingress.class"),
            "hosts": hosts,
            "address": lb.dns_name if lb else None,
            "ports": sorted({li.port for li in alb.listeners}) if alb else [80],
            "loadBalancer": lb.name if lb else None,
        })
    return records


def certificates(plan: Plan) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {
        arn: {"arn": arn, "domains": list(domains), "source": "declared", "inUseBy": []}
        for arn, domains in plan.certificates.items()
    }
    for alb in all_albs(plan.traffic, _quiet, _quiet, {n.name: n.labels for n in plan.namespaces}):
        lb = next((lb.name for lb in plan.load_balancers if lb.group == alb.name), alb.name)
        for listener in alb.listeners:
            for arn in listener.certificates:
                record = found.setdefault(
                    arn, {"arn": arn, "domains": list(alb.hostnames), "source": "Ingress hosts", "inUseBy": []}
                )
                if lb not in record["inUseBy"]:
                    record["inUseBy"].append(lb)
    return sorted(found.values(), key=lambda r: r["arn"])
