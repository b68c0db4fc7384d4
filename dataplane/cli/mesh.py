"""``dpctl mesh ...``: the ambient mesh's view of an emulation."""

from __future__ import annotations

import click

from dataplane.build.identities import store_for
from dataplane.cli.context import print_json, print_table, require_root, running_plan, topology_option


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
