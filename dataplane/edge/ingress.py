"""Ingresses (networking.k8s.io/v1) to ALBs, as the AWS Load Balancer
Controller builds them (``pkg/ingress/model_build_*.go``).

One ALB per IngressGroup (``grouping``).  Each Ingress asks for its own
``listen-ports`` (default HTTP 80, or HTTPS 443 when it names a
``certificate-arn``) and its rules go only to those listeners, in group
order; within an Ingress, Exact paths first, then Prefix paths longest
first, then ImplementationSpecific ones as written (LBC >= 2.4.3).  A path
becomes ELBv2 path patterns: ``Exact /p`` is ``/p``, ``Prefix /p`` is ``/p``
and ``/p/*`` (``Prefix /`` is ``/*``), ImplementationSpecific is taken as an
ELBv2 wildcard pattern.

A listener's default action is a fixed 404 when no Ingress on it has a
``spec.defaultBackend``, a forward when one has, and an error when several
have.  ``ssl-redirect: '<port>'`` (an HTTPS listen port) turns every HTTP
listener into a bare 301 redirect to it, its rules dropped.

Settings that are the ALB's, not one Ingress's (``scheme``,
``load-balancer-attributes`` key by key, ``ssl-redirect``, a port's
protocol and ``ssl-policy``) must agree across the group; a clash is
reported on the later Ingress, naming the earlier.  Certificates merge: the
first certificate of the first Ingress naming any is the default.

Any problem in a group is reported and the group yields no ALB, as the LBC
fails the whole build (``FailedBuildModel``); paths read
``Ingress <namespace>/<name>: <field>`` (``Service ...`` for a Service's
annotation).  Specs are taken to have the API server's types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import grouping
from .albmodel import (
    DEFAULT_SSL_POLICY,
    Action,
    Alb,
    FixedResponse,
    Forward,
    Listener,
    Redirect,
    Report,
    Rule,
    TargetGroup,
)
from .annotations import (
    GROUP_KEYS,
    INGRESS_KEYS,
    TARGET_GROUP_KEYS,
    Reader,
    parse_list,
    parse_listen_ports,
    parse_map,
    warn_unknown,
)
from .certificates import hosts_needing_certificate
from .grouping import Member
from .targetgroup import target_group
from .tlspolicy import POLICIES

SCHEMES = ("internal", "internet-facing")
ServiceAnnotations = Mapping[tuple[str, str], Mapping[str, str]]  # (namespace, name) -> annotations


def translate(
    ingresses: Sequence[object],
    ingress_classes: Mapping[str, str],
    report: Report,
    warn: Report,
    service_annotations: ServiceAnnotations | None = None,
) -> tuple[Alb, ...]:
    """The ALBs of the ALB controller's Ingresses, by group name.
    ``ingresses``: dicts or objects with namespace, name, annotations and
    spec; ``ingress_classes``: IngressClass name -> ``spec.controller``;
    ``service_annotations``: the annotations of backend Services, which
    override the Ingress's target-group settings."""
    albs = []
    for name, members in grouping.groups(ingresses, ingress_classes, report).items():
        group = _Group(name, members, service_annotations or {}, report, warn)
        alb = group.build()
        if not group.said:
            albs.append(alb)
    return tuple(albs)


@dataclass(frozen=True)
class _Ports:
    """What one Ingress asks of the listeners: {port: protocol}, its
    explicit certificates and its ssl-policy (None: unset)."""

    member: Member
    protocols: Mapping[int, str]
    certificates: tuple[str, ...]
    ssl_policy: str | None


