"""How much input dpctl reads before it refuses, so no file can hang it or eat the machine.

A topology file is untrusted text: eleven lines of nested YAML aliases expand
to a billion nodes, ``replicas: 1000000000`` to a billion pods.  Each limit is
checked *before* the work it bounds (the file's size before reading it, an
alias expansion's size before building it, the pod count before expanding a
Deployment), so a file that would take minutes is refused in milliseconds,
with an error naming the limit and how to raise it.

The pod and node limits are the smaller of a fixed cap and what the
machine's free memory holds at ``POD_MEMORY_BYTES`` a pod and
``NODE_MEMORY_BYTES`` a node (the figures ``dpctl doctor`` reports): the CLI
passes the machine's free memory in, everything else (tests, the plugin's
planning) sees only the fixed caps, so planning stays pure.  Every limit can
be set by an environment variable.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from ..errors import InputError

MIB = 1 << 20
# What one pod costs the machine: its namespace, veth pair and routes in the
# kernel, and its sockets and state in the node agent (measured about 0.5 MiB
# with 400 pods on two nodes; budgeted at twice that).
POD_MEMORY_BYTES = 1 * MIB
# What one node costs: its agent process (about 50 MiB resident) and namespace.
NODE_MEMORY_BYTES = 64 * MIB

_ENVIRONMENT = {
    "file_bytes": "DPCTL_LIMIT_FILE_BYTES",
    "yaml_nodes": "DPCTL_LIMIT_YAML_NODES",
    "yaml_depth": "DPCTL_LIMIT_YAML_DEPTH",
    "pods": "DPCTL_LIMIT_PODS",
    "nodes": "DPCTL_LIMIT_NODES",
}


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 4 * MIB  # the size of one topology file (all its inputs together), about 4 s of parsing
    yaml_nodes: int = 250_000  # YAML nodes once every alias is expanded (files using aliases), about 1 s
    yaml_depth: int = 100  # nesting of mappings and lists; real manifests stay under 20
    pods: int = 50_000  # pods in one emulation (a further bound comes from free memory)
    nodes: int = 500  # nodes in one emulation, each an agent process (and bounded by free memory)
    memory_bytes: int | None = None  # the machine's free memory, when known

    def pod_budget(self, nodes: int = 0) -> int:
        """How many pods may be planned beside ``nodes`` nodes: the fixed cap, or fewer if memory is short."""
        if self.memory_bytes is None:
            return self.pods
        return max(0, min(self.pods, (self.memory_bytes - nodes * NODE_MEMORY_BYTES) // POD_MEMORY_BYTES))

    def node_budget(self) -> int:
        if self.memory_bytes is None:
            return self.nodes
        return max(0, min(self.nodes, self.memory_bytes // NODE_MEMORY_BYTES))

    def too_many_nodes(self, count: int) -> str | None:
        """Why ``count`` nodes are too many, or None when they fit."""
        budget = self.node_budget()
        if count <= budget:
            return None
        if budget < self.nodes:
            return f"this would make {count:,} nodes; {self._memory()} holds about {budget:,} at {NODE_MEMORY_BYTES // MIB} MiB each (see 'dpctl doctor')"
        return f"this would make {count:,} nodes; dpctl's limit is {self.nodes:,} nodes per emulation ({self.variable('nodes')})"

    def too_many_pods(self, count: int, nodes: int) -> str | None:
        """Why ``count`` pods beside ``nodes`` nodes are too many, or None when they fit."""
        budget = self.pod_budget(nodes)
        if count <= budget:
            return None
        if budget < self.pods:
            return (
                f"this would make {count:,} pods; {self._memory()}, after {nodes:,} nodes at "
                f"{NODE_MEMORY_BYTES // MIB} MiB each, holds about {budget:,} pods at {POD_MEMORY_BYTES // MIB} MiB "
                "each (see 'dpctl doctor')"
            )
        return f"this would make {count:,} pods; dpctl's limit is {self.pods:,} pods per emulation ({self.variable('pods')})"

    def _memory(self) -> str:
        return f"this machine's free memory ({(self.memory_bytes or 0) // MIB:,} MiB)"

    def variable(self, limit: str) -> str:
        """The environment variable that sets ``limit`` (a field name)."""
        return _ENVIRONMENT[limit]

    @classmethod
    def from_environment(cls, memory_bytes: int | None = None) -> Limits:
        """The defaults, changed by any ``DPCTL_LIMIT_*`` variable that is set."""
        values: dict[str, int | None] = {"memory_bytes": memory_bytes}
        for limit, variable in _ENVIRONMENT.items():
            text = os.environ.get(variable)
            if text is None or text == "":
                continue
            if not (text.isascii() and text.isdigit() and 0 < int(text) < 1 << 62):
                raise InputError(f"{variable}={text!r}: expected a positive whole number")
            values[limit] = int(text)
        return dataclasses.replace(cls(), **values)


DEFAULT_LIMITS = Limits()
