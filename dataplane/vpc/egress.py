"""Route tables, the internet gateway and NAT gateways as the Topology declares them (EC2's names).

``spec.vpc.routeTables[]``: ``name``, ``main`` (the table of every subnet
naming none) and ``routes`` of ``destination`` (a CIDR) and ``target``:
``igw`` (needs ``spec.vpc.internetGateway: true``), ``nat/NAME`` or
``blackhole``.  Every table also holds the implicit ``local`` route for
the VPC CIDR, which no route may narrow here.  A subnet names its table with
``routeTable``; a subnet is public when its table routes to the internet
gateway (§4.1).  ``spec.vpc.natGateways[]``: ``name``, ``subnet`` (a public
one), and the emulation's knobs: ``elasticIp``, ``maxConnectionsPerDestination``
(AWS's 55,000 unless lowered for quick tests) and ``idleTimeoutSeconds`` (350).
A node gets a public address with ``publicIp: true`` or ``elasticIp``.
``spec.internet.hosts[]`` (``name``, ``ip``) are addresses on the emulated
internet: the outside client's namespace holds them, so a server started
there with ``dpctl exec external -- ...`` answers as that host.

Declaring any route table switches the VPC from the flat routing of files
without one (every subnet reaches the outside client) to AWS's: a packet
leaves the VPC only through a route, the internet gateway passes only
public addresses, and the VPC CNI SNATs pod traffic to the node's address
for destinations outside the VPC.  ``check`` reports what EC2 would refuse;
``read`` turns the checked, address-allocated form kept in the plan into
the model ``realize.egress`` and ``dpctl get`` use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from typing import Any

MAX_CONNECTIONS_PER_DESTINATION = 55_000  # per unique (IP, port, protocol) per NAT address (§4.2)
IDLE_TIMEOUT_SECONDS = 350
NAT_PORTS = (1024, 65535)  # AWS's source ports; the emulation uses the first max_per_destination of them
# nftables tables of the gateways (realize.egress_wiring fills them, trace reads their comments)
NAT_TABLE = "dpctl-natgw"
IGW_TABLE = "dpctl-igw"
MAX_NAT_NAME = 40  # it names the gateway's namespace
_DNS_LABEL = re.compile(rf"[a-z0-9]([a-z0-9-]{{0,{MAX_NAT_NAME - 2}}}[a-z0-9])?")
# Never on the internet: RFC 1918 and the carrier-grade NAT range (Python's is_private also counts the TEST-NETs).
PRIVATE_RANGES = tuple(IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))


@dataclass(frozen=True)
class RouteEntry:
    destination: str  # a CIDR
    target: str  # local | igw | nat/NAME | blackhole

    @property
    def network(self) -> IPv4Network:
        return IPv4Network(self.destination)


@dataclass(frozen=True)
class RouteTable:
    name: str
    routes: tuple[RouteEntry, ...]  # the declared ones; ``local`` is implied

    @property
    def public(self) -> bool:
        """AWS's definition: the table routes to an internet gateway."""
        return any(r.target == "igw" for r in self.routes)


@dataclass(frozen=True)
class NatGateway:
    name: str
    subnet: str
    private_ip: str
    elastic_ip: str
    netns: str
    router_iface: str  # its veth's end on the subnet's bridge in the router
    max_per_destination: int
    idle_timeout: int


@dataclass(frozen=True)
class InternetHost:
    name: str
    ip: str