class _Group:
    """One IngressGroup being built; ``said`` holds the problems reported
    (any problem means no ALB)."""

    def __init__(self, name: str, members: list[Member], services: ServiceAnnotations, report: Report, warn: Report):
        self.name = name
        self.members = members
        self.services = services
        self.report = report
        self.warn = warn
        self.said: set[tuple[str, str]] = set()
        self.target_groups: dict[tuple[str, str, int | str], TargetGroup | None] = {}
        self.rules: dict[str, tuple[Rule, ...]] = {}
        self.services_warned: set[str] = set()
        self.readers = {m.key: Reader([(m.label, m.annotations)], self._once) for m in members}
        for member in members:
            warn_unknown(member.label, member.annotations, GROUP_KEYS + INGRESS_KEYS + TARGET_GROUP_KEYS, warn)

    def _once(self, path: str, message: str) -> None:
        """Report a problem once, however many listeners meet it."""
        if (path, message) not in self.said:
            self.said.add((path, message))
            self.report(path, message)

    def build(self) -> Alb:
        ports = [self._ports(member) for member in self.members]
        protocols = self._protocols(ports)
        redirect = self._redirect(protocols)
        listeners = tuple(
            self._listener(port, protocol, [p for p in ports if port in p.protocols], redirect)
            for port, protocol in sorted(protocols.items())
        )
        return Alb(
            name=self.name,
            ingresses=tuple(m.key for m in self.members),
            scheme=self._scheme(),
            listeners=listeners,
            hostnames=self._hostnames(),
            attributes=self._attributes(),
        )

    # -- settings of the whole ALB ---------------------------------------------------------------

    def _exclusive(self, suffix: str, values: list[tuple[Member, str]]) -> str | None:
        """The one value the group gives ``suffix``; a clash is reported on
        the later Ingress (naming the earlier) and gives None."""
        if not values:
            return None
        first, value = values[0]
        for member, other in values[1:]:
            if other != value:
                self._once(
                    self.readers[member.key].path(suffix),
                    f"conflicting {suffix}: Ingress {first.key}: {value} | Ingress {member.key}: {other} "
                    "(the IngressGroup needs one value)",
                )
                return None
        return value

    def _scheme(self) -> str:
        values = [(m, found[0]) for m in self.members if (found := self.readers[m.key].raw("scheme"))]
        scheme = self._exclusive("scheme", values)
        if scheme is not None and scheme not in SCHEMES:
            self._once(self.readers[values[0][0].key].path("scheme"), f"unknown scheme: {scheme!r} "
                       f"(one of {', '.join(SCHEMES)})")
        return scheme or "internal"

    def _attributes(self) -> tuple[tuple[str, str], ...]:
        merged: dict[str, tuple[Member, str]] = {}
        for member in self.members:
            reader = self.readers[member.key]
            for key, value in (reader.parsed("load-balancer-attributes", parse_map) or {}).items():
                first = merged.setdefault(key, (member, value))
                if first[1] != value:
                    self._once(
                        reader.path("load-balancer-attributes"),
                        f"conflicting load balancer attributes {key}: Ingress {first[0].key}: {first[1]} | "
                        f"Ingress {member.key}: {value}",
                    )
        return tuple(sorted((key, value) for key, (_, value) in merged.items()))

    def _ports(self, member: Member) -> _Ports:
        reader = self.readers[member.key]
        certificates = tuple(parse_list(found[0])) if (found := reader.raw("certificate-arn")) else ()
        protocols = reader.parsed("listen-ports", parse_listen_ports)
        if protocols is None:
            protocols = {443: "HTTPS"} if certificates else {80: "HTTP"}
        policy = reader.string("ssl-policy")
        if policy is not None and "HTTPS" in protocols.values() and policy not in POLICIES:
            self._once(reader.path("ssl-policy"), f"unknown SSL policy {policy!r}: an ALB takes only the "
                       "predefined ELBSecurityPolicy-* policies (ELBv2 answers SSLPolicyNotFound)")
        return _Ports(member, protocols, certificates, policy)

    def _protocols(self, ports: list[_Ports]) -> dict[int, str]:
        """{port: protocol} of every listener; a port both HTTP and HTTPS is a clash."""
        chosen: dict[int, tuple[Member, str]] = {}
        for asked in ports:
            for port, protocol in asked.protocols.items():
                first = chosen.setdefault(port, (asked.member, protocol))
                if first[1] != protocol:
                    self._once(
                        self.readers[asked.member.key].path("listen-ports"),
                        f"conflicting protocol on port {port}: Ingress {first[0].key}: {first[1]} | "
                        f"Ingress {asked.member.key}: {protocol}",
                    )
        return {port: protocol for port, (_, protocol) in chosen.items()}

    def _redirect(self, protocols: Mapping[int, str]) -> int | None:
        values = [
            (m, str(port)) for m in self.members
            if (port := self.readers[m.key].integer("ssl-redirect", -(2**31), 2**31 - 1)) is not None
        ]
        chosen = self._exclusive("ssl-redirect", values)
        if chosen is None:
            return None
        port, where = int(chosen), self.readers[values[0][0].key].path("ssl-redirect")
        if port not in protocols:
            self._once(where, f"listener does not exist for SSLRedirect port: {port} (listen-ports has "
                       f"{', '.join(f'{p}/{protocols[p]}' for p in sorted(protocols))})")
            return None
        if protocols[port] != "HTTPS":
            self._once(where, f"listener protocol non-SSL for SSLRedirect port: {port} "
                       "(it must be an HTTPS listen port)")
            return None
        return port

    def _hostnames(self) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for member in self.members:
            for rule in member.spec.get("rules") or ():
                if rule.get("host"):
                    found.setdefault(rule["host"].lower())
            for tls in member.spec.get("tls") or ():
                for host in tls.get("hosts") or ():
                    found.setdefault(host.lower())
        return tuple(found)

    # -- one listener ----------------------------------------------------------------------------

    def _listener(self, port: int, protocol: str, asked: list[_Ports], redirect: int | None) -> Listener:
        members = [a.member for a in asked]
        if protocol == "HTTP" and redirect is not None:
            return Listener(protocol, port, (), Redirect(port=str(redirect)))
        rules = tuple(rule for member in members for rule in self._rules_of(member))
        default = self._default(members)
        if protocol == "HTTP":
            return Listener(protocol, port, rules, default)
        certificates = _merge_certificates(asked)
        discover = tuple(
            sorted({host for a in asked if not a.certificates for host in hosts_needing_certificate(a.member.spec)})
        )
        if not certificates and not discover:
            self._once(
                self.readers[members[0].key].path("listen-ports"),
                f"the HTTPS listener on port {port} has no certificate: set certificate-arn, or name hosts "
                "(rules[].host, tls[].hosts) for certificate discovery",
            )
        policies = [(a.member, a.ssl_policy) for a in asked if a.ssl_policy is not None]
        policy = self._exclusive("ssl-policy", policies) or DEFAULT_SSL_POLICY
        return Listener(protocol, port, rules, default, certificates, policy, discover)

    def _default(self, members: list[Member]) -> Action:
        with_default = [m for m in members if m.spec.get("defaultBackend")]
        if not with_default:
            return FixedResponse()
        if len(with_default) > 1:
            names = " ".join(m.key for m in with_default)
            for member in with_default[1:]:
                self._once(
                    f"{member.label}: spec.defaultBackend", f"multiple ingress defined default backend: [{names}]"
                )
            return FixedResponse()
        member = with_default[0]
        group = self._backend(member, member.spec["defaultBackend"], "spec.defaultBackend")
        return Forward(group) if group else FixedResponse()

    # -- one Ingress's rules ---------------------------------------------------------------------

    def _rules_of(self, member: Member) -> tuple[Rule, ...]:
        """Built once per Ingress, only when a listener takes them (an
        Ingress only on redirected HTTP listeners is not looked at)."""
        if member.key not in self.rules:
            self.rules[member.key] = tuple(
                rule for r, spec in enumerate(member.spec.get("rules") or ()) for rule in self._rule(member, r, spec)
            )
        return self.rules[member.key]

    def _rule(self, member: Member, r: int, spec: Mapping[str, Any]) -> list[Rule]:
        http = spec.get("http")
        if not http:
            return []
        host = (spec.get("host") or "").lower()
        out = []
        for p, path in _sorted_paths(list(enumerate(http.get("paths") or ()))):
            where = f"spec.rules[{r}].http.paths[{p}]"
            patterns = self._patterns(member, where, path)
            group = self._backend(member, path.get("backend") or {}, f"{where}.backend")
            if patterns is None or group is None:
                continue
            if not host and not patterns:
                patterns = ("/*",)  # the LBC's condition for a rule with neither host nor path
            out.append(Rule((host,) if host else (), patterns, Forward(group), f"{member.key} rule[{r}] path[{p}]"))
        return out

    def _patterns(self, member: Member, where: str, path: Mapping[str, Any]) -> tuple[str, ...] | None:
        value, kind = path.get("path") or "", path.get("pathType") or "ImplementationSpecific"
        if kind not in ("Exact", "Prefix", "ImplementationSpecific"):
            self._once(f"{member.label}: {where}.pathType", f"unknown pathType {kind!r} for path {value!r}")
            return None
        if not value or kind == "ImplementationSpecific":
            return (value,) if value else ()
        if kind == "Prefix" and value == "/":
            return ("/*",)
        if "*" in value or "?" in value:
            self._once(f"{member.label}: {where}.path", f"{kind.lower()} path shouldn't contain wildcards: {value}")
            return None
        if kind == "Exact":
            return (value,)
        trimmed = value.removesuffix("/")
        return (trimmed, trimmed + "/*")

    def _backend(self, member: Member, backend: Mapping[str, Any], where: str) -> TargetGroup | None:
        service = backend.get("service")
        if not service:
            self._once(f"{member.label}: {where}", "only Service backends are emulated (not resource backends)")
            return None
        port = service.get("port") or {}
        value: int | str | None = port.get("number", port.get("name"))
        if value is None:
            self._once(f"{member.label}: {where}.service.port", "needs a number or a name")
            return None
        if value == "use-annotation":
            self._once(f"{member.label}: {where}.service.port.name",
                       "use-annotation (actions.* annotations) is not emulated")
            return None
        key = (member.key, service["name"], value)
        if key not in self.target_groups:
            self.target_groups[key] = self._target_group(member, service["name"], value)
        return self.target_groups[key]

    def _target_group(self, member: Member, service: str, port: int | str) -> TargetGroup:
        label = f"Service {member.namespace}/{service}"
        annotations = self.services.get((member.namespace, service), {})
        if label not in self.services_warned:
            self.services_warned.add(label)
            warn_unknown(label, annotations, TARGET_GROUP_KEYS, self.warn)
        reader = Reader([(label, annotations), (member.label, member.annotations)], self._once)
        return target_group(member.namespace, service, port, reader)


def _sorted_paths(paths: list[tuple[int, Mapping[str, Any]]]) -> list[tuple[int, Mapping[str, Any]]]:
    """Exact, then Prefix longest first (stable), then the rest as written;
    an unknown pathType stays with the rest to be reported there."""
    exact = [entry for entry in paths if entry[1].get("pathType") == "Exact"]
    prefix = [entry for entry in paths if entry[1].get("pathType") == "Prefix"]
    prefix.sort(key=lambda entry: -len(entry[1].get("path") or ""))
    rest = [entry for entry in paths if entry[1].get("pathType") not in ("Exact", "Prefix")]
    return exact + prefix + rest


def _merge_certificates(asked: list[_Ports]) -> tuple[str, ...]:
    """The LBC's merge: the first certificate of the first Ingress naming
    any is the default; then every other certificate once, in group order."""
    merged: dict[str, None] = {}
    for entry in asked:
        for arn in entry.certificates:
            merged.setdefault(arn)
    return tuple(merged)
