"""The VPCs around the cluster's and how they connect: peering, transit gateways, an on-premises site.

The Topology names them as the EC2 API does:

* ``spec.vpcs[]``: several VPCs (``spec.vpc`` stays the one-VPC shorthand).
  The cluster's VPC is the one whose subnets hold the nodes (an EKS cluster
  lives in one VPC); every other VPC has ``name``, ``cidr``, ``subnets``,
  ``routeTables`` and ``instances`` (EC2 instances: a namespace each on their
  subnet, which ``dpctl exec ec2/NAME`` enters).  Security groups, ACLs and
  gateways are emulated in the cluster's VPC only so far, and refused in the
  others.
* ``spec.peeringConnections[]``: ``name``, ``requester``, ``accepter``.  A
  peering joins two VPCs whose CIDRs do not overlap; it is not transitive:
  a packet that came in over it must be for the VPC itself, and one leaving
  over it must come from the VPC (no edge-to-edge routing).  Each side needs
  a ``pcx/NAME`` route, or the replies have no way back.
* ``spec.transitGateways[]``: ``name``, ``attachments`` (VPC names) and
  ``routeTables`` (``associations``, ``propagations``, static ``routes`` of
  ``destination`` and ``attachment`` or ``blackhole``); without route tables
  the gateway has its default one, every attachment associated and
  propagated, as ``DefaultRouteTableAssociation/Propagation: enable`` makes
  it.  Transitive by design: any attachment reaches any other its table
  routes to.
* ``spec.onPremises``: ``name``, ``cidr``, ``connection.vpn.vpc`` and
  ``hosts``; a Site-to-Site VPN between the VPC's virtual private gateway
  and the site's customer gateway, which the VPC's route tables reach with
  the ``vgw`` target.

``check`` reports what EC2 would refuse (path, message); ``read`` turns the
plan's allocated form (``topology/network_plan.py``) into the model the
wiring, ``dpctl get``, ``trace`` and ``verify`` share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from .egress import (
    Egress,
    RouteEntry,
    RouteTable,
    Targets,
    address_or_none,
    check_route,
    lookup,
    network_or_none,
    read_tables,
)

# Every link between two routers (peering, transit gateway attachment, the VPN) is a /30 from here,
# as AWS's own VPN tunnels take their inside addresses from 169.254.0.0/16.
LINK_RANGE = IPv4Network("169.254.192.0/18")
VXLAN_VNI_BASE = 100  # the VPN tunnel's VNI (the overlay's is 1)
NETWORK_TABLE = "dpctl-vpcnet"  # each router's nftables table of peering drops (trace reads its comments)
MAX_NAME = 40
_DNS_LABEL = re.compile(rf"[a-z0-9]([a-z0-9-]{{0,{MAX_NAME - 2}}}[a-z0-9])?")
_DNS_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
ONLY_IN_CLUSTER_VPC = ("securityGroups", "networkAcls", "internetGateway", "natGateways")


@dataclass(frozen=True)
class End:
    """One router's side of a point-to-point link."""

    netns: str
    iface: str
    ip: str  # within the link's /30


@dataclass(frozen=True)
class Instance:
    name: str
    vpc: str
    subnet: str
    ip: str
    netns: str
    router_iface: str  # its veth's end on the subnet's bridge


@dataclass(frozen=True)
class VpcSubnet:
    name: str
    cidr: str
    zone: str
    bridge: str
    gateway: str  # the router's address on it (the VPC+1 of the subnet)


