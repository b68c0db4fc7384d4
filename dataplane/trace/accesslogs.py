"""The proxies' access-log lines a live connection produced, read back from the agents' logs.

Each node agent writes its ztunnel's lines (``connection complete`` with
``k=v`` fields, ``ztunnel.md`` §4.2) and its waypoints' Envoy lines
(``waypoint-l7.md`` §5) to its log file, among everything else it logs.  The
CLI reads what each involved agent appended during the connection; this
module parses those lines and keeps the connection's own: the source
ztunnel's outbound line (by the client's address and port), the waypoint's
request (by the ``x-request-id`` the live request carried), and the inbound
lines at the endpoints the trace predicted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

_KV = re.compile(r'(?P<k>[\w.]+)=(?:"(?P<q>[^"]*)"|(?P<v>\S+))')
_ENVOY = re.compile(
    r'^\[(?P<start>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>[^"]+)" (?P<code>\d+) (?P<flags>\S+) '
    r'(?P<details>\S+) - "-" \d+ \d+ \d+ \S+ "[^"]*" "[^"]*" "(?P<request_id>[^"]*)" "(?P<authority>[^"]*)" '
    r'"(?P<upstream_host>[^"]*)" (?P<cluster>\S+) \S+ (?P<downstream_local>\S+) (?P<downstream_remote>\S+) - \S+$'
)
UPSTREAM_PREFIX = "envoy://connect_originate/"


@dataclass(frozen=True)
class ZtunnelLine:
    node: str
    fields: dict[str, str] = field(hash=False)
    raw: str = ""

    @property
    def direction(self) -> str:
        return self.fields.get("direction", "")


@dataclass(frozen=True)
class EnvoyLine:
    node: str
    method: str
    path: str
    code: int
    flags: str
    details: str
    request_id: str
    upstream_host: str  # "" when the request went nowhere
    cluster: str
    raw: str = ""

    @property
    def endpoint(self) -> str:
        """The endpoint the waypoint sent the request to (``ip:port``), or ""."""
        return self.upstream_host.removeprefix(UPSTREAM_PREFIX) if self.upstream_host != "-" else ""


def parse(node: str, text: str) -> list[ZtunnelLine | EnvoyLine]:
    """The access-log lines in an agent's log text; everything else is skipped."""
    found: list[ZtunnelLine | EnvoyLine] = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 5 and parts[2] == "access" and parts[3] == "connection complete":
            fields = {m.group("k"): m.group("q") if m.group("q") is not None else m.group("v")
                      for m in _KV.finditer(parts[4])}
            found.append(ZtunnelLine(node, fields, line))
        elif (envoy := _ENVOY.match(line)) is not None:
            g = envoy.groupdict()
            found.append(EnvoyLine(node, g["method"], g["path"], int(g["code"]), g["flags"], g["details"],
                                   g["request_id"], g["upstream_host"], g["cluster"], line))
    return found


def ours(
    lines: Iterable[ZtunnelLine | EnvoyLine], client: str, request_id: str, endpoints: Collection[str],
    peers: Collection[str],
) -> list[ZtunnelLine | EnvoyLine]:
    """The connection's lines: the outbound one from ``client`` (ip:port), the waypoint's
    request ``request_id``, and inbound ones for one of ``endpoints`` from one of ``peers`` (IPs)."""
    kept: list[ZtunnelLine | EnvoyLine] = []
    for line in lines:
        if isinstance(line, EnvoyLine):
            if request_id and line.request_id == request_id:
                kept.append(line)
        elif line.direction == "outbound" and line.fields.get("src.addr") == client:
            kept.append(line)
        elif line.direction == "inbound" and (
            line.fields.get("dst.hbone_addr") in endpoints or line.fields.get("dst.addr") in endpoints
        ) and line.fields.get("src.addr", "").rpartition(":")[0] in peers:
            kept.append(line)
    return kept
