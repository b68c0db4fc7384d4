"""The fixed part of a node's kube-proxy table: base chains, dispatch maps, helper chains.

Everything a Service adds goes into the maps and sets made here, so the
base chains never change and a packet that matches no Service walks through
untouched.  Layout and priorities follow kube-proxy v1.31–1.35:

* the LoadBalancer source-range firewall runs before DNAT (priority -110),
  because it must see the VIP the client addressed;
* DNAT runs in nat prerouting (forwarded and inbound packets) and nat
  output (the node's own processes), both at -100;
* reject and drop for Service ports without endpoints run in the filter
  input/forward/output hooks (priority 0): ``reject`` is not allowed in
  prerouting on older kernels;
* masquerade happens in nat postrouting (100) for packets that carry the
  masquerade mark; the mark is cleared first so a packet that re-enters the
  stack (VXLAN) is not masqueraded twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from .nftext import NamedSet, Table, comment

TABLE = "kube-proxy"
MASQUERADE_MARK = "0x4000"  # 1 << 14, kube-proxy's default --masquerade-bit
MARK_FOR_MASQUERADE = "mark-for-masquerade"
REJECT_CHAIN = "reject-chain"

_ADDRESS_PORT = "ipv4_addr . inet_proto . inet_service : verdict"
_PORT = "inet_proto . inet_service : verdict"
_BY_ADDRESS_PORT = "ip daddr . meta l4proto . th dport"
_BY_NODEPORT = "ip daddr @nodeport-ips meta l4proto . th dport"


@dataclass
class Skeleton:
    """The table and the shared maps and sets Service ports fill in."""

    table: Table
    cluster_ips: NamedSet
    service_ips: NamedSet
    service_nodeports: NamedSet
    no_endpoint_services: NamedSet
    no_endpoint_nodeports: NamedSet
    firewall_ips: NamedSet


def skeleton(service_cidr: str, node_ip: str) -> Skeleton:
    """A kube-proxy table for a node whose NodePorts listen on ``node_ip`` only
    (nftables mode's default ``--nodeport-addresses primary``)."""
    table = Table("ip", TABLE, "rules for kube-proxy")
    _base_chains(table)
    sk = Skeleton(
        table=table,
        cluster_ips=table.set("set", "cluster-ips", "ipv4_addr", comment="Active ClusterIPs"),
        service_ips=table.set(
            "map", "service-ips", _ADDRESS_PORT, comment="ClusterIP, ExternalIP and LoadBalancer IP traffic"
        ),
        service_nodeports=table.set("map", "service-nodeports", _PORT, comment="NodePort traffic"),
        no_endpoint_services=table.set(
            "map", "no-endpoint-services", _ADDRESS_PORT, comment="drop or reject traffic to services without endpoints"
        ),
        no_endpoint_nodeports=table.set(
            "map", "no-endpoint-nodeports", _PORT, comment="drop or reject NodePort traffic without endpoints"
        ),
        firewall_ips=table.set(
            "map", "firewall-ips", _ADDRESS_PORT, comment="destinations subject to loadBalancerSourceRanges"
        ),
    )
    table.set("set", "nodeport-ips", "ipv4_addr", comment="IPs that accept NodePort traffic").add(node_ip)
    _helper_chains(table, service_cidr)
    return sk


def _base_chains(table: Table) -> None:
    table.chain("filter-prerouting-pre-dnat", "type filter hook prerouting priority -110").add(
        "ct state new jump firewall-check"
    )
    table.chain("filter-output-pre-dnat", "type filter hook output priority -110").add(
        "ct state new jump firewall-check"
    )
    table.chain("nat-prerouting", "type nat hook prerouting priority -100").add("jump services")
    table.chain("nat-output", "type nat hook output priority -100").add("jump services")
    filter_input = table.chain("filter-input", "type filter hook input priority 0")
    filter_input.add("ct state new jump nodeport-endpoints-check")
    filter_input.add("ct state new jump service-endpoints-check")
    for hook in ("forward", "output"):
        chain = table.chain(f"filter-{hook}", f"type filter hook {hook} priority 0")
        chain.add("ct state new jump service-endpoints-check")
        chain.add("ct state new jump cluster-ips-check")
    table.chain("nat-postrouting", "type nat hook postrouting priority 100").add("jump masquerading")


def _helper_chains(table: Table, service_cidr: str) -> None:
    services = table.chain("services")
    services.add(f"{_BY_ADDRESS_PORT} vmap @service-ips")
    services.add(f"{_BY_NODEPORT} vmap @service-nodeports")
    table.chain("firewall-check").add(f"{_BY_ADDRESS_PORT} vmap @firewall-ips")
    table.chain("service-endpoints-check").add(f"{_BY_ADDRESS_PORT} vmap @no-endpoint-services")
    table.chain("nodeport-endpoints-check").add(f"{_BY_NODEPORT} vmap @no-endpoint-nodeports")
    check = table.chain("cluster-ips-check")
    check.add(f'ip daddr @cluster-ips reject {comment("Reject traffic to invalid ports of ClusterIPs")}')
    check.add(f'ip daddr {service_cidr} drop {comment("Drop traffic to unallocated ClusterIPs")}')
    table.chain(REJECT_CHAIN).add(f'reject {comment("helper for @no-endpoint-services / @no-endpoint-nodeports")}')
    table.chain(MARK_FOR_MASQUERADE).add(f"meta mark set meta mark or {MASQUERADE_MARK}")
    masquerading = table.chain("masquerading")
    masquerading.add(f"meta mark & {MASQUERADE_MARK} == 0 return")
    masquerading.add(f"meta mark set meta mark xor {MASQUERADE_MARK}")
    masquerading.add("masquerade fully-random")
