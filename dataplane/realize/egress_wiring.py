"""What the VPC's route tables, internet gateway and NAT gateways ask of the kernel (no root).

Only a plan whose VPC declares route tables (``vpc.egress``) gets any of it;
older files keep their flat routing.  Where each piece lives:

* router namespace: one kernel table per route table, chosen by the bridge a
  packet came in on (``ip rule iif br-SUBNET``).  The main table keeps the
  connected subnets (the implicit ``local`` route) and is asked first with
  ``suppress_prefixlength 0``, so a VPC destination never leaves by a route
  table's default.  A table without a default route ends in a blackhole: no
  route means dropped, as at a VPC router (T7).  A connection that came in
  from the outside (the load balancer's link) is marked in conntrack and its
  replies go back out that way whatever the subnet's table says, as AWS's
  load balancers and internet gateway return traffic.
* NAT gateway namespace: ``eth0`` on its public subnet's bridge, its Elastic
  IP on ``lo``; SNAT to the EIP on ``max_per_destination`` ports from 1024:
  a connection is a unique (source port, destination IP, port, protocol)
  tuple, so the range is the per-destination limit, enforced where AWS's is,
  at port allocation (the next SYN finds no port and is dropped; conntrack's
  ``insert_failed`` is ``ErrorPortAllocation``), conntrack's
  established timeout set to the idle timeout and loose pickup off, so the
  inside host's first segment after it is invalid and answered with a RST
  (``IdleTimeoutCount``); unsolicited inbound is dropped.  Named counters
  carry CloudWatch's metrics.
* load balancer namespace (the internet gateway): 1:1 NAT between each public
  node's private and public address, a counted drop for any other VPC
  address leaving without one, routes to the Elastic IPs and internet hosts.
* internet hosts: addresses on the outside client's ``lo``, routed there by the
  gateway namespace (and, in a flat VPC, from the router, as the outside
  client is).
* nodes (VPC CNI): SNAT of pod traffic to destinations outside the VPC to the
  node's address, as the CNI does unless told otherwise.
"""

from __future__ import annotations

import ipaddress

from dataplane.realize.wiring import (
    UNDERLAY_MTU,
    Address,
    Configure,
    CreateNamespace,
    Link,
    PolicyRule,
    Request,
    Route,
    Ruleset,
    SetMaster,
    Sysctl,
    Up,
    Veth,
    forwarding_on,
)
from dataplane.topology.naming import LB_PUBLIC_IFACE, ROUTER_LB_IFACE
from dataplane.topology.plan import Plan
from dataplane.vpc.egress import IGW_TABLE, NAT_PORTS, NAT_TABLE, Egress, NatGateway, read
from dataplane.vpc.network import read as read_network

MAIN_TABLE = 254
FROM_OUTSIDE_TABLE = 100  # replies of connections that came in from outside
LOCAL_ONLY_TABLE = 101  # subnets with no table of their own and no main one: the local route only
FIRST_ROUTE_TABLE = 1000  # then one per declared route table, in file order
FROM_OUTSIDE = 0x4000  # conntrack and packet mark bit in the router
CLOSED_FLOW_SECONDS = 1  # how long a NAT gateway's closed flow keeps its port (conntrack's TIME_WAIT and CLOSE)
ROUTER_TABLE = "dpctl-egress"
CNI_TABLE = "dpctl-cnisnat"
METRICS = ("connections_established", "idle_timeout", "packets_drop", "bytes_out_to_destination",
           "bytes_in_from_destination")


def requests(plan: Plan) -> list[Request]:
    """Every request of the VPC's routing and gateways, in order; a flat VPC gets only its internet hosts."""
    egress = read(plan.vpc_egress)
    found: list[Request] = []
    if egress.enforced:
        found += _router(plan, egress)
        for nat in egress.nat_gateways:
            found += _nat_gateway(plan, nat)
        if plan.cni == "vpc" and not egress.external_snat:
            found += [Ruleset(n.netns, cni_snat_ruleset(plan, n.ip, egress.exclude_snat)) for n in plan.nodes]
    found += _internet_gateway(plan, egress)
    return found


def table_ids(plan: Plan, egress: Egress) -> dict[str, int]:
    """Each subnet's kernel routing table in the router."""
    ids = {name: FIRST_ROUTE_TABLE + i for i, name in enumerate(egress.tables)}
    return {s.name: ids.get(egress.subnet_tables.get(s.name, ""), LOCAL_ONLY_TABLE) for s in plan.subnets}


