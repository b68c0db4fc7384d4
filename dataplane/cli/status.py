"""``dpctl status``: which emulations are up, and are their agents alive."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from dataplane.agent import ready
from dataplane.cli.context import print_json, print_table
from dataplane.errors import StateError
from dataplane.kernel import daemons, netns
from dataplane.realize.teardown import running_names
from dataplane.state.store import StateDir
from dataplane.topology import naming


def emulation_status(name: str) -> dict[str, Any]:
    state = StateDir(name)
    status = state.status()
    namespaces = len(netns.list_names(naming.prefix(name)))
    record: dict[str, Any] = {"name": name, "phase": status.get("phase", "unknown"), "namespaces": namespaces}
    try:
        plan = state.load_plan()
    except StateError:
        record["phase"] = "leftover" if namespaces else record["phase"]
        return record
    agents = {}
    for node in plan.nodes:
        status_file = ready.read(Path(state.path), node.name)
        agents[node.name] = bool(status_file and not status_file.errors and daemons.alive(status_file.pid))
    expected = len(plan.all_netns())
    healthy = record["phase"] == "up" and namespaces == expected and all(agents.values())
    record.update(
        source=plan.source,
        cni=plan.cni,
        nodes=len(plan.nodes),
        pods=len(plan.pods),
        agentsReady=sum(agents.values()),
        agents=agents,
        expectedNamespaces=expected,
        healthy=healthy,
        age=round(time.time() - float(status.get("since", time.time()))),
    )
    return record


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


@click.command("status")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def command(output: str) -> None:
    """Show every emulation on this machine and whether it is healthy."""
    records = [emulation_status(name) for name in running_names()]
    if output == "json":
        print_json(records)
        return
    if not records:
        click.echo("no emulation is up")
        return
    rows = []
    for r in records:
        agents = f"{r['agentsReady']}/{r['nodes']}" if "agents" in r else "-"
        health = "yes" if r.get("healthy") else "NO"
        rows.append(
            [r["name"], r["phase"], health, r.get("cni", "-"), r.get("nodes", "-"), r.get("pods", "-"),
             agents, r["namespaces"], _age(r["age"]) if "age" in r else "-", r.get("source", "-")]
        )
    print_table(["NAME", "PHASE", "HEALTHY", "CNI", "NODES", "PODS", "AGENTS", "NETNS", "AGE", "SOURCE"], rows)
