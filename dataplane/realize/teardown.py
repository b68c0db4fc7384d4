"""Removing an emulation: everything under its prefix, and nothing else.

Teardown does not trust any record of what was made.  It stops every process
that lives in one of the emulation's namespaces (or is one of its node agents,
named by its ``--state-dir``, under this state root or another), deletes every namespace whose name
carries the emulation's prefix ``dp-<name>.``, removes the matching
``/etc/netns`` directories and finally the state directory -- only when that
directory proves to be the emulation's own (``StateDir.remove``).  All links,
addresses, routes and rules of an emulation live inside its namespaces, so
they go with them.  It is idempotent: running it twice, or after a crash or
``kill -9`` half-way through ``up``, is safe.  The name was checked to be a
DNS label before it got here (``StateDir`` refuses anything else), so the
prefix and the state path can never reach beyond the emulation.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataplane.errors import InputError
from dataplane.kernel import daemons, etcnetns, netns
from dataplane.state.lock import change_lock
from dataplane.state.store import StateDir, emulation_names
from dataplane.topology import naming


@dataclass(frozen=True)
class TeardownReport:
    name: str
    namespaces: int
    processes: int
    state_removed: bool

    @property
    def found_anything(self) -> bool:
        return bool(self.namespaces or self.processes or self.state_removed)


def teardown(name: str) -> TeardownReport:
    """Remove emulation ``name``, holding its change lock (re-entrant: ``dpctl down``
    holds it already), so no change runs meanwhile and the lock file goes too."""
    state = StateDir(name)  # refuses anything but a valid emulation name
    with change_lock(state.name, f"teardown of {state.name}"):
        return _remove(state)


def _remove(state: StateDir) -> TeardownReport:
    name = state.name
    prefix = naming.prefix(name)
    names = netns.list_names(prefix)
    pids = daemons.processes_in(names) | daemons.agents_of_emulation(name)
    daemons.terminate(pids)
    # Anything that raced in while we were stopping the first set.
    daemons.terminate(daemons.processes_in(names))
    for ns in reversed(names):  # pods, then nodes, then the router
        netns.delete(ns)
    etcnetns.remove_prefix(prefix)
    removed = state.remove()
    return TeardownReport(name=name, namespaces=len(names), processes=len(pids), state_removed=removed)


def running_names() -> list[str]:
    """Every emulation with a state directory or at least one namespace."""
    found = set(emulation_names())
    for ns in netns.list_names(naming.NETNS_ROOT):
        topology = naming.topology_of_netns(ns)
        if topology:
            try:
                found.add(StateDir(topology).name)
            except InputError:  # a dp-* namespace no emulation of ours could have made
                continue
    return sorted(found)
