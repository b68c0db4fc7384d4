"""Envoy's default access log line, as a waypoint writes one per request.

``[start] "METHOD PATH PROTOCOL" code flags details termination "-" bytes_in
bytes_out duration upstream_time "x-forwarded-for" "user-agent" "request-id"
"authority" "upstream_host" cluster upstream_local downstream_local
downstream_remote sni route`` (``waypoint-l7.md`` §5), absent values ``-``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

log = logging.getLogger("access")


@dataclass(frozen=True)
class Entry:
    start: dt.datetime
    method: str
    path: str
    protocol: str  # "HTTP/1.1" | "HTTP/2"
    code: int
    flags: str
    details: str
    bytes_in: int
    bytes_out: int
    duration_ms: int
    upstream_ms: int | None
    forwarded_for: str | None
    user_agent: str | None
    request_id: str | None
    authority: str
    upstream_host: str | None
    cluster: str | None
    downstream_local: str
    downstream_remote: str
    route: str = "default"

    def line(self) -> str:
        def quoted(value: str | None) -> str:
            return f'"{value}"' if value else '"-"'

        def bare(value: object) -> str:
            return "-" if value is None or value == "" else str(value)

        stamp = self.start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.start.microsecond // 1000:03d}Z"
        upstream_local = "envoy://internal_client_address/" if self.upstream_host else "-"
        return (
            f'[{stamp}] "{self.method} {self.path} {self.protocol}" {self.code} {self.flags} {bare(self.details)} - "-" '
            f"{self.bytes_in} {self.bytes_out} {self.duration_ms} {bare(self.upstream_ms)} "
            f"{quoted(self.forwarded_for)} {quoted(self.user_agent)} {quoted(self.request_id)} {quoted(self.authority)} "
            f"{quoted(self.upstream_host)} {bare(self.cluster)} {upstream_local} {self.downstream_local} "
            f"{self.downstream_remote} - {self.route}"
        )


def write(entry: Entry) -> str:
    """Log one request; returns the line (tests read it back from the agent's log)."""
    line = entry.line()
    log.info("%s", line)
    return line
