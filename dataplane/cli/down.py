"""``dpctl down NAME|FILE`` and ``dpctl down --all``."""

from __future__ import annotations

import os
import sys

import click

from dataplane.cli.context import changing, require_root
from dataplane.errors import InputError, StateError
from dataplane.realize.teardown import running_names, teardown
from dataplane.state.store import emulation_name
from dataplane.topology.sources import Source, label, read_sources
from dataplane.topology.yamlsource import read_documents


def _name_from_inputs(sources: list[Source]) -> str:
    """The Topology name inside the input, read leniently: a file may have
    changed or broken since ``up`` (a later document, a bad value), and down
    must still work as long as the Topology's name can be read."""
    for source in sources:
        documents, _syntax = read_documents(source.text)
        for document in documents:
            data = document.data
            if isinstance(data, dict) and data.get("kind") == "Topology":
                metadata = data.get("metadata")
                name = metadata.get("name") if isinstance(metadata, dict) else None
                if name is not None:
                    return emulation_name(name, f"{source.name}: metadata.name")
    raise InputError(f"{label(sources)}: no Topology document with metadata.name")


def _looks_like_file(target: str) -> bool:
    return os.path.isfile(target) or target.endswith((".yaml", ".yml", ".json"))


@click.command("down")
@click.argument("target", required=False, metavar="NAME|FILE")
@click.option("-f", "--filename", "inputs", multiple=True, metavar="FILE|DIR|-", help="The input it was brought up with.")
@click.option("--all", "all_", is_flag=True, help="Remove every emulation on this machine.")
def command(target: str | None, inputs: tuple[str, ...], all_: bool) -> None:
    """Remove an emulation and everything it made (works after a crash too)."""
    if sum((target is not None, bool(inputs), all_)) != 1:
        raise click.UsageError("give one of NAME|FILE, -f FILE|DIR|- or --all")
    if all_:
        require_root("dpctl down")
        names = running_names()  # nothing up: nothing to say
    elif inputs or (target is not None and _looks_like_file(target)):
        names = [_name_from_inputs(read_sources([target] if target else list(inputs), stdin=sys.stdin.buffer))]
        require_root("dpctl down")
    else:
        names = [emulation_name(target, "NAME")]
        require_root("dpctl down")
    for name in names:
        with changing(name):
            report = teardown(name)
        if report.found_anything:
            click.echo(f"{name}: removed {report.namespaces} namespaces, stopped {report.processes} processes")
        elif not all_:  # with --all, one removed by someone else meanwhile is no error
            raise StateError(f"{name} is not up: no state directory, namespace or agent of it was found")