def _router(plan: Plan, egress: Egress) -> list[Request]:
    assert plan.external is not None
    ids = {name: FIRST_ROUTE_TABLE + i for i, name in enumerate(egress.tables)}
    links: list[Link] = [
        PolicyRule(100, FROM_OUTSIDE_TABLE, fwmark=FROM_OUTSIDE),
        PolicyRule(110, MAIN_TABLE, suppress_prefixlength=0),
        Route("default", via=plan.external.lb_transit_ip, dev=ROUTER_LB_IFACE, table=FROM_OUTSIDE_TABLE),
        Route("default", kind="blackhole", table=LOCAL_ONLY_TABLE),
    ]
    for i, (subnet, table) in enumerate(table_ids(plan, egress).items()):
        links.append(PolicyRule(120 + i, table, iif=plan.subnet(subnet).bridge))
    for name, table in egress.tables.items():
        for route in table.routes:
            kind, _, target = route.target.partition("/")
            if kind == "igw":
                links.append(Route(route.destination, via=plan.external.lb_transit_ip, dev=ROUTER_LB_IFACE,
                                   table=ids[name]))
            elif kind == "nat":
                nat = egress.nat(target)
                links.append(Route(route.destination, via=nat.private_ip, dev=plan.subnet(nat.subnet).bridge,
                                   table=ids[name]))
            elif kind in ("pcx", "tgw", "vgw"):  # a link to another network (network_wiring makes it)
                network = read_network(plan.vpc_network, egress)
                hop, own = network.next_hop(network.cluster.name, route.target), network.local_end(
                    network.cluster.name, route.target)
                assert hop is not None and own is not None
                links.append(Route(route.destination, via=hop.ip, dev=own.iface, table=ids[name]))
            else:
                links.append(Route(route.destination, kind="blackhole", table=ids[name]))
        if not any(r.network.prefixlen == 0 for r in table.routes):
            links.append(Route("default", kind="blackhole", table=ids[name]))
    # Replies to a NAT gateway's Elastic IP come back from the internet gateway.
    links += [Route(f"{n.elastic_ip}/32", via=n.private_ip, dev=plan.subnet(n.subnet).bridge)
              for n in egress.nat_gateways]
    marks = (
        f"table ip {ROUTER_TABLE}\ndelete table ip {ROUTER_TABLE}\n"
        f"table ip {ROUTER_TABLE} {{\n"
        "  chain prerouting {\n"
        "    type filter hook prerouting priority -150; policy accept;\n"
        f'    iifname "{ROUTER_LB_IFACE}" ct state new ct mark set ct mark | {FROM_OUTSIDE:#x}\n'
        f"    ct direction reply ct mark & {FROM_OUTSIDE:#x} == {FROM_OUTSIDE:#x} meta mark set meta mark | {FROM_OUTSIDE:#x}\n"
        "  }\n}\n"
    )
    return [Configure(plan.router_netns, tuple(links)), Ruleset(plan.router_netns, marks)]


def _nat_gateway(plan: Plan, nat: NatGateway) -> list[Request]:
    subnet = plan.subnet(nat.subnet)
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    return [
        CreateNamespace(nat.netns),
        Configure(plan.router_netns, (
            Veth(nat.router_iface, "eth0", nat.netns, mtu=UNDERLAY_MTU),
            SetMaster(nat.router_iface, subnet.bridge),
            Up(nat.router_iface),
        )),
        Configure(nat.netns, (
            *forwarding_on(),
            # one interface both ways: a packet leaves where it came in, which is no reason for a redirect
            Sysctl("net.ipv4.conf.all.send_redirects", 0),
            Sysctl("net.ipv4.conf.eth0.send_redirects", 0),
            Address("lo", f"{nat.elastic_ip}/32"),
            Address("eth0", f"{nat.private_ip}/{prefixlen}"),
            Up("eth0"),
            Route("default", via=subnet.gateway),
        )),
        # The ruleset first: its ct expressions bring conntrack into the namespace, and with it the sysctls.
        Ruleset(nat.netns, nat_ruleset(plan, nat)),
        Configure(nat.netns, (
            Sysctl("net.netfilter.nf_conntrack_tcp_loose", 0),
            Sysctl("net.netfilter.nf_conntrack_tcp_timeout_established", nat.idle_timeout),
            Sysctl("net.netfilter.nf_conntrack_udp_timeout_stream", nat.idle_timeout),
            # A closed flow gives its port back at once (AWS documents no hold; Linux would keep it 120 s).
            Sysctl("net.netfilter.nf_conntrack_tcp_timeout_time_wait", CLOSED_FLOW_SECONDS),
            Sysctl("net.netfilter.nf_conntrack_tcp_timeout_close", CLOSED_FLOW_SECONDS),
        )),
    ]