@dataclass(frozen=True)
class Egress:
    internet_gateway: bool
    tables: Mapping[str, RouteTable]
    subnet_tables: Mapping[str, str]  # subnet -> its table (the main one when it names none)
    nat_gateways: tuple[NatGateway, ...]
    public_ips: Mapping[str, str]  # node name -> its public IPv4 address (1:1 NAT at the internet gateway)
    hosts: tuple[InternetHost, ...]
    external_snat: bool = False  # AWS_VPC_K8S_CNI_EXTERNALSNAT: the node does not SNAT pod traffic at all
    exclude_snat: tuple[str, ...] = ()  # AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: destinations pods reach unSNATed

    def snat_by_node(self, destination: str, vpc_cidr: str) -> bool:
        """Whether the VPC CNI SNATs a pod's connection to ``destination`` to its node's address: leaving the
        VPC's CIDR, not excluded, and the SNAT not left to an external device."""
        address = IPv4Address(destination)
        return (not self.external_snat and address not in IPv4Network(vpc_cidr)
                and not any(address in IPv4Network(c) for c in self.exclude_snat))

    @property
    def enforced(self) -> bool:
        """Route tables declared: the VPC routes as AWS's does (else the flat routing of older files)."""
        return bool(self.tables)

    def nat(self, name: str) -> NatGateway:
        return next(n for n in self.nat_gateways if n.name == name)

    def where(self, subnet: str) -> str:
        """``subnet S, route table T``: how a route decision is named in trace and verify."""
        table = self.subnet_tables.get(subnet)
        return f"subnet {subnet}, " + (f"route table {table}" if table else "no route table (the local route only)")

    def unroutable(self, subnet: str, destination: str, route: RouteEntry | None) -> str | None:
        """Why ``subnet``'s table drops a packet to ``destination`` given its ``route`` lookup (no route, a
        blackhole); None when it routes it."""
        if route is None:
            return f"{self.where(subnet)}: no route to {destination}"
        if route.target == "blackhole":
            return f"{self.where(subnet)}: {route.destination} is a blackhole route"
        return None

    def route(self, subnet: str, destination: str, vpc_cidr: str) -> RouteEntry | None:
        """The route a packet from ``subnet`` to ``destination`` takes: longest prefix, ``local`` first; None: no route."""
        return lookup(self.tables, self.subnet_tables, subnet, destination, vpc_cidr)


def lookup(tables: Mapping[str, RouteTable], subnet_tables: Mapping[str, str], subnet: str, destination: str,
           vpc_cidr: str) -> RouteEntry | None:
    """A VPC's route for a packet from ``subnet``: the ``local`` route first, then the longest prefix of the
    subnet's table; None: no route (every VPC's router, ``vpc.network`` included, decides this way)."""
    address = IPv4Address(destination)
    if address in IPv4Network(vpc_cidr):
        return RouteEntry(vpc_cidr, "local")
    table = tables.get(subnet_tables.get(subnet, ""))
    matching = [r for r in (table.routes if table else ()) if address in r.network]
    return max(matching, key=lambda r: r.network.prefixlen, default=None)


def read_tables(raw: Sequence[Mapping[str, Any]]) -> dict[str, RouteTable]:
    """Route tables as a plan keeps them (``routeTables``), by name."""
    return {t["name"]: RouteTable(t["name"], tuple(RouteEntry(str(ip_network(r["destination"], strict=False)),
                                                              r["target"]) for r in t.get("routes", [])))
            for t in raw}


def read(raw: Mapping[str, Any]) -> Egress:
    """The model of a plan's ``vpc_egress`` (checked and allocated while the plan was built)."""
    tables = read_tables(raw.get("routeTables", []))
    return Egress(
        internet_gateway=bool(raw.get("internetGateway", False)),
        tables=tables,
        subnet_tables=dict(raw.get("subnetTables", {})),
        nat_gateways=tuple(NatGateway(**n) for n in raw.get("natGateways", [])),
        public_ips=dict(raw.get("publicIps", {})),
        hosts=tuple(InternetHost(h["name"], h["ip"]) for h in raw.get("hosts", [])),
        external_snat=bool(raw.get("cniSnat", {}).get("external", False)),
        exclude_snat=tuple(raw.get("cniSnat", {}).get("exclude", ())),
    )


def main_table(tables: Sequence[Mapping[str, Any]]) -> str | None:
    """The name of the table marked ``main``, if any."""
    return next((t.get("name") for t in tables if t.get("main")), None)


CNI_ENV = ("AWS_VPC_K8S_CNI_EXTERNALSNAT", "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS")


