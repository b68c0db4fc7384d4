"""Where each file of an emulation's state directory lives, in one place.

Every process that reads or writes the directory -- the CLI, the node
agents, the ztunnel's certificate store, the verify checks' evidence -- takes
its paths from here, so the layout ARCHITECTURE.md describes is the layout on
disk.  Paths only: no I/O.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = ".dpctl-emulation"
PLAN = "plan.json"
SOURCES = "sources.json"
OVERRIDES = "overrides.json"
STATUS = "status.json"
AGENTS = "agents"
LOGS = "logs"
CERTS = "certs"
EVIDENCE = "evidence"
ROUTE53 = "route53.json"

PathLike = str | os.PathLike[str]


def plan_path(state_dir: PathLike) -> Path:
    return Path(state_dir, PLAN)


def ready_path(state_dir: PathLike, node: str) -> Path:
    """A node agent's ready file (``agent/ready.py`` writes it)."""
    return Path(state_dir, AGENTS, f"{node}.ready")


def logs_dir(state_dir: PathLike) -> Path:
    return Path(state_dir, LOGS)


def agent_log_path(state_dir: PathLike, node: str) -> Path:
    return Path(state_dir, LOGS, f"agent-{node}.log")


def certs_dir(state_dir: PathLike) -> Path:
    """The emulation's CA and workload certificates (``mesh/store.py``)."""
    return Path(state_dir, CERTS)


def acm_dir(state_dir: PathLike) -> Path:
    """The emulated ACM: the public root the outside client trusts, one key and certificate per ARN."""
    return certs_dir(state_dir) / "acm"


def zonal_shifts_path(state_dir: PathLike) -> Path:
    """The zonal shifts in force on the emulation's load balancers (``dpctl zonal-shift``)."""
    return Path(state_dir) / "zonal-shifts.json"


def failed_zones_path(state_dir: PathLike) -> Path:
    """The zones ``dpctl zone fail`` has taken dark."""
    return Path(state_dir) / "failed-zones.json"


def evidence_dir(state_dir: PathLike) -> Path:
    """Where failed verify checks leave their packets unless told otherwise."""
    return Path(state_dir, EVIDENCE)


def route53_path(state_dir: PathLike) -> Path:
    """The Route 53 hosted zones and their records, as the last ExternalDNS reconcile left them."""
    return Path(state_dir, ROUTE53)
