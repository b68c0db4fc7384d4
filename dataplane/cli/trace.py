"""``dpctl trace SRC DST``: send one real probe and show what the kernel did to it.

The probe is a real connect (or datagram) from inside SRC with nftables
tracing on in every namespace it may cross, so what is shown is what the
kernel did -- the Service chain, the endpoint the random choice picked, the
DNAT, the masquerade, the reject -- not a simulation of the rules.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator

import click

from dataplane.cli.context import Seconds, print_json, print_table, require_root, running_plan, topology_option
from dataplane.errors import DpctlError
from dataplane.kernel import nft, nftrace
from dataplane.kernel.probe import Probe, ProbeResult
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan
from dataplane.topology.targets import resolve_place
from dataplane.trace import report, ruleset, targets


@contextlib.contextmanager
def one_trace_at_a_time(plan: Plan, wait: float = 10.0) -> Iterator[None]:
    """Every trace of an emulation uses the same table name in the same
    namespaces, so a second trace would replace the first one's table: they
    take turns on a lock file in the state directory."""
    fd = os.open(os.path.join(StateDir(plan.name).path, "trace.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DpctlError(f"another dpctl trace is running in {plan.name}; try again") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def run_probe(
    plan: Plan, src_netns: str, destination: targets.Destination, timeout: float
) -> tuple[int, ProbeResult, dict[str, list[str]]]:
    """Probe with tracing on; the source port, the probe's result, the monitor lines."""
    with Probe(src_netns, destination.proto, avoid=targets.used_ports(plan)) as probe:
        peers = [(ip, destination.proto, port) for ip, port in destination.peers]
        table = ruleset.render(probe.port, destination.proto, peers)
        namespaces = targets.watchers(plan, src_netns, destination)
        with nftrace.TraceSession(namespaces, ruleset.TABLE, table) as session:
            result = probe.send(destination.ip, destination.port, timeout)
            session.settle()
            return probe.port, result, session.lines()


@click.command("trace")
@topology_option
@click.argument("src", metavar="SRC")
@click.argument("dst", metavar="DST")
@click.option("--proto", type=click.Choice(["tcp", "udp"]), help="Default: the protocol of the port probed.")
@click.option("--timeout", type=Seconds(maximum=3600.0), default=2.0, show_default=True, help="Seconds to wait for an answer.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def command(topology: str | None, src: str, dst: str, proto: str | None, timeout: float, output: str) -> None:
    """Send one probe from SRC to DST and show every hop nftables saw.

    \b
    SRC: NS/POD, node/NAME or external.
    DST: NS/POD[:PORT], svc/NS/NAME[:PORT] (ClusterIP), lb/NS/NAME[:PORT]
         (LoadBalancer VIP), node/NAME:PORT (NodePort) or IP:PORT.
    """
    require_root("dpctl trace")
    plan = running_plan(topology)
    src_netns = resolve_place(plan, src)
    destination = targets.resolve_destination(plan, dst, proto)
    try:
        with one_trace_at_a_time(plan):
            sport, result, lines = run_probe(plan, src_netns, destination, timeout)
    except (nftrace.TraceError, nft.NftError) as error:
        raise DpctlError(f"trace failed: {error}") from error
    done = report.build(
        source=src,
        source_netns=src_netns,
        destination=destination,
        sport=sport,
        probe=(result.outcome, result.detail, result.seconds),
        raw=lines,
        labels=report.netns_labels(plan),
    )
    if output == "json":
        print_json(report.as_dict(done))
    else:
        print_report(done)


def print_report(done: report.Report) -> None:
    dest = done.destination
    click.echo(f"trace {done.source} -> {dest.label} {dest.ip}:{dest.port}/{dest.proto}, source port {done.sport}")
    print_table(report.COLUMNS, report.rows(done))
    click.echo(f"probe: {done.probe_text()}")
    click.echo(f"verdict: {done.verdict_text()}")