@dataclass(frozen=True)
class Vpc:
    name: str
    cidr: str
    router_netns: str
    cluster: bool  # the cluster's VPC (its subnets, tables and gateways are the plan's and vpc.egress's)
    subnets: tuple[VpcSubnet, ...]
    tables: Mapping[str, RouteTable]
    subnet_tables: Mapping[str, str]
    instances: tuple[Instance, ...]

    @property
    def network(self) -> IPv4Network:
        return IPv4Network(self.cidr)

    def subnet_of(self, address: str) -> VpcSubnet | None:
        return next((s for s in self.subnets if IPv4Address(address) in IPv4Network(s.cidr)), None)

    def unroutable(self, subnet: str, destination: str) -> str | None:
        """Why ``subnet``'s table drops a packet to ``destination`` (no route, a blackhole); None when it routes it."""
        table = self.subnet_tables.get(subnet)
        where = f"VPC {self.name}, subnet {subnet}, " + (f"route table {table}" if table else
                                                         "no route table (the local route only)")
        route = self.route(subnet, destination)
        if route is None:
            return f"{where}: no route to {destination}"
        if route.target == "blackhole":
            return f"{where}: {route.destination} is a blackhole route"
        return None

    def route(self, subnet: str, destination: str) -> RouteEntry | None:
        """Longest prefix in ``subnet``'s table, the ``local`` route first; None: no route."""
        return lookup(self.tables, self.subnet_tables, subnet, destination, self.cidr)


@dataclass(frozen=True)
class Peering:
    name: str
    requester: str
    accepter: str
    ends: Mapping[str, End]  # VPC name -> its router's end of the link

    def other(self, vpc: str) -> str:
        return self.accepter if vpc == self.requester else self.requester


@dataclass(frozen=True)
class TgwRoute:
    destination: str
    target: str  # an attachment (a VPC name) or "blackhole"
    propagated: bool = False

    @property
    def network(self) -> IPv4Network:
        return IPv4Network(self.destination)


@dataclass(frozen=True)
class TgwTable:
    name: str
    associations: tuple[str, ...]
    routes: tuple[TgwRoute, ...]  # propagated and static

    def route(self, destination: str) -> TgwRoute | None:
        address = IPv4Address(destination)
        matching = [r for r in self.routes if address in r.network]
        # the longest prefix; at equal length a static route wins over a propagated one (as on AWS)
        return max(matching, key=lambda r: (r.network.prefixlen, not r.propagated), default=None)


@dataclass(frozen=True)
class TransitGateway:
    name: str
    netns: str
    attachments: Mapping[str, tuple[End, End]]  # VPC name -> (the gateway's end, the VPC router's end)
    tables: tuple[TgwTable, ...]

    def table_of(self, vpc: str) -> TgwTable | None:
        return next((t for t in self.tables if vpc in t.associations), None)


@dataclass(frozen=True)
class OnPremises:
    name: str
    cidr: str
    vpc: str
    netns: str  # the site: its customer gateway, with its hosts' addresses on lo
    vgw_netns: str  # the VPC's virtual private gateway
    attachment: tuple[End, End]  # (the VPN gateway's end, the VPC router's end)
    underlay: tuple[End, End]  # (VPN gateway, customer gateway): the internet path the tunnel rides on
    tunnel: tuple[End, End]  # the tunnel's inside addresses (VXLAN), as AWS's 169.254.x.x/30
    vni: int
    hosts: tuple[tuple[str, str], ...]  # (name, ip)
    domain: str | None = None  # the site's DNS domain, answered by its server and forwarded to by the VPC
    dns_server: str | None = None

    @property
    def network(self) -> IPv4Network:
        return IPv4Network(self.cidr)


@dataclass(frozen=True)
class ResolverEndpoints:
    """Route 53 Resolver's endpoints in the cluster's VPC: the site's server forwards the VPC's private
    zones to ``inbound_ip``; the VPC's resolver forwards the site's domain from ``outbound_ip``."""

    netns: str
    subnet: str
    router_iface: str
    inbound_ip: str
    outbound_ip: str


