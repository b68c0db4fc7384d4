"""What the other VPCs, peering, transit gateways and the VPN ask of the kernel (no root).

Only a plan with ``vpc_network`` (``vpc.network``) gets any of it.  Where each piece lives:

* another VPC's router ``dp-T.vpc_NAME``: a bridge per subnet with the
  subnet's first host, and the same routing as the cluster VPC's router
  (``egress_wiring``): the main table's connected routes first, then one
  kernel table per route table chosen by the bridge a packet came in on,
  ending in a blackhole.
* instances: a namespace each, ``eth0`` on the subnet's bridge, default
  route via the subnet's router address.
* a peering: one veth between the two routers (a /30 of ``LINK_RANGE``).
* a transit gateway ``dp-T.tgw_NAME``: a veth to each attached VPC's router;
  a kernel table per gateway route table, chosen by the attachment a packet
  came in on (its association), holding the propagated VPC CIDRs and the
  static routes; no route is a blackhole.
* the VPN: the VPC's virtual private gateway ``dp-T.vgw_VPC`` is linked to
  its router; a VXLAN tunnel joins it to the site's customer gateway
  ``dp-T.onprem_NAME`` over an underlay link standing for the internet
  path, so the site's packets cross it encapsulated.  The site holds its
  hosts' addresses on ``lo``.  (AWS's tunnel is IPsec; this machine's kernel
  has no ESP, so the tunnel is VXLAN: encapsulated, not encrypted.)
* every router: ``inet dpctl-vpcnet`` drops, with a counter and a comment
  ``trace`` prints, a packet that came in over a peering, a transit gateway
  or the VPN and is not for the VPC itself: peering is not transitive, and
  AWS allows no edge-to-edge routing through a VPC.
"""

from __future__ import annotations

import ipaddress

from dataplane.realize.egress_wiring import FIRST_ROUTE_TABLE, LOCAL_ONLY_TABLE, MAIN_TABLE
from dataplane.realize.wiring import (
    UNDERLAY_MTU,
    VXLAN_OVERHEAD,
    VXLAN_PORT,
    Address,
    Bridge,
    Configure,
    CreateNamespace,
    Fdb,
    Link,
    Neighbour,
    PolicyRule,
    Request,
    Route,
    Ruleset,
    SetMaster,
    Sysctl,
    Up,
    Veth,
    Vxlan,
    derived_mac,
    forwarding_on,
)
from dataplane.topology.plan import Plan
from dataplane.vpc.egress import read as read_egress
from dataplane.vpc.network import (
    NETWORK_TABLE,
    End,
    Instance,
    Network,
    OnPremises,
    ResolverEndpoints,
    TransitGateway,
    Vpc,
    read,
)

LINK_PREFIX = 30


def network_of(plan: Plan) -> Network:
    return read(plan.vpc_network, read_egress(plan.vpc_egress))


def requests(plan: Plan) -> list[Request]:
    """Every request of the other VPCs and the links between networks, in order; [] without them."""
    if not plan.vpc_network:
        return []
    network = network_of(plan)
    found: list[Request] = []
    for vpc in network.vpcs.values():
        if not vpc.cluster:
            found += _router(vpc)
    for instance in network.instances:
        found += _instance(network.vpcs[instance.vpc], instance)
    for peering in network.peerings:
        first, second = (peering.ends[peering.requester], peering.ends[peering.accepter])
        found += _link(first, second)
    for tgw in network.transit_gateways:
        found += [CreateNamespace(tgw.netns), Configure(tgw.netns, forwarding_on())]
        for gateway_end, router_end in tgw.attachments.values():
            found += _link(gateway_end, router_end)
        found.append(Configure(tgw.netns, _tgw_routes(network, tgw)))
    if network.on_premises is not None:
        found += _vpn(network, network.on_premises)
    if network.resolver is not None:
        found += _resolver(network.cluster, network.resolver)
    for vpc in network.vpcs.values():
        if not vpc.cluster:
            found.append(Configure(vpc.router_netns, route_table_links(network, vpc)))
        if network.router_links(vpc.name):
            found.append(Ruleset(vpc.router_netns, edge_ruleset(network, vpc)))
    return found


