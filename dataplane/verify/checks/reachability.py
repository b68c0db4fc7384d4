"""Reachability: the VPC's intended reachability (``verify/reachplan.py``) against real connections.

The check listens on one free TCP port on every node and on each internet
host's address (in the outside client's namespace); each source connects
once, and the listener records the address the connection came from.  A
connection that should arrive must arrive from the expected address; one
that should be dropped must not arrive (a timeout).  A difference names the
rule the model applied.
"""

from __future__ import annotations

import errno
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dataplane.kernel import netns
from dataplane.topology.plan import Plan
from dataplane.trace.targets import used_ports
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.reachplan import Reach, analysed, trials
from dataplane.verify.result import CheckResult

NAME = "reachability"
CONNECT_TIMEOUT = 2.0
WORKERS = 8
# Below the ephemeral range (32768-60999) and the NodePort range (30000-32767): no connection of the
# emulation holds one of these as its own port.
PORTS = range(20000, 30000)
ATTEMPTS = 5  # ports tried before giving up: a namespace may already use one


class Listeners:
    """A TCP listener on ``port`` at each (namespace, address), recording who connected.

    Each probe sends a token first: a NAT on the way changes the source port,
    so the token is what pairs an arrival with its probe."""

    def __init__(self, places: set[tuple[str, str]], port: int):
        self.port = port
        self._seen: dict[str, str] = {}  # token -> the source address the listener saw
        self._arrived = threading.Condition()
        self._socks: list[socket.socket] = []
        try:
            for netns_name, address in sorted(places):
                sock = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
                self._socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, port))
                sock.listen(socket.SOMAXCONN)
                threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        except BaseException:
            self.close()
            raise

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, (peer, _) = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._read_token, args=(conn, peer), daemon=True).start()

    def _read_token(self, conn: socket.socket, peer: str) -> None:
        with conn:
            conn.settimeout(CONNECT_TIMEOUT)
            try:
                token = conn.recv(64).decode(errors="replace").strip()
            except OSError:
                return
        with self._arrived:
            self._seen[token] = peer
            self._arrived.notify_all()

    def peer(self, token: str, wait: float = CONNECT_TIMEOUT) -> str | None:
        """The source address of the connection that sent ``token``, once it arrived."""
        with self._arrived:
            self._arrived.wait_for(lambda: token in self._seen, wait)
            return self._seen.pop(token, None)

    def close(self) -> None:
        for sock in self._socks:
            sock.close()


def _probe(trial: Reach, listeners: Listeners) -> CheckResult:
    started = time.monotonic()
    token = secrets.token_hex(8)
    sock = netns.socket_in(trial.source_netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect((trial.target_ip, listeners.port))
        sock.sendall(f"{token}\n".encode())
        seen = listeners.peer(token) or "no token at the listener"
    except TimeoutError:
        seen = None
    except OSError as error:  # no route at the source, or a router's ICMP unreachable: dropped on the way
        seen = None if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) else f"error: {error}"
    finally:
        sock.close()
    expected = f"from {trial.seen_as}" if trial.seen_as else "dropped"
    got = "dropped" if seen is None else f"from {seen}"
    ok = got == expected
    reason = "" if ok else f"arrived {got}, expected {expected} ({trial.why})"
    return CheckResult(NAME, trial.subject, ok, reason, f"{got} ({trial.why})" if ok else got,
                       seconds=round(time.monotonic() - started, 3))


def run(plan: Plan, progress: Callable[[int, int], None] | None = None, evidence: Evidence = NO_EVIDENCE) -> list[CheckResult]:
    if not analysed(plan):
        return [CheckResult(NAME, NAME, ok=True, skipped=True, reason="skipped: a flat VPC with no security "
                            "group, network ACL, route table or internet host (connectivity covers it)")]
    taken = used_ports(plan)
    for port in random.sample([p for p in PORTS if p not in taken], ATTEMPTS):
        planned = trials(plan, port)
        try:
            listeners = Listeners({(t.target_netns, t.target_ip) for t in planned}, port)
            break
        except OSError as error:
            failure = f"cannot listen on port {port}: {error}"
    else:
        return [CheckResult(NAME, NAME, ok=False, reason=f"{failure} (and {ATTEMPTS - 1} other ports)")]
    results: list[CheckResult] = []
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            for result in pool.map(lambda trial: _probe(trial, listeners), planned):
                results.append(result)
                if progress:
                    progress(len(results), len(planned))
    finally:
        listeners.close()
    return results
