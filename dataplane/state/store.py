"""The state directory of an emulation: ``<state root>/<name>/``.

It holds the plan the emulation was built from (``plan.json``), the inputs and
live changes it is recomputed from (``sources.json``: every input's name and
text, in order; ``overrides.json``), its
phase (``status.json``), the agents' ready files, certificates and every log.
It is a convenience, not the source of truth: ``down`` also works from the
namespace prefix when this directory is gone or half-written.

Safety rests on two rules.  A name is checked (a DNS label, nothing else)
before any path is built from it, so no user text can point outside the
state root.  And a directory is only ever removed when it proves to be an
emulation's own: a real directory (not a link) directly under the root that
holds dpctl's marker file naming it -- written first, right after the
directory is made.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dataplane.atomicfile import write_atomic
from dataplane.errors import InputError, StateError
from dataplane.state import layout
from dataplane.state.layout import MARKER
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan
from dataplane.topology.rules import topology_name
from dataplane.topology.sources import Source
from dataplane.topology.sources import from_json as sources_from_json
from dataplane.topology.sources import to_json as sources_json

STATE_ROOT_ENV = "DPCTL_STATE_ROOT"
DEFAULT_STATE_ROOT = "/run/dpctl"


def state_root() -> str:
    return os.environ.get(STATE_ROOT_ENV) or DEFAULT_STATE_ROOT


def emulation_name(text: object, source: str = "emulation name") -> str:
    """``text`` when it is a valid emulation name, else an ``InputError`` naming ``source``.

    Emulation names are the Topology's ``metadata.name``: DNS labels of at most
    40 characters.  No dot, slash, NUL or newline can pass, so a name is always
    one plain path component and one namespace prefix ``dp-<name>.``.
    """
    if not isinstance(text, str):
        raise InputError(f"{source}: expected a name, got {type(text).__name__}")
    try:
        return topology_name(text)
    except ValueError as exc:
        raise InputError(f"{source}: {exc}") from None


@dataclass(frozen=True)
class StateDir:
    name: str

    def __post_init__(self) -> None:
        emulation_name(self.name)

    @property
    def path(self) -> str:
        return os.path.join(state_root(), self.name)

    @property
    def marker_path(self) -> str:
        return os.path.join(self.path, MARKER)

    @property
    def plan_path(self) -> str:
        return os.path.join(self.path, layout.PLAN)

    @property
    def sources_path(self) -> str:
        return os.path.join(self.path, layout.SOURCES)

    @property
    def overrides_path(self) -> str:
        return os.path.join(self.path, layout.OVERRIDES)

    @property
    def status_path(self) -> str:
        return os.path.join(self.path, layout.STATUS)

    @property
    def logs_dir(self) -> str:
        return str(layout.logs_dir(self.path))

    def agent_log_path(self, node: str) -> str:
        return str(layout.agent_log_path(self.path, node))

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def owned(self) -> bool:
        """Whether the directory is provably this emulation's: a real directory
        holding dpctl's marker file, which names this emulation."""
        if os.path.islink(self.path) or not os.path.isdir(self.path) or os.path.islink(self.marker_path):
            return False
        try:
            with open(self.marker_path) as handle:
                return bool(json.load(handle).get("name") == self.name)
        except (OSError, ValueError, AttributeError):
            return False

    def create(self, plan: Plan, sources: Sequence[Source]) -> None:
        os.makedirs(state_root(), mode=0o755, exist_ok=True)
        try:
            os.mkdir(self.path, 0o755)
        except FileExistsError:
            raise StateError(f"emulation {self.name!r} is already up (or left over); run 'dpctl down {self.name}' first") from None
        try:
            write_atomic(self.marker_path, json.dumps({"name": self.name, "created": time.time()}))
            os.mkdir(self.logs_dir)
            self.write_plan(plan)
            self.save_inputs(sources, Overrides())
            self.set_phase("building")
        except BaseException:
            self.remove()
            raise

    def write_plan(self, plan: Plan) -> None:
        write_atomic(self.plan_path, plan.to_json())

    def save_inputs(self, sources: Sequence[Source], overrides: Overrides) -> None:
        """What live changes recompute the plan from: the topology input as it
        was brought up (or last applied) and the changes made since."""
        write_atomic(self.sources_path, sources_json(sources))
        write_atomic(self.overrides_path, overrides.to_json())

    def load_sources(self) -> list[Source]:
        try:
            with open(self.sources_path) as handle:
                return sources_from_json(handle.read())
        except FileNotFoundError:
            raise StateError(f"emulation {self.name!r} has no {self.sources_path}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{self.sources_path} is damaged ({exc}); run 'dpctl down {self.name}'") from None

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
        write_atomic(self.status_path, json.dumps(status))

    def status(self) -> dict[str, Any]:
        try:
            with open(self.status_path) as handle:
                found = json.load(handle)
        except (OSError, ValueError):
            return {"phase": "unknown"}
        return dict(found) if isinstance(found, dict) else {"phase": "unknown"}

    def load_plan(self) -> Plan:
        try:
            with open(self.plan_path) as handle:
                text = handle.read()
        except FileNotFoundError:
            raise StateError(f"emulation {self.name!r} is not up (no {self.plan_path})") from None
        try:
            return Plan.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{self.plan_path} is damaged ({exc}); run 'dpctl down {self.name}'") from None

    def remove(self) -> bool:
        """Remove the directory if it is provably this emulation's (or an empty
        one left by a crash before the marker was written); whether it went."""
        if self.owned():
            shutil.rmtree(self.path)
            return True
        if not os.path.islink(self.path) and os.path.isdir(self.path):
            try:
                os.rmdir(self.path)  # only ever succeeds on an empty directory
                return True
            except OSError:
                pass
        return False


def emulation_names() -> list[str]:
    """Names with a state directory of dpctl's own (running, or left behind by a crash)."""
    try:
        entries = os.listdir(state_root())
    except FileNotFoundError:
        return []
    names = []
    for entry in entries:
        try:
            state = StateDir(entry)
        except InputError:
            continue
        if state.owned():
            names.append(entry)
    return sorted(names)
