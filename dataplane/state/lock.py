"""One change at a time per emulation: an exclusive ``flock`` beside its state directory.

``up``, ``apply``, ``scale``, ``delete``, ``set``, ``mesh enroll|unenroll`` and
``down`` read the running plan, change the kernel and write the plan back.
Two of them interleaved would each roll out from a plan the other is
replacing -- pods in the plan without a namespace, namespaces in no plan --
so they take turns on ``<state root>/<name>.lock`` (a name is a DNS label,
so ``<name>.lock`` is never a state directory).  A second command waits,
telling the user once who holds the lock, and gives up with a clear error
after a timeout (``DPCTL_LOCK_TIMEOUT`` seconds, default 120).

The kernel releases a ``flock`` when its holder dies, so a ``kill -9`` never
leaves an emulation locked.  The lock file is removed by whoever holds it
once the emulation is gone (after ``down``, a failed ``up``, or a command
naming an emulation that does not exist); a waiter that then gets the lock
of the removed file notices that its file is no longer the one at the path
and tries again, so two holders can never coexist.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
from collections.abc import Callable, Iterator

from dataplane.errors import InputError, StateError
from dataplane.state.store import DEFAULT_STATE_ROOT, StateDir, state_root

LOCK_TIMEOUT_ENV = "DPCTL_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 120.0
_POLL_S = 0.05
_HELD: set[tuple[int, str]] = set()  # (pid, name) of the locks this process holds: keyed by pid, as a fork inherits it


def lock_path(name: str) -> str:
    return os.path.join(state_root(), f"{StateDir(name).name}.lock")


def lock_timeout() -> float:
    text = os.environ.get(LOCK_TIMEOUT_ENV)
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"{LOCK_TIMEOUT_ENV}={text!r}: expected a number of seconds, 0 or more")
    return value


@contextlib.contextmanager
def change_lock(
    name: str, command: str, timeout: float | None = None, notify: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold emulation ``name`` for ``command`` (a description shown to waiters).

    Re-entrant within one process: ``teardown`` takes the lock so that library
    callers (the pytest plugin, tests) leave no lock file behind, and inside
    ``dpctl down``, which holds it already, it simply carries on."""
    key = (os.getpid(), name)
    if key in _HELD:
        yield
        return
    path = lock_path(name)
    wait = lock_timeout() if timeout is None else timeout
    fd = _acquire(path, name, wait, notify)
    _HELD.add(key)
    try:
        holder = {"pid": os.getpid(), "command": command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        if not StateDir(name).exists():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            if state_root() == DEFAULT_STATE_ROOT:  # dpctl's own root too, once nothing is left in it
                with contextlib.suppress(OSError):
                    os.rmdir(DEFAULT_STATE_ROOT)
        _HELD.discard(key)
        os.close(fd)  # releases the flock


def _acquire(path: str, name: str, wait: float, notify: Callable[[str], None] | None) -> int:
    deadline = time.monotonic() + wait
    told = False
    while True:
        os.makedirs(state_root(), mode=0o755, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # the root was removed by the last holder of another emulation
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                raise StateError(
                    f"emulation {name!r} is being changed by {holder}; gave up waiting after {wait:g} s "
                    f"(set {LOCK_TIMEOUT_ENV} to wait longer)"
                ) from None
            if not told and notify is not None:
                notify(f"emulation {name!r} is being changed by {holder}; waiting")
                told = True
            time.sleep(_POLL_S)
            continue
        if _is_current(fd, path):
            return fd
        os.close(fd)  # the file was removed (or replaced) while we waited for it


def _is_current(fd: int, path: str) -> bool:
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def _describe_holder(fd: int) -> str:
    """``pid 1234 (dpctl scale shop/web 5), busy for 3 s``, as far as the holder wrote it."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        pid, command, since = int(holder["pid"]), str(holder["command"]), float(holder["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return "another dpctl command"
    return f"pid {pid} ({command[:200]}), busy for {max(0.0, time.time() - since):.0f} s"
