"""What ``dpctl get vpcs|instances|peeringconnections|transitgateways`` show (``vpc.network``).

A plan without other VPCs still has its cluster's: ``get vpcs`` lists it
alone, from the plan's subnets.  Route tables of every VPC are in ``get
routetables``.
"""

from __future__ import annotations

from typing import Any

from dataplane.cli.context import print_json, print_table
from dataplane.realize.network_wiring import network_of
from dataplane.topology.plan import Plan

VPCS = ("vpcs", "vpc")
INSTANCES = ("instances", "instance", "ec2")
PEERINGS = ("peeringconnections", "peeringconnection", "pcx")
TRANSIT_GATEWAYS = ("transitgateways", "transitgateway", "tgw")
RESOURCES = (*VPCS, *INSTANCES, *PEERINGS, *TRANSIT_GATEWAYS)


def vpcs(plan: Plan) -> list[dict[str, Any]]:
    if not plan.vpc_network:
        return [{"name": "vpc", "cidr": plan.vpc_cidr, "cluster": True, "subnets": [s.name for s in plan.subnets],
                 "instances": [], "connections": []}]
    network = network_of(plan)
    return [{"name": v.name, "cidr": v.cidr, "cluster": v.cluster, "subnets": [s.name for s in v.subnets],
             "instances": [i.name for i in v.instances],
             "connections": [what for what, _ in network.router_links(v.name)]} for v in network.vpcs.values()]


def instances(plan: Plan) -> list[dict[str, Any]]:
    if not plan.vpc_network:
        return []
    return [{"name": i.name, "vpc": i.vpc, "subnet": i.subnet, "privateIp": i.ip, "target": f"ec2/{i.name}"}
            for i in network_of(plan).instances]


def peerings(plan: Plan) -> list[dict[str, Any]]:
    if not plan.vpc_network:
        return []
    network = network_of(plan)
    return [{"name": p.name, "requester": p.requester, "accepter": p.accepter,
             "requesterCidr": network.vpcs[p.requester].cidr, "accepterCidr": network.vpcs[p.accepter].cidr}
            for p in network.peerings]


def transit_gateways(plan: Plan) -> list[dict[str, Any]]:
    if not plan.vpc_network:
        return []
    return [{"name": t.name, "attachments": list(t.attachments),
             "routeTables": [{"name": table.name, "associations": list(table.associations),
                              "routes": [f"{r.destination} {r.target}{' (propagated)' if r.propagated else ''}"
                                         for r in table.routes]} for table in t.tables]}
            for t in network_of(plan).transit_gateways]


def show(plan: Plan, resource: str, output: str) -> None:
    if resource in VPCS:
        records = vpcs(plan)
        header = ["NAME", "CIDR", "CLUSTER", "SUBNETS", "INSTANCES", "CONNECTIONS"]
        rows = [[r["name"], r["cidr"], "yes" if r["cluster"] else "-", ",".join(r["subnets"]),
                 ",".join(r["instances"]) or "-", "; ".join(r["connections"]) or "-"] for r in records]
    elif resource in INSTANCES:
        records = instances(plan)
        header = ["NAME", "VPC", "SUBNET", "PRIVATE-IP", "TARGET"]
        rows = [[r["name"], r["vpc"], r["subnet"], r["privateIp"], r["target"]] for r in records]
    elif resource in PEERINGS:
        records = peerings(plan)
        header = ["NAME", "REQUESTER", "ACCEPTER"]
        rows = [[r["name"], f"{r['requester']} ({r['requesterCidr']})", f"{r['accepter']} ({r['accepterCidr']})"]
                for r in records]
    else:
        records = transit_gateways(plan)
        header = ["NAME", "ATTACHMENTS", "ROUTE-TABLE", "ASSOCIATIONS", "ROUTES"]
        rows = [[r["name"], ",".join(r["attachments"]), t["name"], ",".join(t["associations"]) or "-",
                 "; ".join(t["routes"]) or "-"] for r in records for t in r["routeTables"]]
    if output == "json":
        print_json(records)
        return
    print_table(header, rows)