@dataclass(frozen=True)
class Network:
    vpcs: Mapping[str, Vpc]
    peerings: tuple[Peering, ...]
    transit_gateways: tuple[TransitGateway, ...]
    on_premises: OnPremises | None
    resolver: ResolverEndpoints | None = None

    @property
    def cluster(self) -> Vpc:
        return next(v for v in self.vpcs.values() if v.cluster)

    @property
    def instances(self) -> tuple[Instance, ...]:
        return tuple(i for v in self.vpcs.values() for i in v.instances)

    def instance(self, name: str) -> Instance:
        return next(i for i in self.instances if i.name == name)

    def peering(self, name: str) -> Peering:
        return next(p for p in self.peerings if p.name == name)

    def transit_gateway(self, name: str) -> TransitGateway:
        return next(t for t in self.transit_gateways if t.name == name)

    def next_hop(self, vpc: str, target: str) -> End | None:
        """The far end a ``pcx/NAME``, ``tgw/NAME`` or ``vgw`` route of ``vpc`` sends to (its router's own end
        is ``local_end``); None for the other targets."""
        kind, _, name = target.partition("/")
        if kind == "pcx":
            peering = self.peering(name)
            return peering.ends[peering.other(vpc)]
        if kind == "tgw":
            return self.transit_gateway(name).attachments[vpc][0]
        if kind == "vgw" and self.on_premises is not None:
            return self.on_premises.attachment[0]
        return None

    def local_end(self, vpc: str, target: str) -> End | None:
        """``vpc``'s router's own end of the link a ``pcx``/``tgw``/``vgw`` target names."""
        kind, _, name = target.partition("/")
        if kind == "pcx":
            return self.peering(name).ends[vpc]
        if kind == "tgw":
            return self.transit_gateway(name).attachments[vpc][1]
        if kind == "vgw" and self.on_premises is not None:
            return self.on_premises.attachment[1]
        return None

    def router_links(self, vpc: str) -> tuple[tuple[str, End], ...]:
        """(what the link is, ``vpc``'s router's end) of every link into ``vpc`` from another network."""
        found = [(f"peering connection {p.name}", p.ends[vpc]) for p in self.peerings if vpc in p.ends]
        found += [(f"transit gateway {t.name}", t.attachments[vpc][1]) for t in self.transit_gateways
                  if vpc in t.attachments]
        if self.on_premises is not None and self.on_premises.vpc == vpc:
            found.append((f"the VPN to {self.on_premises.name}", self.on_premises.attachment[1]))
        return tuple(found)

    def edge_drop(self, what: str, vpc: Vpc) -> str:
        """Why ``vpc``'s router drops what came in over ``what`` for an address not its own (the wiring's
        rule comment, which trace prints, and verify's reason)."""
        if what.startswith("peering"):
            return f"{what} is not transitive: it carries traffic for VPC {vpc.name} ({vpc.cidr}) only"
        return f"came in over {what}: VPC {vpc.name} routes it to its own addresses only (no edge-to-edge routing)"

    def path(self, vpc: str | None, subnet: str | None, destination: str) -> tuple[bool, str]:
        """Whether a packet from ``subnet`` of ``vpc`` (None: from the on-premises site) reaches
        ``destination`` through the route tables, peerings, transit gateways and the VPN; and how, or
        what drops it."""
        if vpc is None:
            site = self.on_premises
            assert site is not None
            if IPv4Address(destination) not in self.vpcs[site.vpc].network:
                return False, f"on-premises {site.name} routes only {self.vpcs[site.vpc].cidr} into its VPN"
            return self._enter(site.vpc, destination, f"the VPN to {site.name}",
                               f"on-premises {site.name}: {self.vpcs[site.vpc].cidr} through the VPN")
        here = self.vpcs[vpc]
        if IPv4Address(destination) in here.network:
            return True, f"VPC {vpc}: local route"
        assert subnet is not None
        dropped = here.unroutable(subnet, destination)
        route = here.route(subnet, destination)
        if dropped is not None or route is None:
            return False, dropped or ""
        table = here.subnet_tables.get(subnet)
        step = f"VPC {vpc}, subnet {subnet}, route table {table}: {route.destination} via {route.target}"
        kind, _, name = route.target.partition("/")
        if kind == "pcx":
            return self._enter(self.peering(name).other(vpc), destination, f"peering connection {name}", step)
        if kind == "tgw":
            tgw = self.transit_gateway(name)
            tgw_table = tgw.table_of(vpc)
            hop = tgw_table.route(destination) if tgw_table else None
            if tgw_table is None:
                return False, f"{step}; transit gateway {name}: attachment {vpc} is associated with no route table"
            if hop is None or hop.target == "blackhole":
                what = "no route to" if hop is None else f"{hop.destination} is a blackhole route for"
                return False, f"{step}; transit gateway {name}, route table {tgw_table.name}: {what} {destination}"
            return self._enter(hop.target, destination, f"transit gateway {name}",
                               f"{step}; transit gateway {name}, route table {tgw_table.name}: {hop.destination} "
                               f"to {hop.target}")
        if kind == "vgw" and self.on_premises is not None:
            site = self.on_premises
            if IPv4Address(destination) in site.network:
                return True, f"{step}; through the VPN to on-premises {site.name}"
            return False, f"{step}; the VPN gateway routes only {site.cidr} to on-premises {site.name}"
        return False, f"{step}: {route.target} does not lead to {destination}"

    def _enter(self, vpc: str, destination: str, what: str, step: str) -> tuple[bool, str]:
        """A packet arriving in ``vpc`` over ``what``: only ``vpc``'s own addresses are delivered."""
        there = self.vpcs[vpc]
        if IPv4Address(destination) not in there.network:
            return False, f"{step}; {self.edge_drop(what, there)}"
        return True, f"{step}; local in VPC {vpc}"

    def vpc_of(self, address: str) -> Vpc | None:
        """The VPC holding ``address`` in one of its subnets."""
        return next((v for v in self.vpcs.values() if v.subnet_of(address) is not None), None)


