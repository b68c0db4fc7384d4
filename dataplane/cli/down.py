"""``dpctl down NAME|FILE`` and ``dpctl down --all``."""

from __future__ import annotations

import os

import click

from dataplane.build.teardown import running_names, teardown
from dataplane.cli.context import changing, require_root
from dataplane.errors import InputError, StateError
from dataplane.state.store import emulation_name
from dataplane.topology import read_topology
from dataplane.topology.yamlsource import read_documents


def _name_from_file(path: str) -> str:
    """The Topology name inside a file, read leniently: the file may have
    changed or broken since ``up`` (a later document, a bad value), and down
    must still work as long as the Topology's name can be read."""
    documents, _syntax = read_documents(read_topology(path))
    for document in documents:
        data = document.data
        if isinstance(data, dict) and data.get("kind") == "Topology":
            metadata = data.get("metadata")
            name = metadata.get("name") if isinstance(metadata, dict) else None
            if name is not None:
                return emulation_name(name, f"{path}: metadata.name")
    raise InputError(f"{path}: no Topology document with metadata.name")


def _looks_like_file(target: str) -> bool:
    return os.path.isfile(target) or target.endswith((".yaml", ".yml", ".json"))


@click.command("down")
@click.argument("target", required=False, metavar="NAME|FILE")
@click.option("--all", "all_", is_flag=True, help="Remove every emulation on this machine.")
def command(target: str | None, all_: bool) -> None:
    """Remove an emulation and everything it made (works after a crash too)."""
    if (target is not None) == all_:
        raise click.UsageError("give either NAME|FILE or --all")
    if target is None:
        require_root("dpctl down")
        names = running_names()  # nothing up: nothing to say
    else:
        names = [_name_from_file(target) if _looks_like_file(target) else emulation_name(target, "NAME")]
        require_root("dpctl down")
    for name in names:
        with changing(name):
            report = teardown(name)
        if report.found_anything:
            click.echo(f"{name}: removed {report.namespaces} namespaces, stopped {report.processes} processes")
        elif not all_:  # with --all, one removed by someone else meanwhile is no error
            raise StateError(f"{name} is not up: no state directory, namespace or agent of it was found")
