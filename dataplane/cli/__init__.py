"""``dpctl``: the command line.  One module per command; this one wires them.

No traceback ever reaches a user.  Every ``DpctlError`` becomes its message on
stderr and its exit code (2 for bad input, 1 for a failed operation); click's
usage errors keep click's exit code 2.  Anything else is a bug in dpctl: it
is reported in one line that says so, and its traceback goes to a log file
the line names.  Commands that touch the kernel refuse to run without root
before they do anything.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback

import click

from dataplane.cli import (
    apply,
    capture,
    cordon,
    create,
    delete,
    doctor,
    down,
    exec_,
    get,
    mesh,
    scale,
    set_,
    status,
    trace,
    up,
    verify,
    zonal_shift,
    zone,
)
from dataplane.cli.context import CONTEXT_SETTINGS
from dataplane.errors import DpctlError

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="dpctl", prog_name="dpctl")
def cli() -> None:
    """Build a Kubernetes data plane from real kernel objects and look inside it."""


for command in (
    doctor.command,
    up.command,
    down.command,
    get.command,
    exec_.command,
    status.command,
    scale.command,
    delete.command,
    create.command,
    set_.command,
    apply.command,
    trace.command,
    mesh.command,
    capture.command,
    verify.command,
    zonal_shift.command,
    zone.command,
    cordon.cordon,
    cordon.uncordon,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except DpctlError as exc:
        click.echo(f"dpctl: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("dpctl: aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # e.g. "dpctl get pods | head": the reader left, nothing to say
        _silence_stdout()
        sys.exit(EXIT_FAILED)
    except Exception as exc:
        log = _write_crash_log()
        click.echo(
            f"dpctl: internal error (a bug in dpctl, please report it): {type(exc).__name__}: {exc}; "
            f"traceback in {log}",
            err=True,
        )
        sys.exit(EXIT_FAILED)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit-time flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _write_crash_log() -> str:
    """The current exception's traceback, with the command line, in a new file only its owner reads."""
    fd, path = tempfile.mkstemp(prefix=f"dpctl-crash-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"command: {' '.join(['dpctl', *sys.argv[1:]])!r}\n")
        traceback.print_exc(file=handle)
    return path