def _router(vpc: Vpc) -> list[Request]:
    bridges: list[Link] = []
    for subnet in vpc.subnets:
        bridges += [Bridge(subnet.bridge), Address(subnet.bridge, f"{subnet.gateway}/{_prefixlen(subnet.cidr)}"),
                    Up(subnet.bridge)]
    return [
        CreateNamespace(vpc.router_netns),
        Configure(vpc.router_netns, (*forwarding_on(), Sysctl("net.ipv4.conf.all.send_redirects", 0),
                                     Sysctl("net.ipv4.conf.default.send_redirects", 0), *bridges)),
    ]


def _instance(vpc: Vpc, instance: Instance) -> list[Request]:
    subnet = next(s for s in vpc.subnets if s.name == instance.subnet)
    return [
        CreateNamespace(instance.netns),
        Configure(vpc.router_netns, (Veth(instance.router_iface, "eth0", instance.netns, mtu=UNDERLAY_MTU),
                                     SetMaster(instance.router_iface, subnet.bridge), Up(instance.router_iface))),
        Configure(instance.netns, (Up("lo"), Address("eth0", f"{instance.ip}/{_prefixlen(subnet.cidr)}"), Up("eth0"),
                                   Route("default", via=subnet.gateway))),
    ]


def _resolver(vpc: Vpc, resolver: ResolverEndpoints) -> list[Request]:
    """Route 53 Resolver's endpoints: one namespace on their subnet holding both addresses."""
    subnet = next(s for s in vpc.subnets if s.name == resolver.subnet)
    prefixlen = _prefixlen(subnet.cidr)
    return [
        CreateNamespace(resolver.netns),
        Configure(vpc.router_netns, (Veth(resolver.router_iface, "eth0", resolver.netns, mtu=UNDERLAY_MTU),
                                     SetMaster(resolver.router_iface, subnet.bridge), Up(resolver.router_iface))),
        Configure(resolver.netns, (Up("lo"), Address("eth0", f"{resolver.inbound_ip}/{prefixlen}"),
                                   Address("eth0", f"{resolver.outbound_ip}/{prefixlen}"), Up("eth0"),
                                   Route("default", via=subnet.gateway))),
    ]


def _link(first: End, second: End) -> list[Request]:
    """A veth between two routers, ``first``'s end made in its namespace and moved into ``second``'s."""
    return [
        Configure(first.netns, (Veth(first.iface, second.iface, second.netns, mtu=UNDERLAY_MTU),
                                Address(first.iface, f"{first.ip}/{LINK_PREFIX}"), Up(first.iface))),
        Configure(second.netns, (Address(second.iface, f"{second.ip}/{LINK_PREFIX}"), Up(second.iface))),
    ]


def route_table_links(network: Network, vpc: Vpc) -> tuple[Link, ...]:
    """``vpc``'s route tables in its router: the connected subnets first, then each subnet's table."""
    ids = {name: FIRST_ROUTE_TABLE + i for i, name in enumerate(vpc.tables)}
    links: list[Link] = [PolicyRule(110, MAIN_TABLE, suppress_prefixlength=0),
                         Route("default", kind="blackhole", table=LOCAL_ONLY_TABLE)]
    for i, subnet in enumerate(vpc.subnets):
        links.append(PolicyRule(120 + i, ids.get(vpc.subnet_tables.get(subnet.name, ""), LOCAL_ONLY_TABLE),
                                iif=subnet.bridge))
    for name, table in vpc.tables.items():
        for route in table.routes:
            hop = network.next_hop(vpc.name, route.target)
            own = network.local_end(vpc.name, route.target)
            if hop is not None and own is not None:
                links.append(Route(route.destination, via=hop.ip, dev=own.iface, table=ids[name]))
            else:  # a blackhole (igw and nat routes exist in the cluster's VPC only: egress_wiring)
                links.append(Route(route.destination, kind="blackhole", table=ids[name]))
        if not any(r.network.prefixlen == 0 for r in table.routes):
            links.append(Route("default", kind="blackhole", table=ids[name]))
    return tuple(links)


