"""What a pod's HTTP responder answers, whichever HTTP version carried the request.

Every request gets a JSON report of itself, so a test can tell exactly where
it landed and what a proxy in front changed.  A few httpbin-style paths and
one header let a test provoke what a proxy in front must handle (timeouts,
retries, outlier detection); the HTTP/1.1 and HTTP/2 servers both ask here,
so a behaviour never depends on the version a client or proxy happened to use.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from dataplane.topology.plan import Pod

SERVER_NAME = b"dpctl-agent"  # the ``server`` header of every built-in HTTP answer
NO_BODY_STATUSES = frozenset({204, 304})  # answered without a body, whatever the answer says
MAX_DELAY = 60.0
FAIL_AFTER_HEADER = "x-dpctl-fail-after"
FAIL_SWITCH = "/dpctl/fail/"


class Answer(NamedTuple):
    status: int
    content_type: bytes
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(frozen=True)
class Request:
    """One complete request as the responder saw it (``headers`` without Host / ``:authority``)."""

    method: str
    target: str
    host: str
    headers: tuple[tuple[str, str], ...]
    body_bytes: int
    client: tuple[str, int]
    port: int
    protocol: str = "HTTP/1.1"  # as an access log writes it: HTTP/1.1 or HTTP/2

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


def delay(target: str) -> float:
    """Seconds to wait before answering: ``/delay/<seconds>`` (at most ``MAX_DELAY``), else none."""
    path = target.split("?", 1)[0]
    if not path.startswith("/delay/"):
        return 0.0
    try:
        return min(max(float(path.removeprefix("/delay/").split("/", 1)[0]), 0.0), MAX_DELAY)
    except ValueError:
        return 0.0


class PodAnswers:
    """The answers of one pod's HTTP responder: a JSON report of the request, with

    * ``/status/<code>``: that status (400 if it is no final status);
    * ``/delay/<seconds>``: answered that late (the server waits, see ``delay``);
    * ``/flaky/<n>/...``: 503 to the first ``n`` requests for that exact path
      this pod receives, then 200;
    * ``/ip``: the report also carries ``origin``, the client's address as
      httpbin's ``/ip`` does (every report carries ``client``, address and port);
    * ``/headers``: the report, whose ``headers`` holds what httpbin's would;
    * header ``x-dpctl-fail-after: <n>``: 503 once this pod has already
      answered ``n`` requests carrying that header with that same ``n``
      (counted per pod and per ``n``, whatever the path), so a backend can be
      made to go bad mid-test; a value that is no number gets 400;
    * ``/dpctl/fail/<seconds>``: a switch, answered 200 (400 if no number):
      this pod answers 503 to every other request for the next ``seconds``
      (0 turns it back on at once), so a test can make one replica of a
      Deployment fail its load balancer's health checks and later recover,
      by reaching that pod (or any, and reading which one answered).

    Counters and switches live as long as the agent: the same pod answers
    the same way across connections, as one backend process would.
    """

    _flaky: ClassVar[dict[tuple[str, str], int]] = {}  # (pod, path) -> requests seen
    _carrying: ClassVar[dict[tuple[str, int], int]] = {}  # (pod, n of fail-after) -> requests seen
    _failing: ClassVar[dict[str, float]] = {}  # pod -> until when (time.monotonic) it answers 503

    def __init__(self, pod: Pod):
        self._pod = pod

    @property
    def pod_key(self) -> str:
        """``<namespace>/<pod>``: what a gRPC answer names as its server (``x-dpctl-pod`` metadata)."""
        return self._pod.key

    def answer(self, request: Request) -> Answer:
        report = self._report(request)
        status = self.forced_status(request) or self._status(request)
        return Answer(status, b"application/json", json.dumps(report).encode() + b"\n")

    def forced_status(self, request: Request) -> int | None:
        """503 when ``x-dpctl-fail-after`` says this pod now fails, 400 for a bad value, else None.

        Counts the request, so call it once per request.
        """
        value = request.header(FAIL_AFTER_HEADER)
        if value is None:
            return None
        if not value.strip().isdigit():
            return 400
        key = (self._pod.key, int(value))
        answered = self._carrying.get(key, 0)
        self._carrying[key] = answered + 1
        return 503 if answered >= key[1] else None

    def _status(self, request: Request) -> int:
        path = request.path
        if path.startswith(FAIL_SWITCH):
            seconds = path.removeprefix(FAIL_SWITCH)
            if not seconds.isdigit():
                return 400
            self._failing[self._pod.key] = time.monotonic() + int(seconds)
            return 200
        if time.monotonic() < self._failing.get(self._pod.key, 0.0):
            return 503
        if path.startswith("/flaky/"):
            failures = path.removeprefix("/flaky/").split("/", 1)[0]
            key = (self._pod.key, path)
            self._flaky[key] = seen = self._flaky.get(key, 0) + 1
            return 503 if failures.isdigit() and seen <= int(failures) else 200
        if not path.startswith("/status/"):
            return 200
        code = path.removeprefix("/status/")
        return int(code) if code.isdigit() and 200 <= int(code) <= 599 else 400

    def _report(self, request: Request) -> dict[str, object]:
        report: dict[str, object] = {
            "pod": self._pod.name,
            "namespace": self._pod.namespace,
            "node": self._pod.node,
            "podIP": self._pod.ip,
            "client": f"{request.client[0]}:{request.client[1]}",
            "method": request.method,
            "path": request.target,
            "host": request.host,
            "port": request.port,
            "protocol": request.protocol,
            "bodyBytes": request.body_bytes,
            "headers": dict(request.headers),
        }
        if request.path == "/ip":
            report["origin"] = request.client[0]
        return report