def cni_snat(env: Mapping[str, str], cni: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``spec.vpcCni.env`` as the plan keeps it (``external``, ``exclude``), and what is wrong with it."""
    found: list[tuple[str, str]] = []
    for key in env:
        if key not in CNI_ENV:
            found.append((f"spec.vpcCni.env.{key}", f"not emulated; the emulation honours {', '.join(CNI_ENV)}"))
    if env and cni != "vpc":
        found.append(("spec.vpcCni", "the aws-node settings apply to the VPC CNI (spec.cni: vpc)"))
    external = str(env.get(CNI_ENV[0], "false")).lower()
    if external not in ("true", "false"):
        found.append((f"spec.vpcCni.env.{CNI_ENV[0]}", f"expected \"true\" or \"false\", got {external!r}"))
    exclude = [c.strip() for c in str(env.get(CNI_ENV[1], "")).split(",") if c.strip()]
    for cidr in exclude:
        if network_or_none(cidr) is None:
            found.append((f"spec.vpcCni.env.{CNI_ENV[1]}", f"expected comma-separated IPv4 CIDRs, got {cidr!r}"))
    kept = {"external": external == "true", "exclude": [str(network_or_none(c)) for c in exclude
                                                        if network_or_none(c) is not None]}
    return {k: v for k, v in kept.items() if v}, found


def check(
    vpc: Mapping[str, Any], subnets: Sequence[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]],
    internet: Mapping[str, Any], at_vpc: str = "spec.vpc", targets: Targets | None = None,
) -> list[tuple[str, str]]:
    """(field path, message) of what EC2 would refuse in the cluster VPC's routing and gateways; ``at_vpc``
    is where the VPC is in the file, ``targets`` the peerings, transit gateways and VPN it may route to."""
    found: list[tuple[str, str]] = []
    vpc_cidr = network_or_none(vpc.get("cidr"))
    tables = list(vpc.get("routeTables", []))
    nats = list(vpc.get("natGateways", []))
    nat_names = [n.get("name") for n in nats]
    table_names = [t.get("name") for t in tables]
    found += _twice(f"{at_vpc}.routeTables", table_names) + _twice(f"{at_vpc}.natGateways", nat_names)
    if sum(1 for t in tables if t.get("main")) > 1:
        found.append((f"{at_vpc}.routeTables", "only one route table can be the main one"))
    for i, table in enumerate(tables):
        for r, route in enumerate(table.get("routes", [])):
            found += check_route(f"{at_vpc}.routeTables[{i}].routes[{r}]", route, vpc_cidr,
                                 targets or Targets({}, frozenset(), False), set(nat_names),
                                 bool(vpc.get("internetGateway")))
    public_tables = {t.get("name") for t in tables if any(r.get("target") == "igw" for r in t.get("routes", []))}
    main = main_table(tables)
    subnet_tables = {s.get("name"): s.get("routeTable") or main for s in subnets}
    for i, subnet in enumerate(subnets):
        if subnet.get("routeTable") is not None and subnet["routeTable"] not in table_names:
            found.append((f"{at_vpc}.subnets[{i}].routeTable",
                          f"no route table {subnet['routeTable']!r} (declared: {', '.join(map(str, table_names)) or 'none'})"))
    for i, nat in enumerate(nats):
        at = f"{at_vpc}.natGateways[{i}]"
        if not _DNS_LABEL.fullmatch(str(nat.get("name", ""))):
            found.append((f"{at}.name", f"expected a DNS label (a-z, 0-9, -; at most {MAX_NAT_NAME} characters), "
                          f"got {nat.get('name')!r}"))
        subnet = nat.get("subnet")
        if subnet not in subnet_tables:
            found.append((f"{at}.subnet", f"no subnet {subnet!r}"))
        elif subnet_tables[subnet] not in public_tables:
            found.append((f"{at}.subnet", f"{subnet} is a private subnet: a public NAT gateway needs a subnet whose "
                          "route table sends 0.0.0.0/0 to the internet gateway"))
        limit = nat.get("maxConnectionsPerDestination")
        if limit is not None and not 1 <= limit <= MAX_CONNECTIONS_PER_DESTINATION:
            found.append((f"{at}.maxConnectionsPerDestination",
                          f"must be within 1-{MAX_CONNECTIONS_PER_DESTINATION} (AWS's limit); got {limit}"))
        timeout = nat.get("idleTimeoutSeconds")
        if timeout is not None and not 1 <= timeout <= IDLE_TIMEOUT_SECONDS:
            found.append((f"{at}.idleTimeoutSeconds", f"must be within 1-{IDLE_TIMEOUT_SECONDS}; got {timeout}"))
        found += _check_address(f"{at}.elasticIp", nat.get("elasticIp"))
    for i, node in enumerate(nodes):
        found += _check_address(f"spec.nodes[{i}].elasticIp", node.get("elasticIp"))
        if (node.get("publicIp") or node.get("elasticIp")) and not vpc.get("internetGateway"):
            found.append((f"spec.nodes[{i}]", f"a public address needs {at_vpc}.internetGateway: true"))
    if nats and not tables:
        found.append((f"{at_vpc}.natGateways", f"a NAT gateway is reached through a route table: declare {at_vpc}.routeTables"))
    for i, host in enumerate(internet.get("hosts", [])):
        at = f"spec.internet.hosts[{i}]"
        address = address_or_none(host.get("ip"))
        if address is None:
            found.append((f"{at}.ip", f"expected an IPv4 address, got {host.get('ip')!r}"))
        elif any(address in n for n in PRIVATE_RANGES) or (vpc_cidr is not None and address in vpc_cidr):
            found.append((f"{at}.ip", f"{address} is a private address: an internet host needs a public one"))
    return found


@dataclass(frozen=True)
class Targets:
    """The gateways a VPC's route tables may name besides ``igw``/``nat``: its peerings, the
    transit gateways it is attached to, and whether it has a VPN gateway."""

    peerings: Mapping[str, str]  # pcx name -> the other VPC
    transit_gateways: frozenset[str]
    vpn: bool


def check_target(kind: str, name: str, targets: Targets) -> str | None:
    """Why a ``pcx/NAME``, ``tgw/NAME`` or ``vgw`` route target is wrong for this VPC; None when it is right."""
    if kind == "pcx":
        if name not in targets.peerings:
            known = ", ".join(sorted(map(str, targets.peerings))) or "none"
            return f"no peering connection {name!r} of this VPC (its peerings: {known})"
    elif kind == "tgw":
        if name not in targets.transit_gateways:
            known = ", ".join(sorted(map(str, targets.transit_gateways))) or "none"
            return f"no transit gateway {name!r} attached to this VPC (attached: {known})"
    elif kind == "vgw":
        if name:
            return "vgw takes no name: a VPC has one virtual private gateway"
        if not targets.vpn:
            return "vgw: this VPC has no VPN connection (spec.onPremises.connection.vpn.vpc)"
    return None


def check_route(at: str, route: Mapping[str, Any], vpc_cidr: IPv4Network | None, targets: Targets,
                nats: set[Any] | frozenset[Any] = frozenset(), internet_gateway: bool = False) -> list[tuple[str, str]]:
    """One route of a VPC's table: a CIDR outside the VPC's and a target the VPC has."""
    found: list[tuple[str, str]] = []
    destination = network_or_none(route.get("destination"))
    if destination is None:
        found.append((f"{at}.destination", f"expected an IPv4 CIDR, got {route.get('destination')!r}"))
    elif vpc_cidr is not None and destination.overlaps(vpc_cidr) and destination.prefixlen >= vpc_cidr.prefixlen:
        found.append((f"{at}.destination", f"{destination} is inside the VPC's {vpc_cidr}: the local route covers it"))
    target = str(route.get("target", ""))
    kind, _, name = target.partition("/")
    if kind in ("pcx", "tgw", "vgw"):
        if kind != "vgw" and not name:
            found.append((f"{at}.target", f"expected {kind}/NAME, got {target!r}"))
        elif (why := check_target(kind, name, targets)) is not None:
            found.append((f"{at}.target", why))
    elif kind not in ("igw", "nat", "blackhole") or (kind == "nat") != bool(name) or (kind in ("igw", "blackhole")
                                                                                     and name):
        found.append((f"{at}.target", f"expected igw, nat/NAME, pcx/NAME, tgw/NAME, vgw or blackhole; got {target!r}"))
    elif kind == "nat" and name not in nats:
        found.append((f"{at}.target", f"no NAT gateway {name!r} (declared: {', '.join(sorted(map(str, nats))) or 'none'})"))
    elif kind == "igw" and not internet_gateway:
        found.append((f"{at}.target", "igw: the VPC has no internet gateway (internetGateway: true)"))
    return found


def _twice(at: str, names: Sequence[Any]) -> list[tuple[str, str]]:
    return [(f"{at}[{i}].name", f"{name!r} is declared twice") for i, name in enumerate(names) if name in names[:i]]


def _check_address(at: str, value: Any) -> list[tuple[str, str]]:
    if value is not None and address_or_none(value) is None:
        return [(at, f"expected an IPv4 address, got {value!r}")]
    return []


def network_or_none(value: Any) -> IPv4Network | None:
    """``value`` as an IPv4 network (host bits allowed), or None."""
    try:
        network = ip_network(str(value), strict=False)
    except ValueError:
        return None
    return network if isinstance(network, IPv4Network) else None


def address_or_none(value: Any) -> IPv4Address | None:
    """``value`` as an IPv4 address, or None."""
    try:
        address = ip_address(str(value))
    except ValueError:
        return None
    return address if isinstance(address, IPv4Address) else None
