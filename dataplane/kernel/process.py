"""Starting and stopping processes that live inside an emulation namespace.

Commands run through ``ip netns exec``: besides entering the network
namespace it bind-mounts ``/etc/netns/<name>/*`` (the pod's resolv.conf), which
is what a pod's processes expect to see.  Each process leads its own process
group, so stopping it also stops whatever it forked, and a signal sent to the
caller's group (Ctrl-C in a terminal) does not reach it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from dataplane.kernel import netns

_POLL_S = 0.05


def spawn_in_netns(name: str, argv: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` inside namespace ``name``, stdout and stderr appended to ``log_path``.

    The namespace is checked first: a missing one must fail here, loudly,
    rather than as a line in a log nobody reads.
    """
    if not netns.exists(name):
        raise netns.NetnsError(errno.ENOENT, f"network namespace {name} does not exist")
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            ["ip", "netns", "exec", name, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def raise_open_files_limit() -> int:
    """Lift this process's soft open-files limit to its hard limit; the new limit.

    A node agent holds a few sockets per pod plus every open connection, so
    the usual soft limit of 1024 would end it at a few hundred pods.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _signal_groups(groups: set[int], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)


def _live_groups() -> set[int]:
    """Process groups that have a member which is not a zombie.

    A zombie holds no namespace, socket or file any more; waiting for init to
    reap orphaned ones would only add its reaping delay to every stop.
    """
    groups = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            if state != "Z":
                groups.add(int(pgrp))
    return groups


def _wait_groups_dead(groups: set[int], timeout: float) -> set[int]:
    """Wait up to ``timeout`` for these groups to end; the ones still alive."""
    deadline = time.monotonic() + timeout
    while (alive := groups & _live_groups()) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    return alive


def stop_groups(procs: Sequence[subprocess.Popen[bytes]], grace: float = 2.0) -> None:
    """SIGTERM every process group, SIGKILL what is left after ``grace`` seconds.

    All groups share one deadline, so stopping many costs ``grace`` at most,
    not ``grace`` each.  Leaders are reaped only at the end: while a leader is
    unreaped its pid, and so its group id, cannot be reused by an unrelated
    process that a late signal would then hit.
    """
    groups = {proc.pid for proc in procs}
    _signal_groups(groups, signal.SIGTERM)
    stubborn = _wait_groups_dead(groups, grace)
    _signal_groups(stubborn, signal.SIGKILL)
    _wait_groups_dead(stubborn, grace)
    for proc in procs:
        proc.wait()