def read(raw: Mapping[str, Any], egress: Egress | None = None) -> Network:
    """The model of a plan's ``vpc_network``; the cluster VPC's route tables are ``egress``'s."""
    vpcs = {}
    for v in raw.get("vpcs", []):
        cluster = bool(v.get("cluster"))
        tables = read_tables(v.get("routeTables", []))
        vpcs[v["name"]] = Vpc(
            name=v["name"], cidr=v["cidr"], router_netns=v["router_netns"], cluster=cluster,
            subnets=tuple(VpcSubnet(**s) for s in v.get("subnets", [])),
            tables=dict(egress.tables if egress else {}) if cluster else tables,
            subnet_tables=dict(egress.subnet_tables if egress else {}) if cluster else dict(v.get("subnetTables", {})),
            instances=tuple(Instance(**i) for i in v.get("instances", [])),
        )
    tgws = []
    for t in raw.get("transitGateways", []):
        tgws.append(TransitGateway(
            name=t["name"], netns=t["netns"],
            attachments={a["vpc"]: (End(**a["gateway"]), End(**a["router"])) for a in t["attachments"]},
            tables=tuple(TgwTable(r["name"], tuple(r["associations"]), tuple(TgwRoute(**x) for x in r["routes"]))
                         for r in t["routeTables"]),
        ))
    site = raw.get("onPremises")
    on_premises = None if not site else OnPremises(
        name=site["name"], cidr=site["cidr"], vpc=site["vpc"], netns=site["netns"], vgw_netns=site["vgw_netns"],
        attachment=_pair(site["attachment"]), underlay=_pair(site["underlay"]), tunnel=_pair(site["tunnel"]),
        vni=site["vni"], hosts=tuple((h["name"], h["ip"]) for h in site.get("hosts", [])),
        domain=(site.get("dns") or {}).get("domain"), dns_server=(site.get("dns") or {}).get("server"),
    )
    resolver = raw.get("resolver")
    return Network(
        vpcs=vpcs,
        peerings=tuple(Peering(p["name"], p["requester"], p["accepter"], {k: End(**e) for k, e in p["ends"].items()})
                       for p in raw.get("peeringConnections", [])),
        transit_gateways=tuple(tgws),
        on_premises=on_premises,
        resolver=ResolverEndpoints(**resolver) if resolver else None,
    )


def _pair(raw: Sequence[Mapping[str, str]]) -> tuple[End, End]:
    return End(**raw[0]), End(**raw[1])


