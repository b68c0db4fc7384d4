"""What ``dpctl get gateways`` and ``dpctl get httproutes|grpcroutes|tlsroutes`` show, from the plan.

A Gateway of class ``istio`` lists its listeners and, as istiod writes in
``status.addresses``, its Service's LoadBalancer address (an ALB Gateway its
ALB's DNS name, as the AWS controller writes it); a route lists,
per Gateway parentRef, the ``Accepted`` and ``ResolvedRefs`` conditions
computed purely (``l7.routing.attach``) and the listeners it attached to.
"""

from __future__ import annotations

from typing import Any

from dataplane.cli.context import print_json, print_table
from dataplane.gateway import view
from dataplane.topology.gateway_albs import NAME_PREFIX
from dataplane.topology.parse_gateways import SUFFIX
from dataplane.topology.plan import Plan

GATEWAYS = ("gateways", "gateway", "gtw")
ROUTES = {
    "httproutes": "HTTPRoute", "httproute": "HTTPRoute", "grpcroutes": "GRPCRoute", "grpcroute": "GRPCRoute",
    "tlsroutes": "TLSRoute", "tlsroute": "TLSRoute",
}
RESOURCES = (*GATEWAYS, *ROUTES)


def gateways(plan: Plan, namespace: str | None) -> list[dict[str, Any]]:
    services = {s.key: s for s in plan.services}
    attached: dict[str, int] = {}
    for status in view.statuses(plan):
        for binding in status.bindings:
            attached[binding.gateway] = attached.get(binding.gateway, 0) + 1
    records = []
    classes = {f"{t.namespace}/{t.name}": str(t.spec.get("gatewayClassName")) for t in plan.traffic if t.kind == "Gateway"}
    albs = {lb.group.removeprefix(NAME_PREFIX): lb.dns_name for lb in plan.load_balancers
            if lb.group.startswith(NAME_PREFIX)}
    for key, served in view.served_gateways(plan).items():
        if namespace not in (None, served.namespace):
            continue
        service = services.get(f"{key}{SUFFIX}")
        address = albs.get(key) or (",".join(service.load_balancer_ips) if service and service.load_balancer_ips else None)
        records.append({
            "namespace": served.namespace,
            "name": served.name,
            "class": classes.get(key, "istio"),
            "address": address,
            "listeners": [
                {"name": li.name, "port": li.port, "protocol": li.protocol, "hostname": li.hostname,
                 "tlsMode": li.tls_mode, "allowedRoutes": li.allowed_from}
                for li in served.listeners
            ],
            "attachedRoutes": attached.get(key, 0),
        })
    return records


def routes(plan: Plan, kind: str, namespace: str | None) -> list[dict[str, Any]]:
    return [
        {
            "namespace": s.route.namespace,
            "name": s.route.name,
            "hostnames": list(s.route.hostnames),
            "parent": f"{s.parent.namespace}/{s.parent.name}" + (f"/{s.parent.section}" if s.parent.section else ""),
            "conditions": [
                {"type": c.type, "status": str(c.status), "reason": c.reason, "message": c.message}
                for c in (s.accepted, s.resolved)
            ],
            "listeners": [b.listener for b in s.bindings],
        }
        for s in view.statuses(plan)
        if s.route.kind == kind and namespace in (None, s.route.namespace)
    ]


def show(plan: Plan, resource: str, namespace: str | None, output: str) -> None:
    if resource in GATEWAYS:
        records = gateways(plan, namespace)
        if output == "json":
            print_json(records)
            return
        print_table(["NAMESPACE", "NAME", "CLASS", "ADDRESS", "LISTENERS", "ROUTES"], [
            [r["namespace"], r["name"], r["class"], r["address"] or "<pending>",
             ",".join(f"{li['name']}:{li['protocol']}/{li['port']}" for li in r["listeners"]), r["attachedRoutes"]]
            for r in records
        ])
        return
    records = routes(plan, ROUTES[resource], namespace)
    if output == "json":
        print_json(records)
        return
    print_table(["NAMESPACE", "NAME", "HOSTNAMES", "PARENT", "ACCEPTED", "RESOLVED-REFS", "LISTENERS"], [
        [r["namespace"], r["name"], ",".join(r["hostnames"]) or "*", r["parent"],
         *(f"{c['status']} ({c['reason']})" for c in r["conditions"]), ",".join(r["listeners"]) or "-"]
        for r in records
    ])
