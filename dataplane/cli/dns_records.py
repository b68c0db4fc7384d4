"""What ``dpctl get dns`` shows: every hosted zone's record sets, from ``route53.json``.

The file is what the last ExternalDNS reconcile left (``realize.route53``),
so a record whose object is gone but that a non-``sync`` policy kept is
listed, as ``aws route53 list-resource-record-sets`` would list it.  Each
zone starts with the SOA and NS Route 53 made with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataplane.route53.records import Record, apex, zones_from_json
from dataplane.state.layout import route53_path
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan


def records(plan: Plan) -> list[dict[str, Any]]:
    path = route53_path(Path(StateDir(plan.name).path))
    zones = zones_from_json(path.read_text()) if path.exists() else ()
    return [
        {"zone": zone.name, "private": zone.private, **_record(record)}
        for zone in zones for record in (*apex(zone), *zone.records)
    ]


def _record(record: Record) -> dict[str, Any]:
    alias = {"dnsName": record.alias, "evaluateTargetHealth": record.evaluate_target_health} if record.alias else None
    return {"name": record.name, "type": record.type, "ttl": record.ttl, "values": list(record.values),
            "aliasTarget": alias}


def value(record: dict[str, Any]) -> str:
    """The VALUE column: the values, or ``ALIAS <target>`` for an alias."""
    alias = record["aliasTarget"]
    if alias is None:
        return " ".join(record["values"])
    return f"ALIAS {alias['dnsName']}" + (" (evaluate target health)" if alias["evaluateTargetHealth"] else "")
