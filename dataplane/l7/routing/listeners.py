"""A north-south Gateway's listeners, and Gateway API's hostname rules.

One ``Listener`` per ``spec.listeners`` entry, checked as the API server and
Istio would (``aws-edge.md`` §2.3): ``HTTPS`` must ``Terminate`` and
``Terminate`` needs ``certificateRefs`` (Secrets, ``<ns>/<name>``);
``TLS`` listeners are served in ``Passthrough`` mode (terminating TLS for
TCPRoutes is not emulated: a warning, and the listener takes no route).

Hostnames follow the API's wildcard rule -- ``*.example.com`` matches
``a.example.com`` and ``x.a.example.com`` but not ``example.com`` -- for a
listener's hostname against SNI or Host (``matches``), for the hostnames a
route gets on a listener (``intersect``), and for which listener of a port
takes a ClientHello (``for_sni``: the most specific hostname wins, as
Envoy's filter-chain match on server names does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .model import Report

PROTOCOLS = ("HTTP", "HTTPS", "TLS")
ROUTE_KINDS = {"HTTP": ("HTTPRoute", "GRPCRoute"), "HTTPS": ("HTTPRoute", "GRPCRoute"), "TLS": ("TLSRoute",)}


@dataclass(frozen=True)
class Listener:
    name: str
    port: int
    protocol: str  # HTTP | HTTPS | TLS
    hostname: str | None = None  # None: every host
    tls_mode: str | None = None  # Terminate | Passthrough (None for HTTP)
    certificates: tuple[str, ...] = ()  # Secrets as "<ns>/<name>", the first is the one served
    allowed_from: str = "Same"  # allowedRoutes.namespaces.from: Same | All | Selector
    allowed_selector: tuple[tuple[str, str], ...] = ()  # its matchLabels

    @property
    def route_kinds(self) -> tuple[str, ...]:
        """The route kinds the listener admits (Gateway API's default ``allowedRoutes.kinds``)."""
        return ROUTE_KINDS[self.protocol]

    @property
    def terminates(self) -> bool:
        return self.tls_mode == "Terminate"


def parse(
    namespace: str, spec: Mapping[str, Any], report: Report, warn: Report, certificates_required: bool = True
) -> tuple[Listener, ...]:
    """The Gateway's listeners it serves; a listener with a problem is reported and left out.
    ``certificates_required`` False: a Terminate listener may have no certificateRefs (an AWS
    Gateway takes its certificates elsewhere)."""
    out: list[Listener] = []
    seen: set[str] = set()
    for i, raw in enumerate(spec.get("listeners", [])):
        at = f"spec.listeners[{i}]"
        name, protocol = raw.get("name"), raw.get("protocol")
        if name is None or protocol is None:  # the schema reported the missing field
            continue
        if name in seen:
            report(f"{at}.name", f"{name!r} is used by another listener: listener names must be unique")
            continue
        seen.add(name)
        if protocol not in PROTOCOLS:
            warn(f"{at}.protocol", f"{protocol} listeners are not emulated (only {', '.join(PROTOCOLS)})")
            continue
        listener = _listener(at, namespace, raw, report, warn, certificates_required)
        if listener is not None:
            out.append(listener)
    return tuple(out)


def _listener(
    at: str, namespace: str, raw: Mapping[str, Any], report: Report, warn: Report, certificates_required: bool
) -> Listener | None:
    protocol, tls = raw["protocol"], raw.get("tls")
    mode: str | None = None
    certificates: tuple[str, ...] = ()
    if protocol == "HTTP":
        if tls is not None:
            report(f"{at}.tls", "an HTTP listener takes no tls")
            return None
    else:
        mode = (tls or {}).get("mode", "Terminate")
        refs = (tls or {}).get("certificateRefs", [])
        if protocol == "HTTPS" and mode != "Terminate":
            report(f"{at}.tls.mode", "an HTTPS listener must Terminate (use protocol TLS for Passthrough)")
            return None
        if protocol == "TLS" and mode != "Passthrough":
            warn(f"{at}.tls.mode", "terminating TLS for TCPRoutes is not emulated: this listener takes no route")
            return None
        if mode == "Terminate" and not refs and certificates_required:
            report(f"{at}.tls.certificateRefs", "a Terminate listener needs at least one certificateRef")
            return None
        certificates = tuple(_secret(f"{at}.tls.certificateRefs[{c}]", namespace, ref, report)
                             for c, ref in enumerate(refs)) if mode == "Terminate" else ()
    hostname = raw.get("hostname")
    if hostname is not None and not valid_hostname(hostname):
        report(f"{at}.hostname", f"{hostname!r} is not a hostname (a DNS name, optionally with a leading '*.')")
        return None
    namespaces = raw.get("allowedRoutes", {}).get("namespaces", {})
    return Listener(
        raw["name"], raw["port"], protocol, hostname.lower() if hostname else None, mode, certificates,
        namespaces.get("from", "Same"), tuple(sorted(namespaces.get("selector", {}).get("matchLabels", {}).items())),
    )


def _secret(where: str, namespace: str, ref: Mapping[str, Any], report: Report) -> str:
    group, kind = ref.get("group", ""), ref.get("kind", "Secret")
    if (group, kind) != ("", "Secret"):
        report(where, f"{kind} is not a certificate dpctl issues: use a Secret (group \"\", kind Secret)")
    return f"{ref.get('namespace', namespace)}/{ref.get('name', '')}"


def valid_hostname(name: str) -> bool:
    """A DNS name, or ``*.`` and one; not an IP address (the API's pattern)."""
    labels = name.lower().removeprefix("*.").split(".")
    if name.startswith("*") and not name.startswith("*."):
        return False
    if all(label.isdigit() for label in labels):
        return False
    return all(0 < len(x) <= 63 and x.replace("-", "").isalnum() and x.isascii() and not x.startswith("-")
               and not x.endswith("-") for x in labels)


def matches(pattern: str | None, host: str) -> bool:
    """Whether a listener (or route) hostname ``pattern`` covers ``host``; None and ``*`` cover all."""
    host = host.lower().rstrip(".")
    if pattern is None or pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return pattern == host


def intersect(listener: str | None, route: Sequence[str]) -> tuple[str, ...]:
    """The hostnames a route serves on a listener: the route's that the
    listener covers, the listener's where a route wildcard covers it; empty
    when they do not intersect.  No route hostnames: the listener's (or ``*``)."""
    if not route:
        return (listener or "*",)
    out: list[str] = []
    for host in (h.lower() for h in route):
        if matches(listener, host):
            found = host
        elif listener is not None and host.startswith("*.") and matches(host, listener):
            found = listener
        else:
            continue
        if found not in out:
            out.append(found)
    return tuple(out)


def host_of(authority: str) -> str:
    """The host of a Host header or ``:authority`` (its port, if any, left out), lower case."""
    host, colon, port = authority.rpartition(":")
    if colon and port.isdigit() and not host.endswith(":"):
        return host.lower()
    return authority.lower()


def specificity(pattern: str) -> tuple[int, int]:
    """Sort key, most specific first: an exact name, then longer wildcards, then ``*``."""
    if pattern == "*":
        return (2, 0)
    if pattern.startswith("*."):
        return (1, -len(pattern))
    return (0, -len(pattern))


def best(patterns: Iterable[str], host: str) -> str | None:
    """The most specific of ``patterns`` that covers ``host``."""
    found = sorted((p for p in patterns if matches(p, host)), key=specificity)
    return found[0] if found else None


def for_sni(listeners: Iterable[Listener], sni: str | None) -> Listener | None:
    """The listener of one port a ClientHello reaches: the most specific
    hostname matching its SNI; without SNI only a listener with no hostname
    (or ``*``) takes it -- none: the handshake is refused."""
    candidates = [li for li in listeners if li.protocol != "HTTP"]
    if sni is None:
        return next((li for li in candidates if li.hostname in (None, "*")), None)
    chosen = best((li.hostname or "*" for li in candidates), sni)
    return next((li for li in candidates if (li.hostname or "*") == chosen), None) if chosen else None
