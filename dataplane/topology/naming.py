"""Names of the kernel objects an emulation creates.

Every network namespace of topology ``T`` is called ``dp-T.<something>``.  The
dot cannot appear in a topology name (a DNS label), so ``dp-T.`` is a prefix no
other emulation can share: ``down`` sweeps exactly that prefix even when its
state directory is gone, and two emulations never collide.

* node      ``dp-T.<node>``          node names are DNS labels (no dots)
* pod       ``dp-T.<ns>.<pod>``       always has a second dot, so never a node
* router    ``dp-T.vpc``              ``vpc`` and the other infrastructure
  names are reserved and refused as node names.

Interface names must fit IFNAMSIZ-1 = 15 bytes, and names that become file
names (``/run/netns/<netns>``, ``/etc/netns/<netns>``, a container's log, a
service account's certificate directory) NAME_MAX = 255 bytes: Kubernetes
allows a 63-character namespace with a 253-character pod name.  Readable names
are kept when they fit; otherwise the name is cut and a stable hash of the
whole keeps it unique and deterministic, with its leading part -- the
emulation's prefix, the namespace -- intact.
"""

from __future__ import annotations

import hashlib

NETNS_ROOT = "dp-"
IFNAME_MAX = 15
FILENAME_MAX = 255  # NAME_MAX: the longest file name Linux accepts, in bytes
ROUTER = "vpc"
EXTERNAL = "external"
LOADBALANCER = "lb"
RESERVED_NODE_NAMES = frozenset({ROUTER, EXTERNAL, LOADBALANCER})
# Fixed interface names the fabric makes and the hop model expects to see.
VXLAN_IFACE = "vxlan0"  # each node's VTEP in overlay mode
LB_PUBLIC_IFACE = "eth0"  # the load balancer's side of the public segment
LB_TRANSIT_IFACE = "eth1"  # the load balancer's side of the transit link
ROUTER_LB_IFACE = "lb0"  # the VPC router's side of the transit link


def prefix(topology: str) -> str:
    """The name prefix shared by every namespace of one emulation."""
    return f"{NETNS_ROOT}{topology}."


def node_netns(topology: str, node: str) -> str:
    return f"{prefix(topology)}{node}"


def pod_netns(topology: str, namespace: str, pod: str) -> str:
    return fit_file_name(f"{prefix(topology)}{namespace}.{pod}")


def infra_netns(topology: str, role: str) -> str:
    return f"{prefix(topology)}{role}"


def topology_of_netns(netns: str) -> str | None:
    """The topology a namespace name belongs to, or None if it is not ours."""
    if not netns.startswith(NETNS_ROOT) or "." not in netns:
        return None
    return netns[len(NETNS_ROOT) :].split(".", 1)[0] or None


def short_hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def fit_file_name(name: str, suffix: str = "") -> str:
    """``name + suffix`` when it fits a file name, else a cut ``name``, ``-``, 12 hex
    digits of its hash, then ``suffix``.  Names are ASCII (Kubernetes names are)."""
    if len(f"{name}{suffix}".encode()) <= FILENAME_MAX:
        return f"{name}{suffix}"
    keep = FILENAME_MAX - len(suffix.encode()) - 13
    return f"{name[:keep]}-{short_hash(name, 12)}{suffix}"


def ifname(lead: str, name: str) -> str:
    """``lead + name`` when it fits 15 bytes, else ``lead + cut name + hash``."""
    full = f"{lead}{name}"
    if len(full.encode()) <= IFNAME_MAX:
        return full
    keep = IFNAME_MAX - len(lead) - 5
    return f"{lead}{name[:keep]}-{short_hash(name, 4)}"


def pod_host_iface(namespace: str, pod: str) -> str:
    """Node-side end of a pod's veth: ``pv`` + 11 hex digits, unique per pod."""
    return f"pv{short_hash(f'{namespace}/{pod}', 11)}"


def node_router_iface(node: str) -> str:
    """Router-side end of a node's eth0 veth."""
    return ifname("n-", node)


def subnet_bridge(subnet: str) -> str:
    return ifname("br-", subnet)
