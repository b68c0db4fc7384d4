"""The last ``dpctl verify`` report and the recent ``dpctl trace`` results, kept
in the emulation's state directory so that ``dpctl ui`` (another process, maybe
started later) can show them.

Each is the command's own JSON (``-o json``), written atomically: a reader sees
a whole report or the previous one.  Traces keep the newest ``TRACES_KEPT``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from dataplane.atomicfile import write_atomic

REPORTS = "reports"
VERIFY = "verify.json"
TRACES = "traces.json"
TRACES_KEPT = 20

PathLike = str | os.PathLike[str]


def verify_path(state_dir: PathLike) -> Path:
    return Path(state_dir, REPORTS, VERIFY)


def traces_path(state_dir: PathLike) -> Path:
    return Path(state_dir, REPORTS, TRACES)


def save_verify(state_dir: PathLike, report: dict[str, Any]) -> None:
    """Keep ``report`` (``VerifyReport.as_dict()``) as the last verify report, stamped with its time."""
    path = verify_path(state_dir)
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, json.dumps({"at": time.time(), "report": report}))


def load_verify(state_dir: PathLike) -> dict[str, Any] | None:
    """The last verify report as saved (``{"at": epoch seconds, "report": {...}}``), or None."""
    return _load(verify_path(state_dir))


def save_trace(state_dir: PathLike, trace: dict[str, Any]) -> None:
    """Add one trace result (``dpctl trace -o json``'s object) to the newest ``TRACES_KEPT``."""
    path = traces_path(state_dir)
    path.parent.mkdir(exist_ok=True)
    kept = load_traces(state_dir)[-(TRACES_KEPT - 1):]
    write_atomic(path, json.dumps([*kept, {"at": time.time(), "trace": trace}]))


def load_traces(state_dir: PathLike) -> list[dict[str, Any]]:
    """The kept trace results, oldest first (each ``{"at": ..., "trace": {...}}``)."""
    loaded = _load(traces_path(state_dir))
    return loaded if isinstance(loaded, list) else []


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
