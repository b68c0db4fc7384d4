"""The kernel features dpctl uses, probed for real inside a namespace made for it.

``probe_inside(name, tools)`` runs in the probe namespace ``preflight`` made
(and always removes): a veth pair, a bridge with a port and a VXLAN device;
every nftables expression dpctl's rulesets use, in one ``nft -f`` transaction
and then one by one to name a refused one; a real connection through
``redirect to :port`` read back with ``SO_ORIGINAL_DST``; ``conntrack -L``;
and an ``IP_TRANSPARENT`` bind.  Nothing here touches the host's namespace.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dataplane.kernel import netns, nft
from dataplane.kernel.links import NamespaceConfig, NetlinkError
from dataplane.kernel.machinecheck import MISSING, OK, Check, module_remedy, needs_tools

# The redirect probe: a connection to 127.0.0.2:9 must arrive at a listener on
# 127.0.0.1:15001 (the ztunnel's outbound port), as in-pod capture needs.
PROBED = ("127.0.0.2", 9)
REDIRECT_PORT = 15001
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; Python's socket module lacks it
NONLOCAL_ADDRESS = "198.51.100.1"  # TEST-NET-2: never an address of the probe namespace


def probe_inside(name: str, tools: set[str]) -> list[Check]:
    """Every feature probe in namespace ``name``, in ``preflight.PROBES`` order after
    the namespace itself; ``tools`` are the commands found on PATH."""
    with NamespaceConfig(name) as config:
        checks = _link_checks(config)
        config.up("lo")
    nft_tools = {"nft", "nsenter"} <= tools
    with _listener(name) as listener:
        refused = nft_refusals(name) if nft_tools else None
        checks.append(nf_tables_check(refused))
        checks.append(_redirect_check(name, listener, refused))
    checks.append(
        _conntrack_check(name)
        if {"conntrack", "nsenter"} <= tools
        else needs_tools("conntrack -L", "conntrack and nsenter")
    )
    checks.append(_transparent_check(name))
    return checks


def _link_checks(config: NamespaceConfig) -> list[Check]:
    """A veth pair (both ends here), a bridge with one of them as a port, and a
    VXLAN device on lo: the three link kinds the fabric is made of."""
    veth = _link_check("veth", "veth", "a veth pair", lambda: _veth(config))
    bridge = _link_check("bridge", "bridge", "a bridge", lambda: _bridge(config, veth.status == OK))
    vxlan = _link_check("vxlan", "vxlan", "a VXLAN device (VNI 1, UDP 4789)", lambda: _vxlan(config))
    return [veth, bridge, vxlan]


def _link_check(check: str, module: str, made: str, make: Callable[[], str]) -> Check:
    try:
        return Check(check, OK, f"made {made}{make()}")
    except (NetlinkError, OSError) as exc:
        return Check(check, MISSING, f"the kernel refused {made}: {_netlink_reason(exc)}", module_remedy(module))


def _netlink_reason(exc: Exception) -> str:
    code = getattr(exc, "code", None) or getattr(exc, "errno", None)
    return os.strerror(code) if isinstance(code, int) and code > 0 else str(exc)


def _veth(config: NamespaceConfig) -> str:
    config.veth("doctor0", "doctor1", config.netns)
    config.up("doctor0")
    config.up("doctor1")
    return ""


def _bridge(config: NamespaceConfig, with_port: bool) -> str:
    config.bridge("doctorbr")
    config.up("doctorbr")
    if not with_port:
        return ""
    config.set_master("doctor1", "doctorbr")
    return " with a veth port"


def _vxlan(config: NamespaceConfig) -> str:
    config.vxlan("doctorvx", vni=1, local="127.0.0.1", dev="lo", port=4789, mac="02:00:00:00:00:01", mtu=1450)
    config.up("doctorvx")
    return ""


# -- nftables ----------------------------------------------------------------


@dataclass(frozen=True)
class NftProbe:
    """One expression dpctl's rulesets use, written as they write it, in a table of its own."""

    expression: str
    modules: tuple[str, ...]  # the kernel modules that provide it (nf_tables: built into the core)
    body: str
    family: str = "ip"

    def text(self, index: int) -> str:
        return f"table {self.family} dpctl-doctor-{index} {{\n{self.body}\n}}\n"


def _hook(name: str, kind: str, hook: str, priority: str, *rules: str) -> str:
    """A base chain, one statement a line (nft 1.0.6 refuses ``redirect to :N }``)."""
    lines = "".join(f"\t\t{rule}\n" for rule in rules)
    return f"\tchain {name} {{\n\t\ttype {kind} hook {hook} priority {priority}; policy accept;\n{lines}\t}}\n"


