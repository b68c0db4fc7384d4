"""The state directory of a running emulation: ``/run/dpctl/<name>/``.

It holds the plan the emulation was built from (``plan.json``), its phase
(``status.json``), the agents' ready files and every log.  It is a
convenience, not the source of truth: ``down`` also works from the namespace
prefix when this directory is gone or half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any

from dataplane.errors import StateError
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan

STATE_ROOT = os.environ.get("DPCTL_STATE_ROOT", "/run/dpctl")


@dataclass(frozen=True)
class StateDir:
    name: str

    @property
    def path(self) -> str:
        return os.path.join(STATE_ROOT, self.name)

    @property
    def plan_path(self) -> str:
        return os.path.join(self.path, "plan.json")

    @property
    def source_path(self) -> str:
        return os.path.join(self.path, "source.yaml")

    @property
    def overrides_path(self) -> str:
        return os.path.join(self.path, "overrides.json")

    @property
    def status_path(self) -> str:
        return os.path.join(self.path, "status.json")

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.path, "logs")

    def agent_log_path(self, node: str) -> str:
        return os.path.join(self.logs_dir, f"agent-{node}.log")

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def create(self, plan: Plan, source_text: str) -> None:
        os.makedirs(STATE_ROOT, mode=0o755, exist_ok=True)
        os.makedirs(self.path, mode=0o755)
        os.makedirs(self.logs_dir)
        self.write_plan(plan)
        self.save_inputs(source_text, Overrides())
        self.set_phase("building")

    def write_plan(self, plan: Plan) -> None:
        _write_atomic(self.plan_path, plan.to_json())

    def save_inputs(self, source_text: str, overrides: Overrides) -> None:
        """What live changes recompute the plan from: the topology text as it
        was brought up (or last applied) and the changes made since."""
        _write_atomic(self.source_path, source_text)
        _write_atomic(self.overrides_path, overrides.to_json())

    def load_source(self) -> str:
        try:
            with open(self.source_path) as handle:
                return handle.read()
        except FileNotFoundError:
            raise StateError(f"emulation {self.name!r} has no {self.source_path}") from None

    def load_overrides(self) -> Overrides:
        try:
            with open(self.overrides_path) as handle:
                return Overrides.from_json(handle.read())
        except FileNotFoundError:
            return Overrides()
        except ValueError as exc:
            raise StateError(f"{self.overrides_path} is damaged ({exc}); 'dpctl apply' the file to reset it") from None

    def set_phase(self, phase: str, **extra: Any) -> None:
        status = {"phase": phase, "since": time.time(), "pid": os.getpid(), **extra}
        _write_atomic(self.status_path, json.dumps(status))

    def status(self) -> dict[str, Any]:
        try:
            with open(self.status_path) as handle:
                return dict(json.load(handle))
        except (FileNotFoundError, json.JSONDecodeError):
            return {"phase": "unknown"}

    def load_plan(self) -> Plan:
        try:
            with open(self.plan_path) as handle:
                return Plan.from_json(handle.read())
        except FileNotFoundError:
            raise StateError(f"emulation {self.name!r} is not up (no {self.plan_path})") from None

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def emulation_names() -> list[str]:
    """Names with a state directory (running, or left behind by a crash)."""
    try:
        return sorted(n for n in os.listdir(STATE_ROOT) if os.path.isdir(os.path.join(STATE_ROOT, n)))
    except FileNotFoundError:
        return []
