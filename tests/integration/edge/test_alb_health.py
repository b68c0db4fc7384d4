"""Target health checks on an emulated ALB (``aws-edge.md`` §1.5, T21), with real timing.

Three web pods are checked on ``/healthz`` every 5 s, two results in, two
out.  A pod is made to fail by its responder's ``/dpctl/fail/<seconds>``
switch, asked for from the ALB node's namespace straight to the pod.
Requests go from the outside client to one ALB node, which sends them round
robin over its routing set, so three requests in a row reach every target
in it once; a failing pod still answers with its JSON report (and 503).

Two failed checks lie one interval apart, so a pod leaves no sooner than
5 s after it starts failing and no later than two intervals (10 s) plus
the check's latency; returning takes two passes, the same bounds.  A change
seen by polling every 0.5 s comes right after a check round, so a switch
flipped at once falls just after one: then it takes the next two rounds,
close to 10 s, where a threshold of one would show in 5.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from dataplane.kernel import netns
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import LbNode
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

INTERVAL = 5.0
EARLIEST, LATEST = INTERVAL - 0.5, 2 * INTERVAL + 3.0  # polling granularity and latency as slack
JUST_AFTER_A_ROUND = 2 * INTERVAL - 1.5  # the earliest when flipped right after a change was seen


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    path = write_topology(tmp_path_factory.mktemp("alb-health"), "alb-health.yaml", "albhc", CNI="vpc")
    yield module_topology(str(path))


def _alb_node(emu: Emulation) -> LbNode:
    [lb] = emu.plan.load_balancers
    return next(n for n in lb.nodes if n.zone == "a")


def _web(emu: Emulation) -> list[str]:
    return sorted(p.name for p in emu.plan.pods if p.name.startswith("web-"))


def _get(where: str, address: str, port: int, path: str) -> tuple[int, str]:
    """One GET from the namespace ``where``: the status and the pod that answered."""
    sock = netns.socket_in(where, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect((address, port))
    connection = http.client.HTTPConnection(address)
    connection.sock = sock
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, json.loads(body)["pod"]


def _switch(emu: Emulation, pod: str, seconds: int) -> None:
    status, answered = _get(_alb_node(emu).netns, emu.pod(f"shop/{pod}").ip, 8080, f"/dpctl/fail/{seconds}")
    assert (status, answered) == (200, pod)


def _through_alb(emu: Emulation, count: int) -> list[tuple[int, str]]:
    public = _alb_node(emu).public_ip
    assert public is not None
    return [_get(emu.netns("external"), public, 80, "/shop") for _ in range(count)]


def _seconds_until(holds: Callable[[], bool]) -> float:
    start = time.monotonic()
    while not holds():
        assert time.monotonic() - start < LATEST + INTERVAL, "no change within three check intervals"
        time.sleep(0.5)
    return time.monotonic() - start


def _reached(emu: Emulation) -> set[str]:
    """The pods three requests in a row reach: the ALB node's routing set."""
    return {pod for _, pod in _through_alb(emu, 3)}


def test_t21_a_failing_pod_leaves_after_two_checks_and_returns_after_two_passes(live: Emulation) -> None:
    failing, *others = _web(live)
    assert _reached(live) == {failing, *others}
    _switch(live, failing, 300)
    left = _seconds_until(lambda: failing not in _reached(live))
    answers = _through_alb(live, 12)
    assert {pod for _, pod in answers} == set(others) and {status for status, _ in answers} == {200}
    _switch(live, failing, 0)
    back = _seconds_until(lambda: failing in _reached(live))
    assert EARLIEST <= left <= LATEST and JUST_AFTER_A_ROUND <= back <= LATEST, (left, back)


def test_t21_when_every_pod_fails_the_alb_fails_open(live: Emulation) -> None:
    *failing, last = _web(live)
    assert _reached(live) == {*failing, last}
    for pod in failing:
        _switch(live, pod, 300)
    _seconds_until(lambda: _reached(live) == {last})
    _switch(live, last, 300)
    opened = _seconds_until(lambda: _reached(live) == {*failing, last})
    answers = _through_alb(live, 9)
    assert {pod for _, pod in answers} == {*failing, last} and {status for status, _ in answers} == {503}
    assert JUST_AFTER_A_ROUND <= opened <= LATEST, opened


def _answered(emu: Emulation) -> tuple[int, str | None]:
    """One request through the zone-a ALB node: its status and the answering pod, if any;
    (0, None) when no answer comes within 2 s (the ALB still waiting on a dark target,
    which it gives 10 s to connect)."""
    public = _alb_node(emu).public_ip
    assert public is not None
    sock = netns.socket_in(emu.netns("external"), socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect((public, 80))
        connection = http.client.HTTPConnection(public)
        connection.sock = sock
        connection.request("GET", "/zone")
        response = connection.getresponse()
        body = response.read()
    except TimeoutError:
        return 0, None
    finally:
        sock.close()
    return response.status, json.loads(body)["pod"] if response.status == 200 else None


def test_a_dark_zone_is_found_by_the_health_checks_not_at_once(live: Emulation) -> None:
    """``dpctl zone fail b``: the zone-a ALB node keeps sending to zone b's pod
    until two checks fail (unlike a zonal shift), then only to zone a's."""
    in_a = {p.name for p in live.plan.pods if p.name.startswith("web-") and p.zone == "a"}
    assert in_a and len(in_a) < 3  # pods on both sides of the cut
    for pod in _web(live):  # every pod healthy first, whatever the tests before left switched
        _switch(live, pod, 0)
    deadline = time.monotonic() + LATEST + INTERVAL
    while {pod for status, pod in (_answered(live) for _ in range(6)) if status == 200} != set(_web(live)):
        assert time.monotonic() < deadline, "the pods did not all come back before the cut"
        time.sleep(0.5)
    dpctl("zone", "fail", "b", "-t", live.name, check=True)
    try:
        started = time.monotonic()
        assert "dark" in dpctl("zone", "list", "-t", live.name, check=True).stdout
        while True:
            answers = [_answered(live) for _ in range(6)]
            if all(status == 200 and pod in in_a for status, pod in answers):
                break
            assert time.monotonic() - started < LATEST + 2 * INTERVAL, answers
        assert time.monotonic() - started >= EARLIEST - 1.0  # found by the checks, not at once
    finally:
        dpctl("zone", "restore", "b", "-t", live.name, check=True)
    deadline = time.monotonic() + LATEST + INTERVAL
    while {pod for _, pod in (_answered(live) for _ in range(6))} <= in_a:
        assert time.monotonic() < deadline, "zone b's pod did not come back"
        time.sleep(0.5)