_TARGET = "\tchain target {\n\t\taccept\n\t}\n"
NFT_PROBES = (
    NftProbe("tables and base chains", ("nf_tables",), _hook("input", "filter", "input", "0", "tcp dport 80 accept")),
    NftProbe("nat chains", ("nft_chain_nat",), _hook("prerouting", "nat", "prerouting", "-100")),
    NftProbe(
        "verdict maps (vmap)",
        ("nf_tables",),
        _TARGET
        + "\tmap addresses {\n\t\ttype ipv4_addr : verdict\n\t\telements = { 10.96.0.1 : goto target }\n\t}\n"
        + _hook("prerouting", "filter", "prerouting", "-110", "ip daddr vmap @addresses"),
    ),
    NftProbe(
        "concatenations (ip daddr . meta l4proto . th dport)",
        ("nf_tables",),
        _TARGET
        + "\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
        + "\t\telements = { 10.96.0.1 . tcp . 80 : goto target }\n\t}\n"
        + _hook("prerouting", "filter", "prerouting", "-110", "ip daddr . meta l4proto . th dport vmap @service-ips"),
    ),
    NftProbe(
        "numgen random",
        ("nft_numgen",),
        _TARGET
        + "\tmap endpoints {\n\t\ttypeof numgen random mod 2 : verdict\n"
        + "\t\telements = { 0 : goto target, 1 : goto target }\n\t}\n"
        + _hook("prerouting", "filter", "prerouting", "-110", "numgen random mod 2 vmap @endpoints"),
    ),
    NftProbe(
        "dnat",
        ("nft_nat",),
        "\tchain endpoint {\n\t\tmeta l4proto tcp dnat to 10.0.0.1:8080\n\t}\n"
        + _hook("prerouting", "nat", "prerouting", "-100", "ip daddr 10.96.0.1 tcp dport 80 jump endpoint"),
    ),
    NftProbe(
        "dnat ip to numgen random mod N map",
        ("nft_nat", "nft_numgen"),
        _hook(
            "prerouting",
            "nat",
            "prerouting",
            "-100",
            "ip daddr 203.0.113.130 tcp dport 80 dnat ip to numgen random mod 2 map "
            "{ 0 : 192.168.1.4 . 30080, 1 : 192.168.2.4 . 30080 }",
        ),
    ),
    NftProbe(
        "masquerade",
        ("nft_masq",),
        _hook(
            "postrouting",
            "nat",
            "postrouting",
            "100",
            "meta mark & 0x4000 == 0 return",
            "meta mark set meta mark xor 0x4000",
            "masquerade fully-random",
        ),
    ),
    NftProbe(
        "reject",
        ("nft_reject_ipv4",),
        _hook("input", "filter", "input", "0", 'ip daddr 10.96.0.1 reject comment "no endpoints"')
        + _hook("prerouting", "filter", "prerouting", "-110", "ip daddr 203.0.113.130 tcp dport 80 reject"),
    ),
    NftProbe(
        "fib saddr type local",
        ("nft_fib_ipv4",),
        _hook("prerouting", "nat", "prerouting", "-100", "fib saddr type local accept", "fib daddr type local accept"),
    ),
    NftProbe(
        "ct mark, meta mark",
        ("nft_ct",),
        _hook(
            "prerouting",
            "filter",
            "prerouting",
            "mangle",
            "ct state new meta mark & 0xfff == 0x539 ct mark set ct mark & 0xfffff000 | 0x111",
            "meta mark set meta mark or 0x4000",
        )
        + _hook("output", "route", "output", "mangle", "ct mark & 0xfff == 0x111 meta mark set ct mark"),
        family="inet",
    ),
    NftProbe(
        "redirect",
        ("nft_redir",),
        _hook(
            "output",
            "nat",
            "output",
            "-100",
            f"meta l4proto tcp ip daddr != 127.0.0.1 tcp dport {PROBED[1]} meta mark & 0xfff != 0x539 "
            f"redirect to :{REDIRECT_PORT}",
        ),
        family="inet",
    ),
    NftProbe(
        "sets with timeout",
        ("nf_tables",),
        "\tset affinity {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout 10800s\n\t}\n"
        + _hook(
            "prerouting", "filter", "prerouting", "0", "ip saddr @affinity accept", "update @affinity { ip saddr }"
        ),
    ),
)


KERNEL_REFUSAL = "Could not process rule"  # how nft reports an errno from the kernel


def nft_refusals(name: str) -> dict[str, str]:
    """Expressions nft or the kernel refused in namespace ``name`` (empty: all
    accepted).  All of them go in one transaction; only when that fails is each
    applied alone, to name exactly which one is missing."""
    try:
        nft.apply(name, "".join(probe.text(i) for i, probe in enumerate(NFT_PROBES)))
        return {}
    except nft.NftError as exc:
        together = _nft_diagnostic(str(exc))
    refused = {}
    for i, probe in enumerate(NFT_PROBES):
        try:
            nft.apply(name, probe.text(i))
        except nft.NftError as exc:
            refused[probe.expression] = _nft_diagnostic(str(exc))
    return refused or {"all expressions in one transaction": together}


