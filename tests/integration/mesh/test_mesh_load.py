"""The mesh under load: 1,000 connections opened at once from one meshed pod
through its ztunnel (15001), pooled HBONE and the server's ztunnel (15008) to
an echo responder, each sending 64 KiB, half-closing and reading the echo to
EOF.  Every stream must come back intact: a burst of connects must queue at
the ztunnel's listeners, never be reset.

The burst runs several rounds on the same emulation: with a short accept
queue the first round may only see SYNs dropped and retried, while the later
ones go through SYN cookies, whose failed checks reset clients outright."""

from __future__ import annotations

import resource
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.kernel.netns import NetnsThread
from dataplane.mesh.constants import HBONE_PORT, INBOUND_PLAINTEXT_PORT, OUTBOUND_PORT
from dataplane.state.store import StateDir
from dataplane.testing.plugin import Emulations
from dataplane.testing.streams import echo_streams
from dataplane.topology.plan import Plan
from tests.integration.support import run_in, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

STREAMS = 1000
STREAM_BYTES = 64 * 1024
ECHO_PORT = 9000
ROUNDS = 3


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Plan:
    return module_topology(write_topology(tmp_path_factory.mktemp("meshload"), "mesh.yaml", "meshload", CNI="vpc")).plan


@pytest.fixture
def enough_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(max(soft, 4 * STREAMS), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _all_streams(host: str, port: int) -> list[str]:
    """Runs on a thread inside the client pod: asyncio makes every socket there."""
    return echo_streams(host, port, STREAMS, STREAM_BYTES, timeout=90.0)


def _agent_problems(plan: Plan) -> list[str]:
    found = []
    for node in plan.nodes:
        log = Path(StateDir(plan.name).agent_log_path(node.name))
        if log.exists():
            found += [f"{node.name}: {line[:300]}" for line in log.read_text(errors="replace").splitlines()
                      if any(w in line for w in ("ERROR", "WARNING", "Traceback", "error="))]
    return found[-10:]


def test_ztunnel_listeners_queue_a_burst_of_connects(live: Plan) -> None:
    """asyncio re-listens a given socket with a backlog of 100 unless told otherwise."""
    client = live.pod("mesh", "client")
    listening = run_in(client.netns, "ss", "-Hltn").stdout
    backlogs = {int(f[3].rsplit(":", 1)[1]): int(f[2]) for f in (line.split() for line in listening.splitlines())}
    for port in (OUTBOUND_PORT, INBOUND_PLAINTEXT_PORT, HBONE_PORT):
        assert backlogs.get(port, 0) >= STREAMS, f"listen backlog of {port}: {backlogs.get(port)}"


def test_thousand_concurrent_streams_through_the_mesh(live: Plan, enough_fds: None) -> None:
    client, server = live.pod("mesh", "client"), live.pod("mesh", "server-0")
    with NetnsThread(client.netns) as worker:
        for round_ in range(1, ROUNDS + 1):
            outcomes = worker.call(_all_streams, server.ip, ECHO_PORT)
            failures = Counter(o for o in outcomes if o != "ok")
            assert not failures, (
                f"round {round_}: {sum(failures.values())} of {STREAMS} streams failed: {failures.most_common(5)}; "
                f"agents: {_agent_problems(live)}"
            )
