"""Scalar syntaxes shared by the translators: host names and durations.

Gateway API and Istio write durations differently (GEP-2257 ``1m30s``,
integers only; Istio takes Go's ``time.ParseDuration``, so ``0.5s`` and
``5m`` both work), and name Services differently (a Service name in a
namespace; a host that is a short name or an FQDN).  Both are decided here
once so that HTTPRoute, VirtualService and DestinationRule agree.
"""

from __future__ import annotations

import re

from .model import Report

DEFAULT_DOMAIN = "cluster.local"

_GATEWAY_DURATION = re.compile(r"(?:[0-9]{1,5}(?:h|ms|m|s)){1,4}")
_GATEWAY_PART = re.compile(r"([0-9]{1,5})(h|ms|m|s)")
_GO_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def gateway_duration(text: str) -> float:
    """A Gateway API duration (GEP-2257: up to four ``<int><h|m|s|ms>``
    parts, e.g. ``1s``, ``500ms``, ``1m30s``) in seconds; ValueError otherwise."""
    if not _GATEWAY_DURATION.fullmatch(text):
        raise ValueError(f"{text!r} is not a Gateway API duration (e.g. 1s, 500ms, 1m30s)")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _GATEWAY_PART.findall(text))


def istio_duration(text: str) -> float:
    """An Istio duration (Go syntax: ``5s``, ``0.5s``, ``1m30s``, ``100ms``)
    in seconds; ValueError for anything else, a sign included."""
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    while position < len(text):
        part = _GO_PART.match(text, position)
        if part is None:
            raise ValueError(f"{text!r} is not a duration (e.g. 5s, 0.5s, 1m30s, 100ms)")
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        position = part.end()
    if position == 0:
        raise ValueError("empty duration")
    return total


def service_fqdn(name: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    return f"{name}.{namespace}.svc.{domain}"


def resolve_host(host: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    """Istio's short-name rule: a host without a dot is a Service of the
    object's namespace; any other host is taken as written (``reviews.other``
    is *not* completed, as in Istio)."""
    host = host.lower()
    return host if "." in host or host == "*" else service_fqdn(host, namespace, domain)


def host_matches(pattern: str, host: str) -> bool:
    """``*`` matches any host, ``*.suffix`` any host ending in ``.suffix``."""
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return pattern == host


def namespace_of(fqdn: str) -> str | None:
    """The namespace of a ``<name>.<namespace>.svc.<domain>`` host, else None."""
    parts = fqdn.split(".")
    return parts[1] if len(parts) >= 4 and parts[2] == "svc" else None


class Tally:
    """A report callback that counts: a translator hands back nothing for a
    document with a problem, as the API server (or istiod) would refuse it."""

    def __init__(self, report: Report):
        self._report = report
        self.count = 0

    def __call__(self, path: str, message: str) -> None:
        self.count += 1
        self._report(path, message)
