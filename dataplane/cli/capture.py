"""``dpctl capture TARGET``: tcpdump for any interface of the emulation.

Packets are captured from inside the target's namespace (the kernel layer's
``Sniffer``), so the host's tcpdump, which cannot see into those namespaces
without ``ip netns exec``, is not needed, and the file written is one any
tool reads.  Without ``-w`` one line per packet is printed as it arrives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

import click

from dataplane.cli.context import Seconds, require_root, running_plan, topology_option
from dataplane.errors import DpctlError, StateError
from dataplane.kernel.sniff import CapturedPacket, Sniffer, SnifferError
from dataplane.topology.plan import Plan
from dataplane.topology.targets import resolve_place
from dataplane.verify.pcap import PcapFile

ALL_INTERFACES = "any"  # tcpdump's name for "every interface"
POLL_SECONDS = 0.5  # how often the wait loop wakes, so Ctrl-C is seen promptly


def resolve_target(plan: Plan, target: str) -> tuple[str, str | None]:
    """TARGET to (namespace, interface or None for all of them).

    ``node/NODE/IFACE`` or ``NODE/IFACE`` (a node name wins over a Kubernetes
    namespace of the same name), ``router/IFACE``, ``lb/IFACE``,
    ``external/IFACE`` and ``NAMESPACE/POD`` (the pod's eth0).  The
    interface ``any`` means every interface of that namespace.
    """
    parts = target.split("/")
    node_names = {n.name for n in plan.nodes}
    if len(parts) == 3 and parts[0] == "node" and all(parts):
        where, iface = f"node/{parts[1]}", parts[2]
        if parts[1] not in node_names:
            raise StateError(f"no node {parts[1]} in {plan.name} (nodes: {', '.join(sorted(node_names))})")
    elif len(parts) == 2 and all(parts):
        first, second = parts
        if first in node_names:
            where, iface = f"node/{first}", second
        elif first == "router":
            return plan.router_netns, _iface(second)
        elif first in ("lb", "external"):
            where, iface = first, second
        else:
            where, iface = target, "eth0"
    else:
        raise StateError(f"{target!r}: expected NODE/IFACE, NAMESPACE/POD, router/IFACE, lb/IFACE or external/IFACE")
    return resolve_place(plan, where), _iface(iface)


def _iface(name: str) -> str | None:
    return None if name == ALL_INTERFACES else name


def summary_line(captured: CapturedPacket) -> str:
    stamp = datetime.fromtimestamp(captured.time).strftime("%H:%M:%S.%f")
    return f"{stamp} {captured.iface} {captured.direction:<3} {captured.packet.summary()}"


def _print(batch: Sequence[CapturedPacket]) -> None:
    for captured in batch:
        click.echo(summary_line(captured))


def _capture(sniffer: Sniffer, emit: Callable[[Sequence[CapturedPacket]], None], count: int | None, duration: float | None) -> int:
    """Feed packets to ``emit`` as they arrive until ``count`` packets,
    ``duration`` seconds or Ctrl-C; how many were emitted."""
    deadline = None if duration is None else time.monotonic() + duration
    shown = 0

    def within_count(batch: list[CapturedPacket]) -> list[CapturedPacket]:
        return batch if count is None else batch[: count - shown]

    sniffer.start()
    try:
        while count is None or shown < count:
            wait = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
            if wait <= 0:
                break
            fresh = within_count(sniffer.take(wait))  # handed over, so memory stays flat
            emit(fresh)
            shown += len(fresh)
    except KeyboardInterrupt:
        pass
    finally:
        # What the kernel queued before the stop still belongs to the capture.
        rest = within_count(sniffer.stop())
    emit(rest)
    return shown + len(rest)


@click.command("capture")
@topology_option
@click.argument("target", metavar="TARGET")
@click.option("-w", "--write", "path", metavar="FILE", help="Write a capture file (pcapng if FILE ends in .pcapng, else pcap).")
@click.option("-f", "--filter", "bpf", metavar="FILTER", help="BPF filter, tcpdump syntax (e.g. 'tcp port 8080').")
@click.option("-c", "--count", type=click.IntRange(min=1), help="Stop after N packets.")
@click.option("-d", "--duration", type=Seconds(), metavar="SECONDS", help="Stop after S seconds.")
def command(
    topology: str | None, target: str, path: str | None, bpf: str | None, count: int | None, duration: float | None
) -> None:
    """Capture packets on an interface of the emulation until --count,
    --duration or Ctrl-C.

    TARGET is NODE/IFACE (or node/NODE/IFACE), NAMESPACE/POD (its eth0),
    router/IFACE, lb/IFACE or external/IFACE; IFACE 'any' captures every
    interface of that namespace.
    """
    require_root("dpctl capture")
    netns_name, iface = resolve_target(running_plan(topology), target)
    sniffer = Sniffer(netns_name, iface, bpf)
    try:
        if path is None:
            seen = _capture(sniffer, _print, count, duration)
        else:
            with PcapFile(path) as out:
                seen = _capture(sniffer, out.write, count, duration)
    except SnifferError as exc:
        raise DpctlError(str(exc)) from None
    where = f"{path}: " if path else ""
    click.echo(f"{where}{seen} packet{'s' if seen != 1 else ''} captured on {netns_name}:{iface or ALL_INTERFACES}", err=True)
