"""Traffic management at a waypoint, end to end (``waypoint-l7.md`` §7 cases 11, 14,
15, 16, 20, 21, 22 and 26); the routing core's unit tests cover the same rules without
a kernel, these prove the waypoint applies them to real requests.  One CNI:
the waypoint's behaviour does not depend on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from dataplane.testing.emulation import Emulation, HttpAnswer, keepalive_requests
from dataplane.testing.plugin import Emulations
from tests.integration.support import write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    path = write_topology(tmp_path_factory.mktemp("wptraffic"), "waypoint-traffic.yaml", "wptraffic", CNI="vpc")
    yield module_topology(str(path))


def _calls(emu: Emulation, service: str, paths: list[str], timeout: float = 10) -> list[HttpAnswer]:
    vip = emu.service(f"default/{service}").cluster_ip
    assert vip is not None
    return keepalive_requests(emu.netns("default/curl"), vip, 9080, [("GET", p, {}) for p in paths],
                              host=f"{service}:9080", timeout=timeout)


def test_case_14_a_redirect_is_answered_by_the_waypoint(live: Emulation) -> None:
    [answer] = _calls(live, "backend", ["/redirect/x?y=1"])
    assert answer.status == 302 and answer.headers["location"] == "http://example.com:9080/redirect/x?y=1"
    assert answer.headers["server"] == "istio-envoy"


def test_case_15_a_prefix_rewrite_reaches_the_backend_rewritten(live: Emulation) -> None:
    [answer] = _calls(live, "backend", ["/old/x"])
    report = json.loads(answer.body)
    assert (answer.status, report["pod"], report["path"]) == (200, "v1", "/v2/x")


def test_case_16_a_mirror_gets_a_copy_and_the_client_the_backends_answer(live: Emulation) -> None:
    """The copy is proven by its side effect: ``x-dpctl-fail-after: 1`` makes a pod
    fail once it has answered one request carrying it, so v2 -- never called
    directly before -- fails the next one only if the mirrored copy reached it."""
    vip = live.service("default/backend").cluster_ip
    assert vip is not None
    once = {"x-dpctl-fail-after": "1"}
    [answer] = keepalive_requests(live.netns("default/curl"), vip, 9080, [("GET", "/mirror/x", once)],
                                  host="backend:9080")
    assert answer.status == 200 and json.loads(answer.body)["pod"] == "v1"
    time.sleep(1.0)  # the copy is fire and forget: let it land (one probe only: a probe counts too)
    [direct] = keepalive_requests(live.netns("default/curl"), live.pod("default/v2").ip, 9080, [("GET", "/probe", once)])
    assert direct.status == 503, "v2 never received the mirrored copy"


def test_case_20_a_fault_delay_holds_every_response(live: Emulation) -> None:
    started = time.monotonic()
    answers = _calls(live, "slow", ["/a", "/b"])
    took = time.monotonic() - started
    assert [a.status for a in answers] == [200, 200] and took >= 2.0, took


def test_case_21_pool_limits_overflow_with_503_uo(live: Emulation) -> None:
    """One connection and one pending request: of three slow requests at once, one
    is served, one waits, and one overflows."""
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: _calls(live, "pooled", ["/delay/1"])[0], range(3)))
    statuses = sorted(a.status for a in answers)
    overflowed = [a for a in answers if a.status == 503]
    assert statuses[0] == 200 and overflowed, statuses
    assert all(b"overflow" in a.body for a in overflowed)


def test_case_22_outlier_detection_ejects_a_failing_endpoint(live: Emulation) -> None:
    v1 = live.pod("default/v1")
    live.exec("default/curl", "curl", "-sS", "--max-time", "5", f"http://{v1.ip}:9080/dpctl/fail/20")
    try:
        answers = _calls(live, "guarded", ["/x"] * 30)
        first_failure = next(i for i, a in enumerate(answers) if a.status >= 500)
        after = answers[first_failure + 1:]
        assert after and all(json.loads(a.body)["pod"] == "v2" and a.status == 200 for a in after)
    finally:
        live.exec("default/curl", "curl", "-sS", "--max-time", "5", f"http://{v1.ip}:9080/dpctl/fail/0")


def test_case_26_no_usable_backend_is_a_500(live: Emulation) -> None:
    zero, missing = _calls(live, "nowhere", ["/zero", "/elsewhere"])
    assert (zero.status, zero.body) == (500, b"") and (missing.status, missing.body) == (500, b"")


def test_case_11_path_prefixes_match_by_element_in_httproute_and_by_string_in_istio(live: Emulation) -> None:
    def pods(service: str) -> list[str]:
        return [json.loads(a.body)["pod"] for a in _calls(live, service, ["/abc", "/abc/x", "/abcd"])]

    assert pods("prefixes") == ["v2", "v2", "v1"]  # Gateway API: /abc is a path element
    assert pods("vs-prefixes") == ["v2", "v2", "v2"]  # VirtualService prefix: a string prefix
