"""What a connection does once a mesh proxy has captured it, as plain values.

The kernel half of ``dpctl trace`` ends where the source pod's capture
redirects the probe to its proxy's 15001.  From there the proxies decide, and
their decisions are pure functions of the plan (``meshplan``, ``waypointplan``
compute them); these values carry them to the report (``meshreport``) and to
``-o json`` unchanged, so they hold strings, numbers and tuples only.

A proxy's random choices (a Service's endpoint, a weighted backend, an
injected fault) are not drawn: every branch is kept with its share, because
the trace predicts what may happen, and ``--live`` shows what did.
"""

from __future__ import annotations

from dataclasses import dataclass

Address = tuple[str, int]


def address(found: Address) -> str:
    return f"{found[0]}:{found[1]}"


@dataclass(frozen=True)
class HttpCall:
    """The request the trace follows through a waypoint (and ``--live`` sends)."""

    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()  # lower-case names, in order
    host: str = ""  # the authority; empty: decided from the destination

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    @property
    def authority(self) -> str:
        return self.header("host") or self.host


@dataclass(frozen=True)
class Tunnel:
    """One HBONE hop: mutual TLS to ``peer`` (a 15008), one CONNECT for ``authority``."""

    source: str  # the workload that opens it (pod key)
    source_identity: str  # spiffe:// id its certificate carries
    peer: Address  # <pod IP>:15008 of the waypoint or the destination
    peer_workload: str  # pod key behind ``peer``
    peer_identity: str  # spiffe:// id the client verifies
    authority: Address  # the CONNECT :authority


@dataclass(frozen=True)
class Arrival:
    """The destination side of one endpoint: its proxy's inbound check and the app's socket."""

    pod: str  # pod key ("" when the address is no pod)
    node: str
    mode: str  # ambient | sidecar | none
    listener: int | None  # 15008 (HBONE), 15006 (captured plaintext), None (no proxy)
    tunnel: Tunnel | None  # the HBONE hop that ends here
    peer_ip: str  # the TCP peer the inbound proxy sees (client pod or waypoint pod)
    identity: str | None  # the SPIFFE id arriving with it (None: plaintext)
    allowed: bool | None  # the L4 policy verdict (None: nobody checks)
    policy: str | None
    reason: str
    app: Address  # the application's socket
    app_peer: str  # the address the application sees as its peer


@dataclass(frozen=True)
class Branch:
    """One way the connection may go: ``share`` says how likely and who draws it."""

    share: str
    endpoint: Address
    arrival: Arrival


@dataclass(frozen=True)
class BackendChoice:
    """One weighted backend of the matched route and the endpoints it may pick."""

    service: str  # FQDN ("" for workload traffic: the bound pod itself)
    port: int
    subset: str | None
    weight: int
    percent: float
    load_balancer: str
    endpoints: tuple[str, ...]  # pod keys; empty: no ready endpoint (503) or no such backend
    problem: str = ""  # why no endpoint can serve it


@dataclass(frozen=True)
class WaypointHop:
    """A waypoint's part: why it is on the path and what it does with the request."""

    waypoint: str  # ns/name of the Gateway
    pod: str
    node: str
    address: str
    bound: str  # why the traffic goes there (istiod's binding)
    target: str  # what the CONNECT names, as the waypoint reads it
    chain: str = "-"  # http | http2 | grpc | tcp
    chain_reason: str = ""
    request: str = ""  # the request line traced (HTTP chains)
    custom: str | None = None  # the CUSTOM policy whose authorizer is asked first
    l7_allowed: bool | None = None  # None: not an HTTP chain
    l7_policy: str | None = None
    l7_detail: str = ""
    route: str | None = None  # the matched rule's origin; None: no route (404 NR) or not HTTP
    route_note: str = ""  # default route, ignored attachments, ...
    outcome: str = "forward"  # forward | the local reply (e.g. "404 NR", "403 RBAC: access denied")
    filters: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()
    timing: tuple[str, ...] = ()  # timeout and retries
    backends: tuple[BackendChoice, ...] = ()
    branches: tuple[Branch, ...] = ()


@dataclass(frozen=True)
class MeshTrace:
    """The source proxy's decision and everything after it."""

    source: str  # pod key
    node: str
    proxy: str  # ztunnel | sidecar
    identity: str
    destination: Address  # the original destination (what the app connected to)
    decision: str  # hbone | passthrough | self-call | no-upstream
    reason: str
    notes: tuple[str, ...]  # waypoints asked for and not used, and why
    tunnel: Tunnel | None  # the first HBONE hop (to the waypoint when there is one)
    waypoint: WaypointHop | None
    branches: tuple[Branch, ...]  # without a waypoint: the endpoints the proxy may pick
