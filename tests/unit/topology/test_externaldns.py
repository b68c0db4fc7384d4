"""ExternalDNS in a topology: recognised by its image, configured by its arguments,
its endpoints found in the plan, and the warnings a user needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGY = (ROOT / "tests/integration/topologies/externaldns.yaml").read_text().replace("NAME", "edns").replace("CNI", "vpc")
ELB = "k8s-shop-shop-0b6553f432-9828115014.us-east-1.elb.amazonaws.com"


def _plan(text: str = TOPOLOGY) -> Plan:
    return plan_from_text(text, "externaldns.yaml")


def test_the_deployment_is_recognised_its_command_dropped_and_its_endpoints_found() -> None:
    plan = _plan()
    [controller] = plan.external_dns
    assert controller.key == "external-dns/external-dns" and controller.settings.owner_id == "c1"
    assert [(e.name, e.type, e.targets, e.resource) for e in controller.endpoints] == [
        ("shop.example.com", "CNAME", (ELB,), "ingress/shop/shop"),
        ("legacy.example.com", "CNAME", (ELB,), "ingress/shop/shop"),
        ("api.example.com", "A", plan.services[1].load_balancer_ips, "service/shop/api"),
    ]
    [pod] = [p for p in plan.pods if p.namespace == "external-dns"]
    assert pod.containers[0].command == ()
    assert [(z.name, z.private, len(z.records)) for z in plan.hosted_zones] == [("example.com", False, 2), ("example.com", True, 0)]
    assert plan.warnings == ()
    assert Plan.from_json(plan.to_json()) == plan


def test_missing_policy_a_name_outside_every_zone_and_the_other_prefix_are_warnings() -> None:
    text = (TOPOLOGY.replace("            - --policy=sync\n", "")
            .replace("--domain-filter=example.com", "--domain-filter=example.com,example.net")
            .replace("host: legacy.example.com", "host: legacy.example.net")
            .replace("{external-dns.kubernetes.io/hostname: api.example.com}",
                     "{external-dns.alpha.kubernetes.io/hostname: api.example.com}"))
    [warning] = _plan(text).warnings
    assert "spec.template.spec.containers[0].args: no --policy" in warning
    text = text.replace("            - --interval=1m\n", "            - --interval=1m\n            - --policy=sync\n")
    plan = _plan(text)
    assert plan.warnings == (
        "Ingress shop/shop spec.rules[1].host: legacy.example.net is in no hosted zone ExternalDNS"
        " external-dns/external-dns may write to: it skips the name",
        "Service shop/api metadata.annotations[external-dns.alpha.kubernetes.io/hostname]: ExternalDNS"
        " external-dns/external-dns reads annotations under external-dns.kubernetes.io/ only"
        " (--annotation-prefix): this one is not read",
    )
    alpha = text.replace("- --interval=1m", "- --annotation-prefix=external-dns.alpha.kubernetes.io/")
    assert "api.example.com" in {e.name for e in _plan(alpha).external_dns[0].endpoints}


def test_a_bad_declared_record_is_refused() -> None:
    text = TOPOLOGY.replace("values: [198.51.100.50]", "values: [not-an-address]")
    with pytest.raises(TopologyError, match="not-an-address"):
        _plan(text)
    with pytest.raises(TopologyError, match="is not in zone example.com"):
        _plan(TOPOLOGY.replace("name: legacy.example.com, type: A", "name: legacy.example.org, type: A"))
