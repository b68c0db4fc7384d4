"""An ALB node's health checks of one target group: real HTTP requests, judged by the group's matcher.

Each check is ``GET <path>`` with ``Host: <target ip>:<port>`` over a fresh
connection made from the node's own address (as the forwarding path's
are), given ``timeout`` seconds for the connection and the answer; it
passes when the status is one of ``success_codes``.  Rounds start every
``interval`` seconds, all targets at once, the first as soon as the group
is served; the ``TargetHealth`` state machine turns results into states.

Every ALB node checks on its own, as AWS's do: a target sees one check per
interval from each zone's node, which is what a two-zone ALB costs a pod.
HTTPS checks go over TLS like the forwarding path's requests (``connect``
re-encrypts: no SNI, the certificate not verified).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dataplane.edge.albmodel import HealthCheck
from dataplane.l7.http import h1
from dataplane.l7.http.messages import ProtocolError, Request
from dataplane.lb.health import TargetHealth
from dataplane.mesh.ztunnel.streams import NET_ERRORS

log = logging.getLogger(__name__)

Address = tuple[str, int]
Connect = Callable[[Address], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


async def probe(connect: Connect, address: Address | None, check: HealthCheck) -> bool:
    """One check of the target whose check goes to ``address`` (None: there is no port to check)."""
    if address is None:
        return False
    try:
        async with asyncio.timeout(check.timeout):
            reader, writer = await connect(address)
            upstream = h1.Upstream(reader, writer)
            try:
                response = await upstream.exchange(Request("GET", check.path, f"{address[0]}:{address[1]}"))
            finally:
                upstream.close()
    except (ProtocolError, *NET_ERRORS) as exc:
        log.debug("health check %s:%d%s: %s", *address, check.path, str(exc) or type(exc).__name__)
        return False
    return check.accepts(response.status)


async def run(health: TargetHealth, where: Callable[[], dict[Address, Address | None]], connect: Connect) -> None:
    """Check ``health``'s targets every interval until cancelled; ``where`` gives
    each target's check address as of now (targets come and go between rounds)."""
    loop = asyncio.get_running_loop()
    check = health.check
    start = loop.time()
    while True:
        targets = health.checked()
        addresses = where()
        results = await asyncio.gather(*(probe(connect, addresses.get(t), check) for t in targets))
        for target, passed in zip(targets, results):
            health.record(target, passed)
        start += check.interval
        await asyncio.sleep(max(0.0, start - loop.time()))
