"""Named network namespaces, and running code inside them.

A namespace is made the way ``ip netns add`` makes it, without a process per
namespace: a short-lived thread unshares its network namespace and bind-mounts
``/proc/thread-self/ns/net`` on ``/run/netns/<name>``.  As iproute2 does,
``/run/netns`` is first made a shared mount point (bound onto itself when it
is a plain directory): processes started with ``ip netns exec`` -- the node
agents -- live in mount namespaces of their own, and only a shared
``/run/netns`` propagates a namespace bind-mounted *after* they started into
them.  On a plain directory they would find an empty file, and setns on it
fails with EINVAL.  Code runs inside a
namespace on a dedicated thread that entered it with setns(2); setns moves only
the calling thread, so the rest of the process stays where it was.

Safety: every thread that is meant to be inside an emulation namespace checks
that it really left the namespace dpctl was started in before it does anything.
A failed setns must never let netlink calls land on the host.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import queue
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

RUN_NETNS = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class NetnsError(OSError):
    """A namespace could not be made, entered or removed."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise NetnsError(err, f"{what}: {os.strerror(err)}")


def path(name: str) -> str:
    return os.path.join(RUN_NETNS, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def list_names(prefix: str = "") -> list[str]:
    """Names under /run/netns starting with ``prefix`` (sorted)."""
    try:
        return sorted(n for n in os.listdir(RUN_NETNS) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def inode(name: str) -> int:
    return os.stat(path(name)).st_ino


def _own_netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


_HOST_NETNS_INODE = os.stat("/proc/self/ns/net").st_ino


def _run_in_thread(fn: Callable[[], T]) -> T:
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=runner, name="dpctl-netns")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


_shared_lock = threading.Lock()
_shared_done = False


def ensure_shared_run_netns() -> None:
    """Make ``/run/netns`` a shared mount point, as ``ip netns add`` does.

    Safe when several processes do it at once: they take turns on a flock of
    the directory, and a process that finds it already a mount point only
    re-marks it shared (which changes nothing).
    """
    global _shared_done
    with _shared_lock:
        if _shared_done:
            return
        os.makedirs(RUN_NETNS, mode=0o755, exist_ok=True)
        fd = os.open(RUN_NETNS, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _make_shared()
        finally:
            os.close(fd)  # releases the flock
        _shared_done = True


def _make_shared() -> None:
    target = RUN_NETNS.encode()
    result = _libc.mount(b"none", target, None, MS_SHARED | MS_REC, None)
    if result == 0:
        return
    if ctypes.get_errno() != errno.EINVAL:  # EINVAL: not a mount point yet
        _check(result, f"mark {RUN_NETNS} shared")
    _check(_libc.mount(target, target, None, MS_BIND | MS_REC, None), f"bind-mount {RUN_NETNS} onto itself")
    _check(_libc.mount(b"none", target, None, MS_SHARED | MS_REC, None), f"mark {RUN_NETNS} shared")


def create(name: str) -> None:
    """Create ``/run/netns/<name>`` holding a new, empty network namespace."""
    ensure_shared_run_netns()
    target = path(name)

    def make() -> None:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        fd = os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
        os.close(fd)
        try:
            _check(
                _libc.mount(b"/proc/thread-self/ns/net", target.encode(), None, MS_BIND, None),
                f"bind-mount netns {name}",
            )
        except OSError:
            os.unlink(target)
            raise

    _run_in_thread(make)


def delete(name: str) -> bool:
    """Unmount and remove a named namespace; False if it did not exist.

    The namespace itself (and the veths in it) disappears once no process,
    socket or thread holds it any more.
    """
    target = path(name)
    if not os.path.exists(target):
        return False
    result = _libc.umount2(target.encode(), MNT_DETACH)
    if result != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        _check(result, f"umount {target}")
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass
    return True


def enter(name: str) -> None:
    """Move the calling thread into namespace ``name`` and prove it left home."""
    fd = os.open(path(name), os.O_RDONLY)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns into {name}")
    finally:
        os.close(fd)
    if _own_netns_inode() == _HOST_NETNS_INODE:
        raise NetnsError(errno.EPERM, f"thread still in the host namespace after entering {name}")


class NetnsThread:
    """A worker thread living inside one namespace; ``call`` runs work there.

    Objects bound to a namespace at creation (sockets, pyroute2 handles) can be
    made and used on this thread.  pyroute2 0.9 opens its netlink socket lazily
    on the thread that first uses it, so its handles must never leave here.
    """

    def __init__(self, name: str):
        self.name = name
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        started: Future[None] = Future()
        self._thread = threading.Thread(target=self._loop, args=(started,), name=f"netns:{name}", daemon=True)
        self._thread.start()
        started.result()

    def _loop(self, started: Future[None]) -> None:
        try:
            enter(self.name)
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put((lambda: fn(*args, **kwargs), future))
        return future

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` inside the namespace (inline when already on its thread)."""
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    def __enter__(self) -> NetnsThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def socket_in(name: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside namespace ``name``; usable from any thread.

    A socket's namespace is fixed when it is created, so a short-lived thread
    enters the namespace, makes the socket and exits; the caller then binds,
    listens or connects from wherever it likes.
    """

    def make() -> socket.socket:
        enter(name)
        return socket.socket(family, kind, proto)

    return _run_in_thread(make)


def task_netns_inode(pid: int, tid: int | None = None) -> int | None:
    """Inode of the netns a process (or one of its threads) is in; None if gone."""
    where = f"/proc/{pid}/task/{tid}/ns/net" if tid is not None else f"/proc/{pid}/ns/net"
    try:
        return os.stat(where).st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