# -- checks: what EC2 would refuse ---------------------------------------------------------------
def targets_of(spec: Mapping[str, Any], vpc: str | None) -> Targets:
    peerings = {p.get("name"): (p.get("accepter") if p.get("requester") == vpc else p.get("requester"))
                for p in spec.get("peeringConnections", []) if vpc in (p.get("requester"), p.get("accepter"))}
    tgws = frozenset(t.get("name") for t in spec.get("transitGateways", []) if vpc in t.get("attachments", []))
    site = spec.get("onPremises") or {}
    vpn = bool(vpc) and (site.get("connection") or {}).get("vpn", {}).get("vpc") == vpc
    return Targets(peerings, tgws, vpn)


def cluster_vpc_index(spec: Mapping[str, Any]) -> tuple[int | None, list[tuple[str, str]]]:
    """Which of ``spec.vpcs`` holds the nodes (None without ``spec.vpcs``), and what is wrong with that."""
    vpcs = spec.get("vpcs")
    found: list[tuple[str, str]] = []
    if vpcs is None:
        if spec.get("vpc") is None:
            found.append(("spec", "the cluster needs a VPC: spec.vpc, or spec.vpcs for several"))
        return None, found
    if spec.get("vpc") is not None:
        found.append(("spec.vpcs", "spec.vpc is the one-VPC shorthand of spec.vpcs: give one of them"))
    owner = {s.get("name"): i for i, v in enumerate(vpcs) if v for s in v.get("subnets", []) if s}
    holding: dict[int, int] = {}
    for n, node in enumerate(spec.get("nodes", [])):
        if node and node.get("subnet") in owner:
            holding.setdefault(owner[node["subnet"]], n)
    if len(holding) > 1:
        names = ", ".join(f"{vpcs[i].get('name')} (spec.nodes[{n}])" for i, n in sorted(holding.items()))
        found.append(("spec.nodes", f"an EKS cluster's nodes live in one VPC; these are in {names}"))
    return min(holding, default=0), found


def check(spec: Mapping[str, Any], cluster: int | None) -> list[tuple[str, str]]:
    """(field path, message) of what EC2 would refuse in the other VPCs and their connections.

    ``cluster`` is the index of the cluster's VPC in ``spec.vpcs`` (None: ``spec.vpc``, alone);
    its own fields are ``vpc.security``'s and ``vpc.egress``'s to check.
    """
    found: list[tuple[str, str]] = []
    vpcs = [v for v in spec.get("vpcs", []) if v] if cluster is not None else [spec.get("vpc") or {}]
    listed = list(spec.get("vpcs", [])) if cluster is not None else [spec.get("vpc") or {}]
    names = [v.get("name") for v in listed if v]
    cidrs = {v.get("name"): network_or_none(v.get("cidr")) for v in vpcs}
    if cluster is not None:
        found += _twice("spec.vpcs", [v.get("name") if v else None for v in listed])
        all_subnets = [(i, j, s.get("name")) for i, v in enumerate(listed) if v
                       for j, s in enumerate(v.get("subnets", [])) if s]
        seen: dict[Any, int] = {}
        for i, j, name in all_subnets:
            if name in seen and seen[name] != i:
                found.append((f"spec.vpcs[{i}].subnets[{j}].name",
                              f"subnet {name!r} is also in VPC {listed[seen[name]].get('name')}: subnet names are "
                              "unique across VPCs here, since nodes and gateways name them alone"))
            seen.setdefault(name, i)
        for i, vpc in enumerate(listed):
            if vpc and i != cluster:
                found += _check_other_vpc(f"spec.vpcs[{i}]", vpc, targets_of(spec, vpc.get("name")))
    instance_names = [(f"{_vpc_at(cluster, i)}.instances[{k}]", inst.get("name"))
                      for i, v in enumerate(listed) if v for k, inst in enumerate(v.get("instances", [])) if inst]
    for k, (at, name) in enumerate(instance_names):
        if name in [n for _, n in instance_names[:k]]:
            found.append((f"{at}.name", f"instance {name!r} is declared twice"))
    if cluster is not None or spec.get("vpc"):
        vpc = listed[cluster or 0] if listed else {}
        if vpc:
            found += _check_instances(_vpc_at(cluster, cluster or 0), vpc)
    found += _check_peerings(spec, names, cidrs)
    found += _check_transit_gateways(spec, names)
    cluster_name = listed[cluster or 0].get("name") if listed and listed[cluster or 0] else None
    found += _check_on_premises(spec, names, cidrs, cluster_name)
    return found