def nat_ruleset(plan: Plan, nat: NatGateway) -> str:
    vpc = plan.vpc_cidr
    counters = "".join(f"  counter {name} {{}}\n" for name in METRICS)
    low = NAT_PORTS[0]
    high = low + nat.max_per_destination - 1
    return (
        f"table ip {NAT_TABLE}\ndelete table ip {NAT_TABLE}\n"
        f"table ip {NAT_TABLE} {{\n{counters}"
        "  chain forward {\n"
        "    type filter hook forward priority 0; policy accept;\n"
        f"    ip saddr {vpc} ct state invalid tcp flags & rst == 0 counter name idle_timeout reject with tcp reset"
        f' comment "NAT gateway {nat.name}: the flow was idle past {nat.idle_timeout} s (IdleTimeoutCount)"\n'
        f"    ip saddr {vpc} ip daddr != {vpc} ct state new counter name connections_established\n"
        f"    ip saddr {vpc} ip daddr != {vpc} counter name bytes_out_to_destination\n"
        f"    ip saddr != {vpc} ip daddr {vpc} counter name bytes_in_from_destination\n"
        "  }\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    ip daddr {nat.elastic_ip} ct state new counter name packets_drop drop"
        f' comment "NAT gateway {nat.name}: no inbound connection through a NAT gateway"\n'
        "  }\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority 100; policy accept;\n"
        f'    oifname "eth0" ip saddr {vpc} ip daddr != {vpc} meta l4proto {{ tcp, udp }}'
        f" snat to {nat.elastic_ip}:{low}-{high}\n"
        f'    oifname "eth0" ip saddr {vpc} ip daddr != {vpc} snat to {nat.elastic_ip}\n'
        "  }\n}\n"
    )


def _internet_gateway(plan: Plan, egress: Egress) -> list[Request]:
    ext = plan.external
    if ext is None or not (egress.internet_gateway or egress.hosts):
        return []
    links = [Route(f"{n.elastic_ip}/32", via=ext.router_transit_ip) for n in egress.nat_gateways]
    links += [Route(f"{h.ip}/32", via=ext.client_ip) for h in egress.hosts]
    found: list[Request] = [Configure(ext.lb_netns, tuple(links))] if links else []
    if egress.hosts:
        found.append(Configure(ext.client_netns, tuple(Address("lo", f"{h.ip}/32") for h in egress.hosts)))
    if egress.hosts and not egress.enforced:  # a flat VPC reaches the hosts as it reaches the outside client
        found.append(Configure(plan.router_netns, tuple(Route(f"{h.ip}/32", via=ext.lb_transit_ip)
                                                        for h in egress.hosts)))
    if egress.internet_gateway and egress.enforced:
        found.append(Ruleset(ext.lb_netns, igw_ruleset(plan, egress)))
    return found


def igw_ruleset(plan: Plan, egress: Egress) -> str:
    pairs = {plan.node(name).ip: public for name, public in egress.public_ips.items()}
    inbound = ", ".join(f"{public} : {private}" for private, public in pairs.items())
    outbound = ", ".join(f"{private} : {public}" for private, public in pairs.items())
    sources = ", ".join(pairs)
    return (
        f"table ip {IGW_TABLE}\ndelete table ip {IGW_TABLE}\n"
        f"table ip {IGW_TABLE} {{\n"
        "  counter no_public_address {}\n"
        f"  set public_sources {{ type ipv4_addr; {f'elements = {{ {sources} }}; ' if sources else ''}}}\n"
        f"  map inbound {{ type ipv4_addr : ipv4_addr; {f'elements = {{ {inbound} }}; ' if inbound else ''}}}\n"
        f"  map outbound {{ type ipv4_addr : ipv4_addr; {f'elements = {{ {outbound} }}; ' if outbound else ''}}}\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority -100; policy accept;\n"
        f'    iifname "{LB_PUBLIC_IFACE}" dnat to ip daddr map @inbound\n'
        "  }\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority 100; policy accept;\n"
        f'    oifname "{LB_PUBLIC_IFACE}" snat to ip saddr map @outbound\n'
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority 0; policy accept;\n"
        f'    oifname "{LB_PUBLIC_IFACE}" ct state new ip saddr {plan.vpc_cidr} ip saddr != @public_sources'
        ' counter name no_public_address drop comment "internet gateway: no public IPv4 address"\n'
        "  }\n}\n"
    )


def cni_snat_ruleset(plan: Plan, node_ip: str, excluded: tuple[str, ...] = ()) -> str:
    """The VPC CNI's SNAT: pod traffic leaving the VPC takes the node's primary address, but for the
    destinations ``AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS`` lists."""
    kept = ", ".join((plan.vpc_cidr, *excluded))
    return (
        f"table ip {CNI_TABLE}\ndelete table ip {CNI_TABLE}\n"
        f"table ip {CNI_TABLE} {{\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority 100; policy accept;\n"
        f'    iifname != "eth0" oifname "eth0" ip saddr != {node_ip} ip daddr != {{ {kept} }}'
        f" snat to {node_ip} fully-random\n"
        "  }\n}\n"
    )
