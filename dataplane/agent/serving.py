"""What the agent serves of one pod, and the names it gives what it starts.

Plain decisions from the Plan's pod (no root, no sockets): which ports get a
built-in responder, which containers run a command, whether the pod runs to
completion, and the key and log file of each command.
"""

from __future__ import annotations

from pathlib import Path

from dataplane.topology.naming import fit_file_name
from dataplane.topology.parse_gateways import GATEWAY_RESPONDER
from dataplane.topology.plan import WAYPOINT_RESPONDER, Container, ContainerPort, Pod


def responder_ports(pod: Pod) -> list[ContainerPort]:
    """Ports the agent answers with built-in responders: those of containers
    without a command.  A container with a command is its own server: its
    ports are its own; a waypoint's HBONE port is the waypoint proxy's, an
    ingress gateway's listener ports the gateway proxy's."""
    return [
        port for container in pod.containers if not container.command for port in container.ports
        if port.responder not in (WAYPOINT_RESPONDER, GATEWAY_RESPONDER)
    ]


def commanded(pod: Pod) -> list[Container]:
    """Containers whose command the agent starts, in the pod's order."""
    return [container for container in pod.containers if container.command]


def runs_to_completion(pod: Pod) -> bool:
    """A Job's pod runs each container's command once (restartPolicy Never); the
    agent records when each ends.  A container without a command serves its
    built-in responders as in any pod, and never ends, as a server would not."""
    return (pod.owner or "").startswith("Job/")


def workload_key(pod: Pod, container: str) -> str:
    """How the ready file names a container's command: ``<namespace>/<pod>/<container>``."""
    return f"{pod.key}/{container}"


def log_path(log_dir: Path, pod: Pod, container: str) -> Path:
    """Where a container's command writes: ``<namespace>.<pod>.<container>.log``, cut
    and hashed when that would not fit in a file name."""
    return log_dir / fit_file_name(f"{pod.namespace}.{pod.name}.{container}", ".log")