def _vpc_at(cluster: int | None, i: int) -> str:
    return "spec.vpc" if cluster is None else f"spec.vpcs[{i}]"


def _check_other_vpc(at: str, vpc: Mapping[str, Any], targets: Targets) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not _DNS_LABEL.fullmatch(str(vpc.get("name", ""))):
        found.append((f"{at}.name", f"expected a DNS label (a-z, 0-9, -; at most {MAX_NAME} characters), "
                      f"got {vpc.get('name')!r}"))
    for key in ONLY_IN_CLUSTER_VPC:
        if vpc.get(key):
            found.append((f"{at}.{key}", "emulated in the cluster's VPC only so far (the VPC holding the nodes)"))
    cidr = network_or_none(vpc.get("cidr"))
    if cidr is None:
        found.append((f"{at}.cidr", f"expected an IPv4 CIDR, got {vpc.get('cidr')!r}"))
    elif not 16 <= cidr.prefixlen <= 28:
        found.append((f"{at}.cidr", f"a VPC's CIDR is /16 to /28 (EC2); got {cidr}"))
    subnets = [(j, s) for j, s in enumerate(vpc.get("subnets", [])) if s]
    found += _twice(f"{at}.subnets", [s.get("name") if s else None for s in vpc.get("subnets", [])])
    tables = [t for t in vpc.get("routeTables", []) if t]
    table_names = [t.get("name") for t in tables]
    found += _twice(f"{at}.routeTables", table_names)
    if sum(1 for t in tables if t.get("main")) > 1:
        found.append((f"{at}.routeTables", "only one route table can be the main one"))
    networks: list[tuple[int, IPv4Network]] = []
    for j, subnet in subnets:
        sat = f"{at}.subnets[{j}]"
        net = network_or_none(subnet.get("cidr"))
        if net is None:
            found.append((f"{sat}.cidr", f"expected an IPv4 CIDR, got {subnet.get('cidr')!r}"))
        elif cidr is not None and not net.subnet_of(cidr):
            found.append((f"{sat}.cidr", f"{net} is outside the VPC CIDR {cidr}"))
        elif net.prefixlen > 28:
            found.append((f"{sat}.cidr", f"a subnet is /16 to /28 (EC2); got {net}"))
        else:
            for k, other in networks:
                if net.overlaps(other):
                    found.append((f"{sat}.cidr", f"{net} overlaps subnet {vpc['subnets'][k].get('name')} ({other})"))
            networks.append((j, net))
        if subnet.get("networkAcl"):
            found.append((f"{sat}.networkAcl", "network ACLs are emulated in the cluster's VPC only so far"))
        if subnet.get("routeTable") is not None and subnet["routeTable"] not in table_names:
            found.append((f"{sat}.routeTable", f"no route table {subnet['routeTable']!r} "
                          f"(declared: {', '.join(map(str, table_names)) or 'none'})"))
    for t, table in enumerate(vpc.get("routeTables", [])):
        for r, route in enumerate((table or {}).get("routes", [])):
            found += check_route(f"{at}.routeTables[{t}].routes[{r}]", route, cidr, targets)
    found += _check_instances(at, vpc)
    return found


