"""The agent's ready file: how a builder learns that a node's pods are served.

``<state-dir>/agents/<node>.ready`` holds one JSON object (see ``Ready``).  It
is replaced atomically, so a reader never sees half a file; it is written when
every pod of the node has been opened (or has failed, see ``errors``) and again
after each reload, and removed when the agent stops.  After sending SIGHUP, a
builder waits for ``generation`` to grow, or for ``plan`` to equal the digest
of the plan.json it wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dataplane.atomicfile import write_atomic
from dataplane.errors import DpctlError
from dataplane.state.layout import ready_path

_POLL_S = 0.01


@dataclass(frozen=True)
class Ready:
    pid: int
    node: str
    generation: int  # 0 after start-up, +1 per reload
    plan: str  # plan_digest() of the plan.json this state was reconciled from
    pods: list[str]  # "<namespace>/<name>" of every pod being served, sorted
    sockets: int  # listening sockets (TCP and UDP) open in all those pods
    workloads: dict[str, int] = field(default_factory=dict)  # "<ns>/<pod>/<container>" -> pid
    errors: list[str] = field(default_factory=list)  # pods that could not be served, and why
    exited: dict[str, int] = field(default_factory=dict)  # "<ns>/<pod>/<container>" of a Job that ended -> exit code


def plan_digest(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def write(state_dir: Path, ready: Ready) -> None:
    target = ready_path(state_dir, ready.node)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps(dataclasses.asdict(ready), indent=1, sort_keys=True) + "\n")


def read(state_dir: Path, node: str) -> Ready | None:
    """The node's ready file, or None while there is none."""
    try:
        return Ready(**json.loads(ready_path(state_dir, node).read_text()))
    except FileNotFoundError:
        return None


def remove(state_dir: Path, node: str) -> None:
    ready_path(state_dir, node).unlink(missing_ok=True)


class NotReady(DpctlError):
    """An agent reported errors, stopped, or did not get there in time."""


def wait(
    state_dir: Path,
    nodes: Iterable[str],
    done: Callable[[Ready], bool],
    timeout: float,
    gone: Callable[[str], str | None] = lambda node: None,
) -> None:
    """Wait until every node's ready file satisfies ``done``.

    Raises ``NotReady`` naming the node when a file that satisfies ``done``
    lists errors, when ``gone(node)`` says why its agent cannot get there, or
    after ``timeout`` seconds.  One loop for every caller: ``up`` waiting for
    new agents, a live change waiting for a reload."""
    deadline = time.monotonic() + timeout
    waiting = list(dict.fromkeys(nodes))
    while waiting:
        for node in list(waiting):
            status = read(state_dir, node)
            if status is not None and done(status):
                if status.errors:
                    raise NotReady(f"agent of node {node}: {'; '.join(status.errors)}")
                waiting.remove(node)
            elif (why := gone(node)) is not None:
                raise NotReady(f"agent of node {node} {why}")
        if waiting and time.monotonic() > deadline:
            raise NotReady(f"agents not ready after {timeout:.0f} s: {', '.join(waiting)}")
        if waiting:
            time.sleep(_POLL_S)
