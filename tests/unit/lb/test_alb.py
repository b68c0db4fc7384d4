"""The ALB node's own answers and its trace header (no sockets needed)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from dataplane.l7.http.messages import Request
from dataplane.lb.alb import AlbNode, trace_id
from dataplane.topology import plan_from_text
from dataplane.topology.albs import ingress_albs

ROOT = Path(__file__).resolve().parents[3]


def test_a_trace_id_is_made_or_extended() -> None:
    made = trace_id(None, now=0x6B1176ED)
    assert re.fullmatch(r"Root=1-6b1176ed-[0-9a-f]{24}", made)
    extended = trace_id("Root=1-abc-def;Self=old;Lineage=x", now=0x10)
    assert extended.startswith("Root=1-abc-def;Lineage=x;Self=1-00000010-")


def test_redirects_and_fixed_answers_come_from_the_alb_itself(tmp_path: Path) -> None:
    text = (ROOT / "tests/integration/topologies/alb.yaml").read_text().replace("NAME", "u").replace("CNI", "vpc")
    plan = plan_from_text(text, "alb.yaml")
    albs = {a.name: a for a in ingress_albs(plan.traffic, lambda p, m: None, lambda p, m: None)}
    secure, shop = (next(lb for lb in plan.load_balancers if lb.group == g) for g in ("shop/secure", "shop/shop"))
    redirecting, routing = AlbNode(tmp_path, secure, secure.nodes[0]), AlbNode(tmp_path, shop, shop.nodes[0])
    redirecting.refresh(plan, albs["shop/secure"])
    routing.refresh(plan, albs["shop/shop"])
    moved = asyncio.run(redirecting.handle(Request("GET", "/a?b=1", "a.example.com:80"), 80, "http", "203.0.113.2"))
    missing = asyncio.run(routing.handle(Request("GET", "/nothing", "a.example.com"), 80, "http", "203.0.113.2"))
    assert (moved.status, dict(moved.headers)["location"]) == (301, "https://a.example.com/a?b=1")
    assert (missing.status, missing.body, dict(missing.headers)["server"]) == (404, b"", "awselb/2.0")