def _tgw_routes(network: Network, tgw: TransitGateway) -> tuple[Link, ...]:
    links: list[Link] = [Route("default", kind="blackhole", table=LOCAL_ONLY_TABLE)]
    ids = {t.name: FIRST_ROUTE_TABLE + i for i, t in enumerate(tgw.tables)}
    for i, (vpc, (gateway_end, _)) in enumerate(tgw.attachments.items()):
        table = tgw.table_of(vpc)
        links.append(PolicyRule(120 + i, ids[table.name] if table else LOCAL_ONLY_TABLE, iif=gateway_end.iface))
    for table in tgw.tables:
        for route in table.routes:
            if route.target == "blackhole":
                links.append(Route(route.destination, kind="blackhole", table=ids[table.name]))
            else:
                gateway_end, router_end = tgw.attachments[route.target]
                links.append(Route(route.destination, via=router_end.ip, dev=gateway_end.iface, table=ids[table.name]))
        if not any(r.network.prefixlen == 0 for r in table.routes):
            links.append(Route("default", kind="blackhole", table=ids[table.name]))
    return tuple(links)


def _vpn(network: Network, site: OnPremises) -> list[Request]:
    vgw_end, router_end = site.attachment
    vgw_wan, site_wan = site.underlay
    vgw_tun, site_tun = site.tunnel
    vpc = network.vpcs[site.vpc]
    mtu = UNDERLAY_MTU - VXLAN_OVERHEAD

    def tunnel(own_wan: End, own_tun: End, far_wan: End, far_tun: End) -> tuple[Link, ...]:
        mac, far_mac = (derived_mac(f"{end.netns}/{end.iface}") for end in (own_tun, far_tun))
        return (Vxlan(own_tun.iface, vni=site.vni, local=own_wan.ip, dev=own_wan.iface, port=VXLAN_PORT, mac=mac,
                      mtu=mtu),
                Address(own_tun.iface, f"{own_tun.ip}/{LINK_PREFIX}"), Up(own_tun.iface),
                Neighbour(far_tun.ip, far_mac, own_tun.iface), Fdb(far_mac, far_wan.ip, own_tun.iface))

    return [
        CreateNamespace(site.vgw_netns),
        CreateNamespace(site.netns),
        Configure(site.vgw_netns, forwarding_on()),
        Configure(site.netns, forwarding_on()),
        *_link(router_end, vgw_end),
        *_link(vgw_wan, site_wan),
        Configure(site.vgw_netns, (*tunnel(vgw_wan, vgw_tun, site_wan, site_tun),
                                   Route(site.cidr, via=site_tun.ip, dev=vgw_tun.iface),
                                   Route(vpc.cidr, via=router_end.ip, dev=vgw_end.iface))),
        Configure(site.netns, (*tunnel(site_wan, site_tun, vgw_wan, vgw_tun),
                               *(Address("lo", f"{ip}/32") for _, ip in site.hosts),
                               *((Address("lo", f"{site.dns_server}/32"),) if site.dns_server else ()),
                               # the site's own traffic leaves from its first host, an address the VPC routes back
                               Route(vpc.cidr, via=vgw_tun.ip, dev=site_tun.iface,
                                     src=site.hosts[0][1] if site.hosts else site.dns_server))),
    ]


def edge_ruleset(network: Network, vpc: Vpc) -> str:
    """Drops of what came in over a link into ``vpc`` and is not for ``vpc`` itself."""
    rules = "".join(
        f'    iifname "{end.iface}" ip daddr != {vpc.cidr} counter drop comment "{network.edge_drop(what, vpc)}"\n'
        for what, end in network.router_links(vpc.name)
    )
    return (
        f"table inet {NETWORK_TABLE}\ndelete table inet {NETWORK_TABLE}\n"
        f"table inet {NETWORK_TABLE} {{\n"
        "  chain prerouting {\n"
        "    type filter hook prerouting priority 0; policy accept;\n"
        f"{rules}"
        "  }\n}\n"
    )


def _prefixlen(cidr: str) -> int:
    return ipaddress.ip_network(cidr).prefixlen
