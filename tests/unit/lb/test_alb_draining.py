"""An ALB node's deregistration: a target that leaves the plan drains (``aws-edge.md`` §1.5).

The connection pool is replaced by one whose exchanges wait until the test
lets them answer, so requests stay in flight while the plan changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from dataplane.edge.albmodel import Alb
from dataplane.l7.http.messages import Request, Response
from dataplane.lb.alb import AlbNode
from dataplane.topology import plan_from_text
from dataplane.topology.albs import ingress_albs
from dataplane.topology.plan import Plan

ROOT = Path(__file__).resolve().parents[3]
Address = tuple[str, int]


class HeldPool:
    """Records where each request went; every answer waits for ``answer``."""

    def __init__(self) -> None:
        self.sent: list[Address] = []
        self.answer = asyncio.Event()

    async def exchange(self, address: Address, request: Request) -> Response:
        self.sent.append(address)
        await self.answer.wait()
        return Response(200, (), b"")

    def close(self) -> None:
        """Nothing pooled."""


def _plan(delay: int) -> Plan:
    text = (ROOT / "tests/integration/topologies/alb-health.yaml").read_text()
    text = text.replace("NAME", "u").replace("CNI", "vpc").replace("timeout_seconds=5", f"timeout_seconds={delay}")
    return plan_from_text(text, "alb-health.yaml")


def _node(tmp_path: Path, plan: Plan) -> tuple[AlbNode, HeldPool]:
    [lb] = plan.load_balancers
    node, pool = AlbNode(tmp_path, lb, lb.nodes[0]), HeldPool()
    node.pool = pool  # type: ignore[assignment]
    node.refresh(plan, _alb(plan))
    return node, pool


def _alb(plan: Plan) -> Alb:
    [alb] = ingress_albs(plan.traffic, lambda p, m: None, lambda p, m: None)
    return alb


def _without(plan: Plan, pod: str) -> Plan:
    return dataclasses.replace(plan, pods=tuple(p for p in plan.pods if p.name != pod))


def _get(node: AlbNode) -> asyncio.Task[Response]:
    return asyncio.ensure_future(node.handle(Request("GET", "/", "shop.example"), 80, "http", "203.0.113.2"))


async def _sent(pool: HeldPool, count: int) -> None:
    """Until ``count`` requests reached the pool (each passes two tasks on the way)."""
    for _ in range(100):
        if len(pool.sent) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{len(pool.sent)} of {count} requests sent")


def test_a_draining_target_finishes_its_request_and_gets_no_new_ones(tmp_path: Path) -> None:
    async def scenario() -> None:
        plan = _plan(delay=5)
        node, pool = _node(tmp_path, plan)
        first = _get(node)
        await _sent(pool, 1)
        [leaving] = pool.sent
        gone = next(p.name for p in plan.pods if p.ip == leaving[0])
        node.refresh(_without(plan, gone), _alb(plan))
        later = [_get(node) for _ in range(4)]
        await _sent(pool, 5)
        assert leaving not in pool.sent[1:] and len(set(pool.sent[1:])) == 2
        pool.answer.set()
        assert [r.status for r in await asyncio.gather(first, *later)] == [200] * 5

    asyncio.run(scenario())


def test_what_a_target_still_carries_when_the_delay_ends_gets_a_502(tmp_path: Path) -> None:
    async def scenario() -> None:
        plan = _plan(delay=0)
        node, pool = _node(tmp_path, plan)
        first = _get(node)
        await _sent(pool, 1)
        [leaving] = pool.sent
        node.refresh(_without(plan, next(p.name for p in plan.pods if p.ip == leaving[0])), _alb(plan))
        response = await asyncio.wait_for(first, 1)
        assert (response.status, dict(response.headers)["server"]) == (502, "awselb/2.0")

    asyncio.run(scenario())