def _check_instances(at: str, vpc: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    subnets = {s.get("name"): network_or_none(s.get("cidr")) for s in vpc.get("subnets", []) if s}
    for k, inst in enumerate(vpc.get("instances", [])):
        if not inst:
            continue
        iat = f"{at}.instances[{k}]"
        if not _DNS_LABEL.fullmatch(str(inst.get("name", ""))):
            found.append((f"{iat}.name", f"expected a DNS label (a-z, 0-9, -; at most {MAX_NAME} characters), "
                          f"got {inst.get('name')!r}"))
        subnet = inst.get("subnet")
        if subnet not in subnets:
            found.append((f"{iat}.subnet", f"no subnet {subnet!r} in this VPC "
                          f"(subnets: {', '.join(map(str, subnets)) or 'none'})"))
            continue
        if inst.get("ip") is None or subnets[subnet] is None:
            continue
        address = address_or_none(inst["ip"])
        net = subnets[subnet]
        assert net is not None
        if address is None:
            found.append((f"{iat}.ip", f"expected an IPv4 address, got {inst['ip']!r}"))
        elif address not in net:
            found.append((f"{iat}.ip", f"{address} is outside subnet {subnet} ({net})"))
        elif int(address) - int(net.network_address) < 4 or address == net.broadcast_address:
            found.append((f"{iat}.ip", f"{address} is one of the five addresses AWS reserves in {net}"))
    return found


def _check_peerings(spec: Mapping[str, Any], names: Sequence[Any],
                    cidrs: Mapping[Any, IPv4Network | None]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    peerings = list(spec.get("peeringConnections", []))
    found += _twice("spec.peeringConnections", [p.get("name") if p else None for p in peerings])
    pairs: dict[frozenset[Any], str] = {}
    for i, p in enumerate(peerings):
        if not p:
            continue
        at = f"spec.peeringConnections[{i}]"
        if not _DNS_LABEL.fullmatch(str(p.get("name", ""))):
            found.append((f"{at}.name", f"expected a DNS label, got {p.get('name')!r}"))
        ends = [p.get("requester"), p.get("accepter")]
        missing = [(role, v) for role, v in zip(("requester", "accepter"), ends) if v not in names]
        for role, v in missing:
            found.append((f"{at}.{role}", f"no VPC {v!r} (VPCs: {', '.join(map(str, names))})"))
        if missing:
            continue
        if ends[0] == ends[1]:
            found.append((f"{at}.accepter", "a VPC cannot peer with itself"))
            continue
        a, b = cidrs.get(ends[0]), cidrs.get(ends[1])
        if a is not None and b is not None and a.overlaps(b):
            found.append((at, f"{ends[0]} ({a}) and {ends[1]} ({b}) have overlapping CIDR blocks: EC2 refuses "
                          "to peer them"))
        pair = frozenset(ends)
        if pair in pairs:
            found.append((at, f"{ends[0]} and {ends[1]} are already peered by {pairs[pair]}"))
        pairs.setdefault(pair, str(p.get("name")))
    return found


def _check_transit_gateways(spec: Mapping[str, Any], names: Sequence[Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    tgws = list(spec.get("transitGateways", []))
    found += _twice("spec.transitGateways", [t.get("name") if t else None for t in tgws])
    for i, tgw in enumerate(tgws):
        if not tgw:
            continue
        at = f"spec.transitGateways[{i}]"
        if not _DNS_LABEL.fullmatch(str(tgw.get("name", ""))):
            found.append((f"{at}.name", f"expected a DNS label, got {tgw.get('name')!r}"))
        attachments = list(tgw.get("attachments", []))
        for k, vpc in enumerate(attachments):
            if vpc not in names:
                found.append((f"{at}.attachments[{k}]", f"no VPC {vpc!r} (VPCs: {', '.join(map(str, names))})"))
            elif vpc in attachments[:k]:
                found.append((f"{at}.attachments[{k}]", f"{vpc} is attached twice"))
        tables = [t for t in tgw.get("routeTables", []) if t]
        found += _twice(f"{at}.routeTables", [t.get("name") for t in tables])
        associated: dict[Any, Any] = {}
        for t, table in enumerate(tgw.get("routeTables", [])):
            if not table:
                continue
            tat = f"{at}.routeTables[{t}]"
            for field in ("associations", "propagations"):
                for k, vpc in enumerate(table.get(field, [])):
                    if vpc not in attachments:
                        found.append((f"{tat}.{field}[{k}]", f"{vpc!r} is not an attachment of {tgw.get('name')}"))
            for k, vpc in enumerate(table.get("associations", [])):
                if vpc in associated:
                    found.append((f"{tat}.associations[{k}]", f"{vpc} is already associated with route table "
                                  f"{associated[vpc]}: an attachment has one"))
                associated.setdefault(vpc, table.get("name"))
            for r, route in enumerate(table.get("routes", [])):
                rat = f"{tat}.routes[{r}]"
                if network_or_none(route.get("destination")) is None:
                    found.append((f"{rat}.destination", f"expected an IPv4 CIDR, got {route.get('destination')!r}"))
                if bool(route.get("blackhole")) == (route.get("attachment") is not None):
                    found.append((rat, "a route has either an attachment or blackhole: true"))
                elif route.get("attachment") is not None and route["attachment"] not in attachments:
                    found.append((f"{rat}.attachment", f"{route['attachment']!r} is not an attachment of "
                                  f"{tgw.get('name')}"))
    return found


def _check_site_dns(at: str, dns: Mapping[str, Any], cidr: IPv4Network | None, vpn: Mapping[str, Any] | None,
                    cluster_vpc: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    domain = str(dns.get("domain", "")).rstrip(".").lower()
    if not _DNS_NAME.fullmatch(domain) or "." not in domain:
        found.append((f"{at}.dns.domain", f"expected a DNS domain such as corp.example, got {dns.get('domain')!r}"))
    server = address_or_none(dns.get("server")) if dns.get("server") is not None else None
    if dns.get("server") is not None and (server is None or (cidr is not None and server not in cidr)):
        found.append((f"{at}.dns.server", f"expected an address in the site's {cidr}, got {dns.get('server')!r}"))
    if vpn and vpn.get("vpc") != cluster_vpc:
        found.append((f"{at}.dns", "Route 53 Resolver endpoints are emulated in the cluster's VPC: connect the "
                      "VPN to it"))
    return found


def _check_on_premises(spec: Mapping[str, Any], names: Sequence[Any],
                       cidrs: Mapping[Any, IPv4Network | None], cluster_vpc: Any = None) -> list[tuple[str, str]]:
    site = spec.get("onPremises")
    if not site:
        return []
    found: list[tuple[str, str]] = []
    at = "spec.onPremises"
    if not _DNS_LABEL.fullmatch(str(site.get("name", ""))):
        found.append((f"{at}.name", f"expected a DNS label, got {site.get('name')!r}"))
    cidr = network_or_none(site.get("cidr"))
    if cidr is None:
        found.append((f"{at}.cidr", f"expected an IPv4 CIDR, got {site.get('cidr')!r}"))
    vpn = (site.get("connection") or {}).get("vpn")
    if not vpn:
        found.append((f"{at}.connection", "expected vpn: {vpc: NAME} (a Site-to-Site VPN to a VPC's gateway; "
                      "a VPN attachment to a transit gateway is not emulated yet)"))
    elif vpn.get("vpc") not in names:
        found.append((f"{at}.connection.vpn.vpc", f"no VPC {vpn.get('vpc')!r} (VPCs: {', '.join(map(str, names))})"))
    elif cidr is not None and (vpc_cidr := cidrs.get(vpn["vpc"])) is not None and cidr.overlaps(vpc_cidr):
        found.append((f"{at}.cidr", f"{cidr} overlaps {vpn['vpc']}'s {vpc_cidr}: the VPN could not route it"))
    dns = site.get("dns")
    if dns:
        found += _check_site_dns(at, dns, cidr, vpn, cluster_vpc)
    for k, host in enumerate(site.get("hosts", [])):
        address = address_or_none(host.get("ip")) if host else None
        if host and address is None:
            found.append((f"{at}.hosts[{k}].ip", f"expected an IPv4 address, got {host.get('ip')!r}"))
        elif address is not None and cidr is not None and address not in cidr:
            found.append((f"{at}.hosts[{k}].ip", f"{address} is outside the site's {cidr}"))
    return found


def _twice(at: str, names: Sequence[Any]) -> list[tuple[str, str]]:
    return [(f"{at}[{i}].name", f"{name!r} is declared twice") for i, name in enumerate(names)
            if name is not None and name in names[:i]]
