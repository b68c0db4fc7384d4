"""``dpctl``: the command line.  One module per command; this one wires them.

Every ``DpctlError`` becomes its message on stderr and its exit code -- never
a traceback.  Commands that touch the kernel refuse to run without root
before they do anything.
"""

from __future__ import annotations

import sys

import click

from dataplane.cli import apply, capture, delete, down, exec_, get, mesh, scale, set_, status, trace, up, verify
from dataplane.cli.context import CONTEXT_SETTINGS
from dataplane.errors import DpctlError


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="dpctl", prog_name="dpctl")
def cli() -> None:
    """Build a Kubernetes data plane from real kernel objects and look inside it."""


for command in (
    up.command,
    down.command,
    get.command,
    exec_.command,
    status.command,
    scale.command,
    delete.command,
    set_.command,
    apply.command,
    trace.command,
    mesh.command,
    capture.command,
    verify.command,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except DpctlError as exc:
        click.echo(f"dpctl: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("dpctl: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
