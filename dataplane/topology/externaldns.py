"""What each ExternalDNS Deployment's sources find in a plan: its endpoints.

ExternalDNS reads objects' status and annotations (``aws-edge.md`` §3); in
the emulation both are in the plan when it is built, so the endpoints are
too, and a reconcile (``route53.sync``, run by ``realize.route53``) only
adds what the zones held before.  With the annotation prefix the
ExternalDNS was given (``<p>``):

* ``ingress``: names from ``spec.rules[].host``, ``spec.tls[].hosts`` and
  ``<p>hostname`` (a comma list); the target is the Ingress's status -- the
  DNS name of the ALB that serves it -- unless ``<p>target`` lists others;
  an Ingress no ALB serves has no status and so no record.
* ``service``: a LoadBalancer Service's ``<p>hostname`` names point at its
  status: the VIP of the in-tree load balancer, or the DNS name of its NLB
  (``topology.nlbs``, which the AWS provider makes an ALIAS), and any Service's ``<p>internal-hostname`` at its
  ClusterIP; a Service with neither makes no record (there is no
  ``--fqdn-template`` here).

* ``gateway-httproute`` / ``gateway-grpcroute``: an HTTPRoute's (GRPCRoute's)
  ``spec.hostnames`` point at the addresses of the Gateways it names that
  the emulation serves -- an ALB Gateway's ALB DNS name, an istio Gateway's
  LoadBalancer address -- as the Gateway's ``status.addresses`` carry them
  (the choice where ExternalDNS also checks the route's acceptance: a
  parentRef to a served Gateway is enough here).

``<p>ttl`` is seconds or a duration (1..2147483647 s).  A target that is an
IPv4 address makes an A endpoint, an IPv6 one AAAA, anything else a CNAME.
A name in no hosted zone ExternalDNS could write to is skipped, which is a
warning naming the object and field; so is an annotation under the other
prefix, which this ExternalDNS does not read.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterator

from ..l7.routing.gateway import gateway_refs
from ..route53 import registry
from ..route53.records import Endpoint
from ..route53.settings import ALPHA_PREFIX, GA_PREFIX, Settings
from ..route53.sync import zones_for
from .gateway_albs import NAME_PREFIX
from .model import ExternalDnsSpec, Manifest, TopologySpec
from .parse_gateways import SUFFIX
from .plan import ExternalDns, Plan, TrafficObject

_DURATION_PART = re.compile(r"(\d+)(h|m|s)")
_UNITS = {"h": 3600, "m": 60, "s": 1}
MAX_TTL = 2147483647

Found = tuple[str, str, str, str]  # (hostname, field it came from, object label, resource)


def with_external_dns(plan: Plan, manifest: Manifest, topology: TopologySpec) -> Plan:
    """``plan`` with the Topology's hosted zones and each ExternalDNS's endpoints (and the warnings they raise)."""
    warnings: list[str] = []
    controllers = tuple(_controller(plan, manifest, spec, topology, warnings) for spec in manifest.external_dns)
    return dataclasses.replace(
        plan, hosted_zones=topology.hosted_zones, external_dns=controllers, warnings=(*plan.warnings, *warnings)
    )


def _controller(
    plan: Plan, manifest: Manifest, spec: ExternalDnsSpec, topology: TopologySpec, warnings: list[str]
) -> ExternalDns:
    settings = spec.settings
    who = f"ExternalDNS {spec.namespace}/{spec.name}"
    endpoints = []
    if settings.runs:
        for name, where, label, resource, targets, ttl in _found(plan, manifest, settings, who, warnings):
            if not settings.wants(name):
                continue
            zones = zones_for(topology.hosted_zones, settings, name)
            if not zones:
                warnings.append(f"{label} {where}: {name} is in no hosted zone {who} may write to: it skips the name")
                continue
            kind = _record_type(targets[0])
            txt = registry.txt_name(settings, name, "A" if kind == "CNAME" and not settings.prefer_cname else kind)
            if not zones[0].holds(txt):
                warnings.append(f"{label} {where}: the TXT record of {name} would be {txt}, outside zone {zones[0].name}"
                                f" ({who} needs a --txt-prefix with %{{record_type}} ending in '.'): it skips the name")
                continue
            endpoints.append(Endpoint(name, kind, targets, resource, ttl))
    return ExternalDns(spec.namespace, spec.name, settings, tuple(endpoints))


def _found(
    plan: Plan, manifest: Manifest, settings: Settings, who: str, warnings: list[str]
) -> Iterator[tuple[str, str, str, str, tuple[str, ...], int | None]]:
    """(name, field, object label, resource, targets, ttl) of every name the sources find."""
    prefix = settings.annotation_prefix
    other = ALPHA_PREFIX if prefix == GA_PREFIX else GA_PREFIX
    served = {key: lb.dns_name for lb in plan.load_balancers for key in lb.ingresses}
    nlbs = {lb.group: (lb.dns_name,) for lb in plan.load_balancers if lb.kind == "nlb"}
    objects: list[tuple[str, str, dict[str, str], list[tuple[str, str]], tuple[str, ...]]] = []
    if "ingress" in settings.sources:
        for obj in plan.traffic:
            if obj.kind == "Ingress" and settings.namespace in ("", obj.namespace):
                key = f"{obj.namespace}/{obj.name}"
                status: tuple[str, ...] = (served[key],) if key in served else ()
                objects.append(("Ingress", key, obj.annotations, _ingress_hosts(obj, prefix), status))
    if "service" in settings.sources:
        for service in plan.services:
            if settings.namespace not in ("", service.namespace):
                continue
            annotations = manifest.service_annotations.get(service.key, {})
            hostnames = [(h, f"metadata.annotations[{prefix}hostname]") for h in _listed(annotations, f"{prefix}hostname")]
            status = (service.load_balancer_ips or nlbs.get(service.key, ())) if service.type == "LoadBalancer" else ()
            # its internal-hostname names point at another target: listed again, with the ClusterIP
            objects.append(("Service", service.key, annotations, hostnames, status))
            internal = _listed(annotations, f"{prefix}internal-hostname")
            if internal and service.cluster_ip:
                field = f"metadata.annotations[{prefix}internal-hostname]"
                objects.append(("Service", service.key, annotations, [(h, field) for h in internal], (service.cluster_ip,)))
    gateways = _gateway_addresses(plan)
    for source, kind in (("gateway-httproute", "HTTPRoute"), ("gateway-grpcroute", "GRPCRoute")):
        if source not in settings.sources:
            continue
        for obj in plan.traffic:
            if obj.kind != kind or settings.namespace not in ("", obj.namespace):
                continue
            refs = gateway_refs(obj.namespace, obj.spec)
            targets = tuple(dict.fromkeys(a for ref in refs for a in gateways.get(f"{ref.namespace}/{ref.name}", ())))
            hosts = [(str(h), f"spec.hostnames[{i}]") for i, h in enumerate(obj.spec.get("hostnames", []))]
            objects.append((kind, f"{obj.namespace}/{obj.name}", obj.annotations, hosts, targets))
    for kind, key, annotations, hostnames, status in objects:
        label = f"{kind} {key}"
        said = len(warnings)
        for ignored in sorted(a for a in annotations if a.startswith(other)):
            warnings.append(f"{label} metadata.annotations[{ignored}]: {who} reads annotations under {prefix} only"
                            " (--annotation-prefix): this one is not read")
        targets = tuple(_listed(annotations, f"{prefix}target")) or status
        ttl = _ttl(annotations.get(f"{prefix}ttl"), f"{label} metadata.annotations[{prefix}ttl]", warnings)
        warnings[said:] = [w for w in warnings[said:] if w not in warnings[:said]]  # a Service listed twice: once
        resource = f"{kind.lower()}/{key}"
        for name, where in hostnames:
            if targets:
                yield name.lower().rstrip("."), where, label, resource, targets, ttl


def _gateway_addresses(plan: Plan) -> dict[str, tuple[str, ...]]:
    """The ``status.addresses`` of every Gateway the emulation serves, by ``ns/name``."""
    found = {lb.group.removeprefix(NAME_PREFIX): (lb.dns_name,) for lb in plan.load_balancers
             if lb.group.startswith(NAME_PREFIX)}
    for service in plan.services:  # an istio Gateway's LoadBalancer Service, <name>-istio
        if service.key.endswith(SUFFIX) and service.load_balancer_ips and any(
            t.kind == "Gateway" and f"{t.namespace}/{t.name}{SUFFIX}" == service.key for t in plan.traffic
        ):
            found[service.key.removesuffix(SUFFIX)] = service.load_balancer_ips
    return found


def _ingress_hosts(obj: TrafficObject, prefix: str) -> list[tuple[str, str]]:
    rules = [(str(r["host"]), f"spec.rules[{i}].host") for i, r in enumerate(obj.spec.get("rules", []))
                   if isinstance(r, dict) and r.get("host")]
    tls = [(str(h), f"spec.tls[{i}].hosts[{j}]") for i, t in enumerate(obj.spec.get("tls", []))
           if isinstance(t, dict) for j, h in enumerate(t.get("hosts", []))]
    annotated = [(h, f"metadata.annotations[{prefix}hostname]") for h in _listed(obj.annotations, f"{prefix}hostname")]
    return list(dict.fromkeys([*rules, *tls, *annotated]))


def _listed(annotations: dict[str, str], key: str) -> list[str]:
    return _split(annotations.get(key, ""))


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _record_type(target: str) -> str:
    try:
        return "A" if ipaddress.ip_address(target).version == 4 else "AAAA"
    except ValueError:
        return "CNAME"


def _ttl(text: str | None, where: str, warnings: list[str]) -> int | None:
    """``<p>ttl``: seconds or a duration such as 5m; 0 or absent is the provider's default."""
    if text is None:
        return None
    seconds = None
    if text.isdigit():
        seconds = int(text)
    elif re.fullmatch(r"(\d+[hms])+", text):
        seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))
    if seconds is None or seconds > MAX_TTL:
        warnings.append(f"{where}: expected seconds or a duration (1 to {MAX_TTL} s), got {text!r}: the TTL is ignored")
        return None
    return seconds or None
