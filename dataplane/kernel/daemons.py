"""Finding and stopping every process of an emulation.

``down`` must work after ``kill -9`` and without a state directory, so it
never relies on a pid file: it looks for every process with a thread inside
one of the emulation's namespaces, and for node agents whose command line
gives the emulation's state directory as ``--state-dir`` (an agent whose node
namespace is already gone).  Namespace names are machine-wide while state
roots are not (``DPCTL_STATE_ROOT``), so an agent of the same emulation name
under another root serves the very namespaces being removed: it is matched by
the last component of its ``--state-dir`` too.  Nothing else is ever
signalled: a process that merely mentions the directory among its arguments,
without being started as ``<python> -m dataplane.agent``, is not the emulation's.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable

from dataplane.kernel import netns


def _other_pids() -> Iterable[int]:
    """Every pid on the machine except our own."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            yield int(entry)


def processes_in(netns_names: Iterable[str]) -> set[int]:
    """Pids with any thread inside one of the given namespaces."""
    inodes = set()
    for name in netns_names:
        try:
            inodes.add(netns.inode(name))
        except FileNotFoundError:
            continue
    if not inodes:
        return set()
    found = set()
    for pid in _other_pids():
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        for tid in tids:
            if netns.task_netns_inode(pid, int(tid)) in inodes:
                found.add(pid)
                break
    return found


def agents_of(state_dir: str, module: str = "dataplane.agent") -> set[int]:
    """Pids running ``python -m <module> ... --state-dir <state_dir> ...``, exactly."""
    return {pid for pid, given in _agents(module) if given == state_dir}


def agents_of_emulation(name: str, module: str = "dataplane.agent") -> set[int]:
    """Pids running ``python -m <module> ... --state-dir <any root>/<name> ...``:
    the agents of emulation ``name`` whichever state root they were started under."""
    return {pid for pid, given in _agents(module) if os.path.basename(os.path.normpath(given)) == name}


def _agents(module: str) -> Iterable[tuple[int, str]]:
    """(pid, its ``--state-dir`` value) of every ``python -m <module>`` process."""
    for pid in _other_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                args = handle.read().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if args[1:3] != [b"-m", module.encode()]:  # how up starts it: <python> -m <module>
            continue
        for i in range(len(args) - 1):
            if args[i] == b"--state-dir":
                yield pid, os.fsdecode(args[i + 1])
                break


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def terminate(pids: Iterable[int], grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL whatever is still running after ``grace`` seconds."""
    pending = {p for p in pids if alive(p)}
    for pid in pending:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        _reap(pending)
        pending = {p for p in pending if alive(p)}
        if pending:
            time.sleep(0.02)
    for pid in pending:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 2.0
    while pending and time.monotonic() < deadline:
        _reap(pending)
        pending = {p for p in pending if alive(p)}
        if pending:
            time.sleep(0.02)


def _reap(pids: set[int]) -> None:
    """Collect our own exited children so they do not linger as zombies."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
