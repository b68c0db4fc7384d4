"""Removing an emulation: everything under its prefix, and nothing else.

Teardown does not trust any record of what was made.  It stops every process
that lives in (or names the state directory of) the emulation, deletes every
namespace whose name carries the emulation's prefix, removes the matching
``/etc/netns`` directories and finally the state directory.  All links,
addresses, routes and rules of an emulation live inside its namespaces, so
they go with them.  It is idempotent: running it twice, or after a crash or
``kill -9`` half-way through ``up``, is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataplane.build.state import StateDir, emulation_names
from dataplane.kernel import daemons, etcnetns, netns
from dataplane.topology import naming


@dataclass(frozen=True)
class TeardownReport:
    name: str
    namespaces: int
    processes: int
    state_removed: bool


def teardown(name: str) -> TeardownReport:
    prefix = naming.prefix(name)
    state = StateDir(name)
    names = netns.list_names(prefix)
    pids = daemons.processes_in(names) | daemons.processes_naming(state.path)
    daemons.terminate(pids)
    # Anything that raced in while we were stopping the first set.
    daemons.terminate(daemons.processes_in(names))
    for ns in reversed(names):  # pods, then nodes, then the router
        netns.delete(ns)
    etcnetns.remove_prefix(prefix)
    had_state = state.exists()
    state.remove()
    return TeardownReport(name=name, namespaces=len(names), processes=len(pids), state_removed=had_state)


def running_names() -> list[str]:
    """Every emulation with a state directory or at least one namespace."""
    found = set(emulation_names())
    for ns in netns.list_names(naming.NETNS_ROOT):
        topology = naming.topology_of_netns(ns)
        if topology:
            found.add(topology)
    return sorted(found)

