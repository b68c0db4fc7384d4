"""``nft monitor trace`` in many namespaces at once, around a temporary table.

Trace events are per network namespace, so one monitor runs in each
namespace the probe may cross, each its own process (``nsenter --net``, so it
never sees the host's namespace), line-buffered through ``stdbuf`` because
its stdout is a pipe, and read by a thread that keeps every line.

A session owns two kinds of things that must not outlive it: the tracing
table in every namespace and the monitor processes.  ``__exit__`` removes
both, also after an error, Ctrl-C or SIGTERM (turned into KeyboardInterrupt
while the session is open); monitors also die with dpctl (``setpriv
--pdeathsig``), so even ``kill -9`` leaves no monitor behind.  The death
signal follows the thread that started them, so a session is used from one
long-lived thread (the CLI's main thread).  After ``kill -9`` a table can
remain; the next trace through that namespace replaces and removes it, and
``dpctl down`` removes it with the namespace.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from types import FrameType, TracebackType
from typing import Any, Self

from dataplane.kernel import netns, nft
from dataplane.kernel.process import stop_groups

NETLINK_NETFILTER = 12
NFNLGRP_NFTRACE = 9  # the trace multicast group a monitor joins
_POLL_S = 0.02


class TraceError(RuntimeError):
    """A monitor did not start, or a tracing table could not be installed."""


class Monitor:
    """One ``nft monitor trace`` inside one namespace, and every line it printed."""

    def __init__(self, netns_name: str):
        if not netns.exists(netns_name):
            raise TraceError(f"network namespace {netns_name} does not exist")
        self.netns = netns_name
        self._lines: list[str] = []
        self.last_line_at = time.monotonic()
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "nsenter", f"--net={netns.path(netns_name)}"]
            + ["stdbuf", "-oL", "nft", "monitor", "trace"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"nftrace:{netns_name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._lock:
                self._lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.last_line_at = time.monotonic()

    def subscribed(self) -> bool:
        """True once nft's netlink socket has joined the trace group.

        ``/proc/PID/net/netlink`` lists the sockets of the namespace PID is in;
        nft's first socket has port id PID (setpriv, nsenter and stdbuf exec,
        so the PID is nft's), and the group bitmask shows what it joined.
        """
        try:
            with open(f"/proc/{self.proc.pid}/net/netlink") as table:
                rows = [line.split() for line in table.readlines()[1:]]
        except OSError:
            return False
        bit = 1 << (NFNLGRP_NFTRACE - 1)
        return any(
            int(row[1]) == NETLINK_NETFILTER and int(row[2]) == self.proc.pid and int(row[3], 16) & bit for row in rows
        )

    def output(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def finish(self) -> None:
        """After the process is gone: collect what it printed last."""
        self._reader.join(timeout=2)


class TraceSession:
    """Monitors in ``namespaces`` and table ``ip <table>`` (``ruleset``) in each.

    Use as a context manager; ``settle`` waits for the trace to go quiet and
    ``lines`` returns what each monitor printed, by namespace.
    """

    def __init__(self, namespaces: Sequence[str], table: str, ruleset: str, start_timeout: float = 5.0):
        self.namespaces = list(dict.fromkeys(namespaces))
        self.table = table
        self.ruleset = ruleset
        self.start_timeout = start_timeout
        self.monitors: list[Monitor] = []
        self._installed: list[str] = []
        self._sigterm: tuple[Any] | None = None  # the handler to restore, once replaced

    def _removal(self) -> str:
        # Declaring the table first makes the delete valid whether or not it exists.
        return f"table ip {self.table} {{}}\ndelete table ip {self.table}\n"

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._sigterm = (signal.signal(signal.SIGTERM, _interrupt),)
        try:
            # Tables first: a monitor prints rules from the ruleset it read at
            # start, and would show the tracing table's own rules as "unknown".
            for name in self.namespaces:
                self._installed.append(name)
                nft.apply(name, self._removal() + self.ruleset)
            for name in self.namespaces:
                self.monitors.append(Monitor(name))
            self._wait_subscribed()
        except BaseException:
            self._cleanup()
            raise
        return self

    def _wait_subscribed(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        waiting = list(self.monitors)
        while waiting:
            for monitor in list(waiting):
                if monitor.proc.poll() is not None:
                    monitor.finish()
                    raise TraceError(f"nft monitor trace in {monitor.netns} exited: {' '.join(monitor.output())}")
                if monitor.subscribed():
                    waiting.remove(monitor)
            if waiting and time.monotonic() > deadline:
                raise TraceError(f"nft monitor trace did not start in {', '.join(m.netns for m in waiting)}")
            time.sleep(_POLL_S)

    def settle(self, quiet: float = 0.3, limit: float = 3.0) -> None:
        """Wait until no monitor printed for ``quiet`` seconds (at most ``limit``).

        Called when the probe is over; the quiet period starts no earlier than
        now, since a monitor may still be formatting events it has received.
        """
        started = time.monotonic()
        deadline = started + limit
        while time.monotonic() < deadline:
            newest = max([started, *(m.last_line_at for m in self.monitors)])
            if time.monotonic() - newest >= quiet:
                return
            time.sleep(_POLL_S)

    def lines(self) -> dict[str, list[str]]:
        return {m.netns: m.output() for m in self.monitors}

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        failures = self._cleanup()
        if failures and exc is None:
            raise TraceError("; ".join(failures))

    def _cleanup(self) -> list[str]:
        """Remove every table installed, stop every monitor; neither Ctrl-C nor
        SIGTERM can cut it short.  Returns what could not be removed."""
        failures: list[str] = []
        with _signals_ignored(signal.SIGINT, signal.SIGTERM):
            for name in self._installed:
                try:
                    nft.apply(name, self._removal())
                except nft.NftError as error:
                    if netns.exists(name):  # a namespace deleted meanwhile took its table along
                        failures.append(str(error))
            self._installed = []
            stop_groups([m.proc for m in self.monitors], grace=1.0)
            for monitor in self.monitors:
                monitor.finish()
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm[0])
            self._sigterm = None
        return failures


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _signals_ignored(*signums: int) -> Iterator[None]:
    """Only the main thread may change signal handlers (and only it gets signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {signum: signal.signal(signum, signal.SIG_IGN) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
