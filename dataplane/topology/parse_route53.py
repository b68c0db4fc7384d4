"""The Topology's Route 53 hosted zones, and ExternalDNS Deployments recognised by their image.

``spec.route53.hostedZones`` declares the zones (``name``, ``private``) and
any record sets already in them (``records``: Route 53's ``Name``, ``Type``,
``TTL``, ``ResourceRecords`` values or ``AliasTarget``), such as another
cluster's records with their registry TXT.  A private zone belongs to the
emulation's one VPC: ExternalDNS writes to it and ``dpctl get dns`` lists
it, but nothing answers from it yet (the cluster DNS forwards nowhere, where
CoreDNS would ask the VPC's resolver).

A Deployment one of whose containers runs an ``external-dns`` image is an
ExternalDNS: its ``args`` configure it (``route53.settings``; a bad one is a
warning, as the API server accepts the Deployment and only the pod fails).
Its pods are ordinary pods, but that container's command is dropped: the
controller is emulated (``topology.externaldns``), not run.  The image is
read from the document as written: the schema ignores ``image`` everywhere
else.  Services' annotations are kept for ExternalDNS's ``service`` source.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..route53.records import HostedZone, Record
from ..route53.settings import parse_args
from . import parse_pods, parse_services
from .model import ControllerSpec, ExternalDnsSpec, Manifest, Origin
from .rules import apply, dns_subdomain, ipv4_address
from .schema import Report, valid_items
from .yamlsource import item_path

IMAGE = "external-dns"
RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT")


def hosted_zones(spec: dict[str, Any], report: Report) -> tuple[HostedZone, ...]:
    zones: dict[tuple[str, bool], HostedZone] = {}
    for i, raw in valid_items(spec.get("route53", {}).get("hostedZones", [])):
        path = item_path("spec.route53.hostedZones", i)
        name = apply(dns_subdomain, str(raw.get("name", "")).lower().rstrip("."), f"{path}.name", report)
        if name is None:
            continue
        zone = HostedZone(name, raw.get("private", False))
        if zone.key in zones:
            report(f"{path}.name", f"{'private' if zone.private else 'public'} zone {name} is declared twice")
            continue
        records = tuple(_record(r, item_path(f"{path}.records", j), zone, report)
                        for j, r in valid_items(raw.get("records", [])))
        zones[zone.key] = dataclasses.replace(zone, records=tuple(r for r in records if r is not None))
    return tuple(zones.values())


def _record(raw: dict[str, Any], path: str, zone: HostedZone, report: Report) -> Record | None:
    name, kind = str(raw.get("name", "")).lower().rstrip("."), raw.get("type", "")
    values, alias = tuple(raw.get("values", ())), raw.get("aliasTarget")
    if not zone.holds(name):
        report(f"{path}.name", f"{name} is not in zone {zone.name}")
    elif kind not in RECORD_TYPES:
        report(f"{path}.type", f"must be one of {', '.join(RECORD_TYPES)}, got {kind!r}")
    elif (alias is None) == (not values) or (alias is not None and kind not in ("A", "AAAA")):
        report(path, "give values, or an aliasTarget for an A or AAAA record (an ALIAS has no values)")
    elif kind == "A" and any(apply(ipv4_address, v, f"{path}.values", report) is None for v in values):
        return None
    elif alias is not None:
        target = str(alias.get("dnsName", "")).lower().rstrip(".")
        return Record(name, kind, None, (), target, alias.get("evaluateTargetHealth", False))
    else:
        text = tuple(v if v.startswith('"') else f'"{v}"' for v in values) if kind == "TXT" else values
        return Record(name, kind, raw.get("ttl", 300), text)
    return None


def parse_deployment(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    """A Deployment, and the ExternalDNS it may be."""
    parse_pods.parse_controller(clean, origin, manifest)
    raw = _containers(origin.document.data)
    containers = _containers(clean)
    found = [i for i, c in enumerate(raw) if isinstance(c, dict) and IMAGE in str(c.get("image", ""))]
    controller = manifest.workloads[-1] if manifest.workloads else None
    if not found or not isinstance(controller, ControllerSpec) or controller.origin is not origin:
        return
    index = found[0]
    if index >= len(containers) or not containers[index]:
        return  # the schema reported what is wrong with it
    path = item_path("spec.template.spec.containers", index)
    args = tuple(containers[index].get("args", ()))
    label = f"ExternalDNS Deployment {controller.key}"

    def warn(arg: int | None, message: str) -> None:
        manifest.warnings.append(f"{label} {path}.args{f'[{arg}]' if arg is not None else ''}: {message}")

    settings = parse_args(args, warn)
    name = containers[index].get("name")
    template = controller.template
    controller.template = dataclasses.replace(template, containers=tuple(
        dataclasses.replace(c, command=()) if c.name == name else c for c in template.containers
    ))
    manifest.external_dns.append(ExternalDnsSpec(origin, controller.namespace, controller.name, settings))


def _containers(document: Any) -> list[Any]:
    """``spec.template.spec.containers`` of a Deployment document, or [] where it is not that shape."""
    for key in ("spec", "template", "spec", "containers"):
        document = document.get(key) if isinstance(document, dict) else None
    return document if isinstance(document, list) else []


def parse_service(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    """A Service, its annotations kept for ExternalDNS's ``service`` source."""
    parse_services.parse_service(clean, origin, manifest)
    metadata = clean.get("metadata", {})
    if isinstance(metadata.get("name"), str):
        key = f"{metadata.get('namespace', 'default')}/{metadata['name']}"
        manifest.service_annotations[key] = dict(metadata.get("annotations", {}))
