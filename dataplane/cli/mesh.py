"""``dpctl mesh ...``: the ambient mesh's view of an emulation."""

from __future__ import annotations

import dataclasses

import click

from dataplane.cli.context import (
    changing,
    chosen_name,
    input_limits,
    print_json,
    print_table,
    require_root,
    running_plan,
    topology_option,
)
from dataplane.errors import StateError
from dataplane.realize.identities import store_for


@click.group("mesh")
def command() -> None:
    """Identities, workloads and policies of the ambient mesh."""


@command.command("certs")
@topology_option
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def certs(topology: str | None, output: str) -> None:
    """The root CA and every workload certificate (like istioctl ztunnel-config certificates)."""
    require_root("dpctl mesh certs")
    rows = store_for(running_plan(topology)).listing()
    if output == "json":
        print_json(
            [
                {
                    "name": r.name,
                    "type": r.type,
                    "spiffeId": r.spiffe_id,
                    "status": r.status,
                    "serial": r.serial,
                    "notBefore": r.not_before.isoformat(),
                    "notAfter": r.not_after.isoformat(),
                }
                for r in rows
            ]
        )
        return
    print_table(
        ["CERTIFICATE NAME", "TYPE", "STATUS", "SPIFFE ID", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"],
        [
            [r.name, r.type, r.status, r.spiffe_id or "-", r.serial, f"{r.not_after:%Y-%m-%dT%H:%M:%SZ}",
             f"{r.not_before:%Y-%m-%dT%H:%M:%SZ}"]
            for r in rows
        ],
    )


def _set_mode(topology: str | None, namespace: str, enrolled: bool) -> None:
    """Label (or unlabel) NAMESPACE ambient: a live change like any other, kept in the overrides."""
    from dataplane.mesh.enrollment import AMBIENT, DATAPLANE_MODE
    from dataplane.realize.live import change

    verb = "enroll" if enrolled else "unenroll"
    require_root(f"dpctl mesh {verb}")
    with changing(chosen_name(topology)) as state:
        plan = state.load_plan()
        if namespace not in {ns.name for ns in plan.namespaces}:
            raise StateError(f"no namespace {namespace!r} in {plan.name}")
        overrides = state.load_overrides()
        mode = AMBIENT if enrolled else None
        labels = {**overrides.labels, namespace: {**overrides.labels.get(namespace, {}), DATAPLANE_MODE: mode}}
        done = change(state, plan, dataclasses.replace(overrides, labels=labels), limits=input_limits())
    click.echo(f"namespace {namespace} {verb}ed ({done.seconds * 1000:.0f} ms)")


@command.command("enroll")
@topology_option
@click.argument("namespace")
def enroll(topology: str | None, namespace: str) -> None:
    """Label NAMESPACE istio.io/dataplane-mode=ambient: its pods join the mesh live."""
    _set_mode(topology, namespace, True)


@command.command("unenroll")
@topology_option
@click.argument("namespace")
def unenroll(topology: str | None, namespace: str) -> None:
    """Remove NAMESPACE's ambient label: its pods leave the mesh; open connections carry on."""
    _set_mode(topology, namespace, False)


@command.command("workloads")
@topology_option
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def workloads(topology: str | None, output: str) -> None:
    """Every pod and whether the mesh carries it (like istioctl ztunnel-config workloads)."""
    from dataplane.mesh.ztunnel.workloads import workload_rows

    rows = workload_rows(running_plan(topology))
    if output == "json":
        print_json(
            [
                {"namespace": r.namespace, "name": r.pod, "address": r.address, "node": r.node,
                 "waypoint": r.waypoint, "protocol": r.protocol}
                for r in rows
            ]
        )
        return
    print_table(
        ["NAMESPACE", "POD NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL"],
        [[r.namespace, r.pod, r.address, r.node, r.waypoint, r.protocol] for r in rows],
    )


@command.command("waypoints")
@topology_option
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def waypoints(topology: str | None, output: str) -> None:
    """Every waypoint, its pod, and what is bound to it (like istioctl waypoint list, with the bindings)."""
    from dataplane.mesh.waypoints import waypoint_rows

    rows = waypoint_rows(running_plan(topology))
    if output == "json":
        print_json([dataclasses.asdict(r) for r in rows])
        return
    print_table(
        ["NAMESPACE", "NAME", "FOR", "POD", "ADDRESS", "SERVES"],
        [[r.namespace, r.name, r.traffic_for, r.pod or "<none>", r.address or "-", ", ".join(r.serves) or "-"]
         for r in rows],
    )
    refused = [(r, b) for r in rows for b in r.refused]
    for row, binding in refused:
        click.echo(f"{row.namespace}/{row.name}: {binding}", err=True)


@command.command("policies")
@topology_option
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def policies(topology: str | None, output: str) -> None:
    """The AuthorizationPolicies the ztunnels enforce (like istioctl ztunnel-config policies)."""
    from dataplane.mesh.authz import scope

    plan = running_plan(topology)
    rows = [(p.namespace, p.name, p.action.capitalize(), scope(p, plan)) for p in plan.authorization_policies]
    if output == "json":
        print_json([{"namespace": n, "name": m, "action": a, "scope": s} for n, m, a, s in rows])
        return
    print_table(["NAMESPACE", "POLICY NAME", "ACTION", "SCOPE"], [list(r) for r in rows])


def _expositions(topology: str | None, node: str | None) -> dict[str, str]:
    """Each chosen node's ztunnel metrics text, scraped from inside the node."""
    from dataplane.mesh.scrape import scrape

    plan = running_plan(topology)
    names = [n.name for n in plan.nodes]
    if node is not None and node not in names:
        raise click.BadParameter(f"no node {node!r} (nodes: {', '.join(names)})", param_hint="NODE")
    return {n.name: scrape(n.netns) for n in plan.nodes if node is None or n.name == node}


@command.command("metrics")
@topology_option
@click.argument("node", required=False)
def metrics(topology: str | None, node: str | None) -> None:
    """The ztunnel metrics (Prometheus text) of NODE, or of every node one after another."""
    require_root("dpctl mesh metrics")
    texts = _expositions(topology, node)
    for name, text in texts.items():
        if node is None:
            click.echo(f"# node {name}")
        click.echo(text, nl=False)


@command.command("graph")
@topology_option
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
    help="Where to draw the graph: .svg or .png (needs Graphviz), or .dot for the DOT text.",
)
@click.option(
    "--waypoints", "show_waypoints", is_flag=True,
    help="Draw L7 edges through their waypoint (Kiali's 'Waypoint proxies'); by default they go straight "
    "from client to backend and name the waypoint.",
)
def graph(topology: str | None, output: str, show_waypoints: bool) -> None:
    """Draw the mesh's traffic graph: L4 edges from every ztunnel's metrics (connections, bytes, mTLS) and
    L7 edges from the waypoints' (requests, response codes, latency).  Counts are totals since the agents
    started, from one scrape."""
    from pathlib import Path

    from dataplane.mesh.graph import Workload, build_graph, through_waypoints
    from dataplane.mesh.graphdot import render, to_dot
    from dataplane.mesh.metrics import workload_name
    from dataplane.mesh.promtext import parse
    from dataplane.mesh.waypoints import is_waypoint_pod

    require_root("dpctl mesh graph")
    waypoints = {Workload(p.namespace, workload_name(p)) for p in running_plan(topology).pods if is_waypoint_pod(p)}
    samples = [s for text in _expositions(topology, None).values() for s in parse(text)]
    traffic = build_graph(samples, waypoints)
    dot = to_dot(through_waypoints(traffic) if show_waypoints else traffic)
    if output.lower().endswith(".dot"):
        Path(output).write_text(dot)
    else:
        render(dot, output)
    l7 = f", {len(traffic.requests)} L7 edges" if traffic.requests else ""
    click.echo(f"{output}: {len(traffic.nodes)} workloads, {len(traffic.edges)} edges{l7}")
