"""ztunnel's access log (``ztunnel.md`` §4.2), one line per connection at completion.

Plain format: ``<RFC3339 UTC µs>Z<TAB>info|error<TAB>access<TAB>connection
complete<TAB>k=v ...``, strings quoted, addresses not, fields in ztunnel's
order and absent ones omitted.  Lines go to the ``access`` logger, which the
ztunnel points at the agent's stderr (its log file) with no extra prefix.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from dataclasses import dataclass

from dataplane.topology.plan import Pod

log = logging.getLogger("access")

_ADDRESS_FIELDS = {"src.addr", "dst.addr", "dst.hbone_addr"}
_ORDER = (
    "src.addr", "src.workload", "src.namespace", "src.identity", "dst.addr", "dst.hbone_addr", "dst.service",
    "dst.workload", "dst.namespace", "dst.identity", "direction", "bytes_sent", "bytes_recv", "duration", "error",
)


def setup() -> None:
    """Send access lines to stderr as they are (idempotent)."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
        log.setLevel(logging.INFO)


@dataclass
class Entry:
    fields: dict[str, object]

    def line(self, now: dt.datetime | None = None) -> str:
        now = now or dt.datetime.now(dt.UTC)
        level = "error" if self.fields.get("error") else "info"
        parts = []
        for key in _ORDER:
            value = self.fields.get(key)
            if value is None or value == "":
                continue
            if key in _ADDRESS_FIELDS or isinstance(value, int):
                parts.append(f"{key}={value}")
            else:
                parts.append(f'{key}="{value}"')
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
        return f"{stamp}\t{level}\taccess\tconnection complete\t{' '.join(parts)}"


def addr(address: tuple[str, int] | None) -> str | None:
    return None if address is None else f"{address[0]}:{address[1]}"


def write(fields: dict[str, object]) -> str:
    """Log one connection; returns the line (tests read it back from the log file)."""
    line = Entry(fields).line()
    log.info("%s", line)
    return line


def workload(prefix: str, pod: Pod | None, identity: str | None) -> dict[str, object]:
    """The ``src.*``/``dst.*`` workload fields of a known pod (identity only over mTLS)."""
    if pod is None:
        return {}
    fields: dict[str, object] = {f"{prefix}.workload": pod.name, f"{prefix}.namespace": pod.namespace}
    if identity:
        fields[f"{prefix}.identity"] = identity.removeprefix("spiffe://")
    return fields


def complete(fields: dict[str, object], started: float | None, sent: int, received: int) -> None:
    """Finish a connection's line (ztunnel's view: ``sent`` to the client,
    ``received`` from it) and write it; ``started`` (``time.monotonic``) is
    None for a connection refused before it began."""
    duration = 0 if started is None else int((time.monotonic() - started) * 1000)
    fields.update(bytes_sent=sent, bytes_recv=received, duration=f"{duration}ms")
    write(fields)
