"""``dpctl down NAME|FILE`` and ``dpctl down --all``."""

from __future__ import annotations

import os

import click
import yaml

from dataplane.build.teardown import running_names, teardown
from dataplane.cli.context import require_root
from dataplane.errors import DpctlError


def _name_from_file(path: str) -> str:
    """The Topology name inside a file, read leniently: the file may have
    changed or broken since ``up``, and down must still work."""
    try:
        with open(path) as handle:
            for doc in yaml.safe_load_all(handle):
                if isinstance(doc, dict) and doc.get("kind") == "Topology":
                    name = (doc.get("metadata") or {}).get("name")
                    if isinstance(name, str) and name:
                        return name
    except (OSError, yaml.YAMLError) as exc:
        raise DpctlError(f"{path}: cannot read the topology name: {exc}") from None
    raise DpctlError(f"{path}: no Topology document with metadata.name")


@click.command("down")
@click.argument("target", required=False, metavar="NAME|FILE")
@click.option("--all", "all_", is_flag=True, help="Remove every emulation on this machine.")
def command(target: str | None, all_: bool) -> None:
    """Remove an emulation and everything it made (works after a crash too)."""
    if bool(target) == all_:
        raise click.UsageError("give either NAME|FILE or --all")
    require_root("dpctl down")
    if target is None:
        names = running_names()
    elif os.path.isfile(target) or target.endswith((".yaml", ".yml")):
        names = [_name_from_file(target)]
    else:
        names = [target]
    if not names:
        click.echo("nothing to remove")
    for name in names:
        report = teardown(name)
        if report.namespaces == 0 and not report.state_removed:
            click.echo(f"{name}: nothing to remove")
        else:
            click.echo(f"{name}: removed {report.namespaces} namespaces, stopped {report.processes} processes")
