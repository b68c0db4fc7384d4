"""Names and addresses for the VPCs around the cluster's and their links (``vpc.network``), chosen once per plan.

Each other VPC gets a router namespace ``dp-T.vpc_NAME`` with a bridge per
subnet (the subnet's first host is the router's, as in the cluster's VPC);
each instance a namespace ``dp-T.ec2_NAME`` and, unless the file names one,
the highest free address of its subnet (below the cluster VPC's NAT
gateways there).  Every router-to-router link (a peering, a transit gateway
attachment, the VPN gateway's) is the next /30 of ``LINK_RANGE``: the
underscore in these namespace names cannot occur in a node's, a pod's or a
Kubernetes namespace's, so none of them can collide.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ..vpc.egress import main_table
from ..vpc.network import LINK_RANGE, VXLAN_VNI_BASE
from . import naming
from .albs import downwards
from .ipam import Addresses
from .model import Layout, TopologySpec
from .plan import LoadBalancer


def plan_network(topology: TopologySpec, layout: Layout, addresses: Addresses, egress: dict[str, Any],
                 load_balancers: Sequence[LoadBalancer]) -> dict[str, Any]:
    """``topology.vpc_network`` with every namespace, interface and address filled in ({} when there is none)."""
    raw = topology.vpc_network
    if not raw:
        return {}
    assert topology.name is not None
    name = topology.name
    links = _links()
    cluster_index = raw.get("clusterVpc", 0)
    cluster_taken = {*addresses.nodes.values(), *addresses.pods.values(),
                     *(IPv4Address(n.ip) for lb in load_balancers for n in lb.nodes),
                     *(IPv4Address(n["private_ip"]) for n in egress.get("natGateways", []) if n.get("private_ip"))}
    given = {IPv4Address(i["ip"]) for v in raw["vpcs"] for i in v.get("instances", []) if i.get("ip")}
    taken = cluster_taken | given
    vpcs = []
    routers: dict[str, str] = {}
    free_in_cluster: dict[str, Iterator[IPv4Address]] = {}
    for index, vpc in enumerate(raw["vpcs"]):
        cluster = index == cluster_index
        vpc_name = vpc.get("name") or naming.ROUTER
        router = naming.infra_netns(name, naming.ROUTER if cluster else f"vpc_{vpc_name}")
        routers[vpc_name] = router
        subnets = layout.subnets if cluster else []
        subnet_rows = ([{"name": s.name, "cidr": str(s.network), "zone": s.zone, "bridge": naming.subnet_bridge(s.name),
                         "gateway": str(s.network.network_address + 1)} for s in subnets] if cluster else
                       [{"name": s["name"], "cidr": str(IPv4Network(s["cidr"], strict=False)), "zone": s["zone"],
                         "bridge": naming.subnet_bridge(s["name"]),
                         "gateway": str(IPv4Network(s["cidr"], strict=False).network_address + 1)}
                        for s in vpc.get("subnets", [])])
        free = {s["name"]: downwards(IPv4Network(s["cidr"]), taken) for s in subnet_rows}
        if cluster:
            free_in_cluster = free  # the resolver's endpoints come after the instances
        instances = []
        holders: dict[IPv4Address, str] = {}  # an address the file gives -> the instance holding it
        for k, inst in enumerate(vpc.get("instances", [])):
            address = inst.get("ip") or next(free[inst["subnet"]], None)
            if inst.get("ip"):
                wanted = IPv4Address(inst["ip"])
                holder = holders.setdefault(wanted, inst["name"])
                if holder != inst["name"]:
                    topology.origin.report(f"{vpc['at']}.instances[{k}].ip", f"{wanted} is instance {holder}'s already")
                elif cluster and wanted in cluster_taken:
                    topology.origin.report(f"{vpc['at']}.instances[{k}].ip",
                                           f"{wanted} is already a node's, a pod's or a gateway's address")
            if address is None:
                topology.origin.report(f"{vpc['at']}.instances[{k}].subnet",
                                       f"subnet {inst['subnet']} has no free address left")
            instances.append({"name": inst["name"], "vpc": vpc_name, "subnet": inst["subnet"], "ip": str(address or ""),
                              "netns": naming.infra_netns(name, f"ec2_{inst['name']}"),
                              "router_iface": naming.ifname("i-", inst["name"])})
        main = main_table(vpc.get("routeTables", []))
        row: dict[str, Any] = {"name": vpc_name, "cidr": str(IPv4Network(vpc["cidr"], strict=False)),
                               "router_netns": router, "cluster": cluster, "subnets": subnet_rows,
                               "instances": instances}
        if not cluster:
            row["routeTables"] = vpc.get("routeTables", [])
            row["subnetTables"] = {s["name"]: s.get("routeTable") or main for s in vpc.get("subnets", [])
                                   if s.get("routeTable") or main}
        vpcs.append(row)
    cidrs = {v["name"]: v["cidr"] for v in vpcs}
    peerings = []
    for p in raw.get("peeringConnections", []):
        first, second = next(links)
        iface = naming.ifname("p-", p["name"])
        peerings.append({**p, "ends": {p["requester"]: _end(routers[p["requester"]], iface, first),
                                       p["accepter"]: _end(routers[p["accepter"]], iface, second)}})
    tgws = []
    for t in raw.get("transitGateways", []):
        netns = naming.infra_netns(name, f"tgw_{t['name']}")
        attachments = []
        for vpc_name in t["attachments"]:
            first, second = next(links)
            attachments.append({"vpc": vpc_name, "gateway": _end(netns, naming.ifname("a-", vpc_name), first),
                                "router": _end(routers[vpc_name], naming.ifname("t-", t["name"]), second)})
        tgws.append({"name": t["name"], "netns": netns, "attachments": attachments,
                     "routeTables": _tgw_tables(t, cidrs)})
    found: dict[str, Any] = {"vpcs": vpcs, "peeringConnections": peerings, "transitGateways": tgws}
    site = raw.get("onPremises")
    if site:
        vpc_name = site["connection"]["vpn"]["vpc"]
        vgw = naming.infra_netns(name, f"vgw_{vpc_name}")
        netns = naming.infra_netns(name, f"onprem_{site['name']}")
        attachment, underlay, tunnel = next(links), next(links), next(links)
        found["onPremises"] = {
            "name": site["name"], "cidr": str(IPv4Network(site["cidr"], strict=False)), "vpc": vpc_name,
            "netns": netns, "vgw_netns": vgw,
            "attachment": [_end(vgw, "vpc0", attachment[0]), _end(routers[vpc_name], "vgw0", attachment[1])],
            "underlay": [_end(vgw, "wan0", underlay[0]), _end(netns, "wan0", underlay[1])],
            "tunnel": [_end(vgw, "tun0", tunnel[0]), _end(netns, "tun0", tunnel[1])],
            "vni": VXLAN_VNI_BASE, "hosts": site.get("hosts", []),
        }
        if site.get("dns"):
            found["onPremises"]["dns"] = {
                "domain": site["dns"]["domain"].rstrip(".").lower(),
                "server": site["dns"].get("server") or str(IPv4Network(site["cidr"], strict=False).network_address + 2),
            }
            found["resolver"] = _resolver(topology, layout, free_in_cluster)
    return found


def _resolver(topology: TopologySpec, layout: Layout, free: dict[str, Iterator[IPv4Address]]) -> dict[str, Any]:
    """Route 53 Resolver's inbound and outbound endpoints: two addresses in the first node's subnet."""
    assert topology.name is not None
    subnet = layout.nodes[0].subnet.name if layout.nodes else layout.subnets[0].name
    inbound, outbound = next(free[subnet], None), next(free[subnet], None)
    if inbound is None or outbound is None:
        topology.origin.report("spec.onPremises.dns", f"subnet {subnet} has no two free addresses left for the "
                               "Route 53 Resolver endpoints")
    return {"netns": naming.infra_netns(topology.name, "r53_resolver"), "subnet": subnet,
            "router_iface": "r53resolver", "inbound_ip": str(inbound or ""), "outbound_ip": str(outbound or "")}


def _tgw_tables(tgw: dict[str, Any], cidrs: dict[str, str]) -> list[dict[str, Any]]:
    """The gateway's route tables with their propagated routes; without any, the default table."""
    declared = tgw.get("routeTables") or [{"name": "default", "associations": tgw["attachments"],
                                           "propagations": tgw["attachments"]}]
    tables = []
    for table in declared:
        routes = [{"destination": cidrs[v], "target": v, "propagated": True} for v in table.get("propagations", [])]
        routes += [{"destination": str(IPv4Network(r["destination"], strict=False)),
                    "target": "blackhole" if r.get("blackhole") else r["attachment"], "propagated": False}
                   for r in table.get("routes", [])]
        tables.append({"name": table["name"], "associations": list(table.get("associations", [])), "routes": routes})
    return tables


def _end(netns: str, iface: str, ip: IPv4Address) -> dict[str, str]:
    return {"netns": netns, "iface": iface, "ip": str(ip)}


def _links() -> Iterator[tuple[IPv4Address, IPv4Address]]:
    """The two hosts of each successive /30 of ``LINK_RANGE``."""
    for link in LINK_RANGE.subnets(new_prefix=30):
        yield link.network_address + 1, link.network_address + 2