def _nft_diagnostic(message: str) -> str:
    """nft's first ``Error:`` line, without the file position noise."""
    for line in message.splitlines():
        if "Error:" in line:
            return line[line.index("Error:") :]
    return message.splitlines()[-1] if message else "refused"


def nf_tables_check(refused: dict[str, str] | None) -> Check:
    """The verdict on ``nft_refusals`` (None: nft could not be run)."""
    if refused is None:
        return needs_tools("nf_tables", "nft and nsenter")
    if not refused:
        expressions = ", ".join(probe.expression for probe in NFT_PROBES[2:])
        return Check("nf_tables", OK, f"accepted in one transaction: {expressions}")
    found = "refused: " + "; ".join(f"{expression} ({why})" for expression, why in refused.items())
    return Check("nf_tables", MISSING, found, nft_remedy(refused))


def nft_remedy(refused: dict[str, str]) -> str:
    """The kernel's refusals name a missing module; any other error is nft's own
    (a version that cannot parse what dpctl writes)."""
    remedies = []
    if any(KERNEL_REFUSAL not in why for why in refused.values()):
        remedies.append(
            "this nft cannot parse dpctl's rulesets: apt-get install nftables, "
            "version 1.0.6 (Debian 12) or later (Ubuntu 24.04 has 1.0.9)"
        )
    by_kernel = [p for p in NFT_PROBES if KERNEL_REFUSAL in refused.get(p.expression, "")]
    if by_kernel or not remedies:
        remedies.append(module_remedy(*dict.fromkeys(m for p in by_kernel for m in p.modules) or ("nf_tables",)))
    return "; ".join(remedies)


# -- sockets and conntrack ----------------------------------------------------


@contextlib.contextmanager
def _listener(name: str) -> Iterator[socket.socket]:
    """The socket the redirect probe's connection must reach, made inside ``name``."""
    with netns.socket_in(name, socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", REDIRECT_PORT))
        listener.listen(1)
        listener.settimeout(1)
        yield listener


def _redirect_check(name: str, listener: socket.socket, refused: dict[str, str] | None) -> Check:
    """A real connection through ``redirect to :port``: it must arrive at the
    listener, which reads the original destination back (SO_ORIGINAL_DST), as
    the ztunnel's outbound port does."""
    if refused is None:
        return needs_tools("redirect", "nft and nsenter")
    if "redirect" in refused:
        return Check("redirect", MISSING, "nft refused 'redirect to :port'", module_remedy("nft_redir"))
    try:
        with netns.socket_in(name, socket.AF_INET, socket.SOCK_STREAM) as client:
            client.settimeout(1)
            client.connect(PROBED)
            accepted, _ = listener.accept()
            with accepted:
                original = accepted.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    except OSError as exc:
        found = f"a connection to {PROBED[0]}:{PROBED[1]} was not redirected: {exc.strerror or exc}"
        return Check("redirect", MISSING, found, module_remedy("nft_redir", "nf_nat"))
    port, address = struct.unpack("!2xH4s8x", original)
    found = (
        f"a connection to {PROBED[0]}:{PROBED[1]} arrived at :{REDIRECT_PORT}, "
        f"original destination {socket.inet_ntoa(address)}:{port}"
    )
    return Check("redirect", OK, found)


def _conntrack_check(name: str) -> Check:
    """``conntrack -L`` inside the probe namespace, as dpctl's UDP clean-up
    runs it; the flow of the redirect probe is usually listed."""
    try:
        result = subprocess.run(
            ["nsenter", f"--net={netns.path(name)}", "conntrack", "-L"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        why = "no answer within 10 s"
    else:
        if result.returncode == 0:
            return Check("conntrack -L", OK, f"listed the probe namespace's flows ({len(result.stdout.splitlines())})")
        why = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
    found = f"cannot list the probe namespace's flows: {why}"
    return Check("conntrack -L", MISSING, found, module_remedy("nf_conntrack_netlink"))


def _transparent_check(name: str) -> Check:
    """IP_TRANSPARENT, which lets the ztunnel dial from the client's own address:
    with it a socket binds an address the namespace does not have."""
    try:
        with netns.socket_in(name, socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_IP, socket.IP_TRANSPARENT, 1)
            sock.bind((NONLOCAL_ADDRESS, 0))
    except OSError as exc:
        found = f"cannot bind {NONLOCAL_ADDRESS} with it: {exc.strerror or exc}"
        return Check(
            "IP_TRANSPARENT",
            MISSING,
            found,
            "it needs CAP_NET_ADMIN: run as root (a container needs --cap-add NET_ADMIN)",
        )
    return Check("IP_TRANSPARENT", OK, f"a socket with it bound {NONLOCAL_ADDRESS}, an address the namespace lacks")
