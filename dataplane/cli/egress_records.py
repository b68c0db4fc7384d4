"""What ``dpctl get natgateways`` and ``dpctl get routetables`` show.

A NAT gateway's metrics carry CloudWatch's names and are read from the
gateway's own namespace: its named nftables counters, its conntrack table
and conntrack's ``insert_failed`` statistic, which is what a SYN that found
no source port raises (``realize.egress_wiring`` says which rule feeds which
counter).  A
route table lists its subnets, whether it is public (it routes to the
internet gateway) and its routes, the implicit ``local`` one first.
"""

from __future__ import annotations

from typing import Any

from dataplane.cli.context import print_json, print_table
from dataplane.kernel import conntrack, netns, nft
from dataplane.realize.network_wiring import network_of
from dataplane.topology.plan import Plan
from dataplane.vpc.egress import NAT_TABLE, Egress, read

NAT_GATEWAYS = ("natgateways", "natgateway", "nat")
ROUTE_TABLES = ("routetables", "routetable", "rtb")
RESOURCES = (*NAT_GATEWAYS, *ROUTE_TABLES)


def _counters(netns_name: str) -> dict[str, dict[str, int]]:
    found = {}
    for item in nft.ruleset_json(netns_name):
        counter = item.get("counter")
        if counter and counter.get("table") == NAT_TABLE:
            found[counter["name"]] = {"packets": int(counter["packets"]), "bytes": int(counter["bytes"])}
    return found


def nat_gateways(plan: Plan) -> list[dict[str, Any]]:
    records = []
    for nat in read(plan.vpc_egress).nat_gateways:
        running = netns.exists(nat.netns)
        counters = _counters(nat.netns) if running else {}
        no_port = conntrack.insert_failed(nat.netns) if running else 0

        def count(name: str, field: str = "packets", counters: dict[str, dict[str, int]] = counters) -> int:
            return counters.get(name, {}).get(field, 0)

        records.append({
            "name": nat.name, "subnet": nat.subnet, "privateIp": nat.private_ip, "elasticIp": nat.elastic_ip,
            "maxConnectionsPerDestination": nat.max_per_destination, "idleTimeoutSeconds": nat.idle_timeout,
            "metrics": {
                "ActiveConnectionCount": conntrack.established_tcp(nat.netns) if running else 0,
                "ConnectionEstablishedCount": count("connections_established"),
                "ErrorPortAllocation": no_port,
                "IdleTimeoutCount": count("idle_timeout"),
                "PacketsDropCount": count("packets_drop") + no_port,
                "BytesOutToDestination": count("bytes_out_to_destination", "bytes"),
                "BytesInFromDestination": count("bytes_in_from_destination", "bytes"),
            },
        })
    return records


def _target(route_target: str, egress: Egress) -> str:
    kind, _, name = route_target.partition("/")
    return f"{route_target} ({egress.nat(name).elastic_ip})" if kind == "nat" else route_target


def route_tables(plan: Plan) -> list[dict[str, Any]]:
    """The cluster VPC's tables, then every other VPC's (``vpc.network``)."""
    egress = read(plan.vpc_egress)
    network = network_of(plan) if plan.vpc_network else None
    cluster = network.cluster.name if network else "vpc"
    found = [{
        "vpc": cluster,
        "name": table.name,
        "public": table.public,
        "subnets": [s.name for s in plan.subnets if egress.subnet_tables.get(s.name) == table.name],
        "routes": [f"{plan.vpc_cidr} local", *(f"{r.destination} {_target(r.target, egress)}" for r in table.routes)],
    } for table in egress.tables.values()]
    for vpc in (v for v in network.vpcs.values() if not v.cluster) if network else ():
        found += [{"vpc": vpc.name, "name": table.name, "public": False,
                   "subnets": [s.name for s in vpc.subnets if vpc.subnet_tables.get(s.name) == table.name],
                   "routes": [f"{vpc.cidr} local", *(f"{r.destination} {r.target}" for r in table.routes)]}
                  for table in vpc.tables.values()]
    return found


def show(plan: Plan, resource: str, output: str) -> None:
    if resource in NAT_GATEWAYS:
        records = nat_gateways(plan)
        if output == "json":
            print_json(records)
            return
        print_table(["NAME", "SUBNET", "ELASTIC-IP", "ACTIVE", "ESTABLISHED", "ERROR-PORT-ALLOC", "IDLE-TIMEOUT",
                     "DROPPED", "BYTES-OUT"], [
            [r["name"], r["subnet"], r["elasticIp"], *(r["metrics"][k] for k in (
                "ActiveConnectionCount", "ConnectionEstablishedCount", "ErrorPortAllocation", "IdleTimeoutCount",
                "PacketsDropCount", "BytesOutToDestination"))]
            for r in records
        ])
        return
    records = route_tables(plan)
    if output == "json":
        print_json(records)
        return
    print_table(["VPC", "NAME", "TYPE", "SUBNETS", "ROUTES"], [
        [r["vpc"], r["name"], "public" if r["public"] else "private", ",".join(r["subnets"]) or "-",
         "; ".join(r["routes"])]
        for r in records
    ])
