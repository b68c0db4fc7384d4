"""What every command shares: root checks, choosing the emulation, output."""

from __future__ import annotations

import json
import os
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from dataplane.build.state import StateDir
from dataplane.build.teardown import running_names
from dataplane.errors import DpctlError, StateError
from dataplane.topology.plan import Plan

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

topology_option = click.option(
    "-t",
    "--topology",
    "topology",
    envvar="DPCTL_TOPOLOGY",
    metavar="NAME",
    help="Which running emulation (default: the only one running). Env: DPCTL_TOPOLOGY.",
)

output_option = click.option(
    "-o", "--output", type=click.Choice(["table", "wide", "json"]), default="table", show_default=True
)


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise DpctlError(f"{action} needs root (network namespaces, netlink); run it with sudo")


def running_plan(topology: str | None) -> Plan:
    """The plan of the chosen emulation, or a clear error naming the choices."""
    if topology is None:
        names = running_names()
        if not names:
            raise StateError("no emulation is up; start one with 'dpctl up FILE'")
        if len(names) > 1:
            raise StateError(f"several emulations are up ({', '.join(names)}); choose one with -t NAME")
        topology = names[0]
    return StateDir(topology).load_plan()


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def print_table(columns: list[str], rows: list[list[Any]]) -> None:
    """A kubectl-like borderless table."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    # Never truncate cells (kubectl does not): long rows wrap in the terminal.
    Console(width=4096, soft_wrap=True).print(table)
