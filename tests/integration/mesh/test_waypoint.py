"""Ambient L7 end to end: a waypoint pod between ztunnels, per-request routing,
identities on both HBONE hops, request metrics and live route changes.

Requests are made from inside the client pod on one keep-alive connection
(so per-request balancing, not per-connection, is what is measured); its
ztunnel captures them and sends them to the waypoint as Istio's would.
"""

from __future__ import annotations

import json
import math
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.kernel import netns
from dataplane.mesh.promtext import parse
from dataplane.testing.emulation import Emulation, keepalive_requests
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, each_cni, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module", params=["vpc", "overlay"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations
) -> Iterator[Emulation]:
    for emulation in each_cni(request, tmp_path_factory, module_topology, "waypoint.yaml", "waypoint"):
        yield emulation


def _vip(emu: Emulation, name: str) -> str:
    ip = emu.service(f"default/{name}").cluster_ip
    assert ip is not None
    return ip


def _pods(answers: Answers) -> Counter[str]:
    return Counter(json.loads(body)["pod"] for status, _, body in answers if status == 200)


Answers = list[tuple[int, dict[str, str], bytes]]


def _requests(emu: Emulation, count: int, headers: dict[str, str] | None = None, path: str = "/") -> Answers:
    calls = [("GET", path, headers or {})] * count
    return keepalive_requests(emu.netns("default/curl"), _vip(emu, "reviews"), 9080, calls, host="reviews:9080")


def test_a_service_call_goes_through_the_waypoint_and_the_app_sees_the_waypoint(live: Emulation) -> None:
    [(status, headers, body)] = _requests(live, 1)
    assert status == 200 and headers["server"] == "istio-envoy" and "x-envoy-upstream-service-time" in headers
    report = json.loads(body)
    waypoint = live.pod("default/waypoint-0")
    assert report["client"].split(":")[0] == waypoint.ip  # the second hop starts at the waypoint pod
    assert report["headers"]["x-forwarded-proto"] == "http" and report["headers"]["x-request-id"]


def test_a_pod_ip_call_bypasses_the_waypoint(live: Emulation) -> None:
    v1 = live.pod("default/reviews-v1-0")
    [(status, headers, body)] = keepalive_requests(live.netns("default/curl"), v1.ip, 9080, [("GET", "/", {})])
    assert status == 200 and headers.get("server") != "istio-envoy"
    assert json.loads(body)["client"].split(":")[0] == live.pod("default/curl").ip


def test_weights_split_per_request_within_a_binomial_bound(live: Emulation) -> None:
    n = 400
    counts = _pods(_requests(live, n))
    v2 = counts["reviews-v2-0"]
    assert counts["reviews-v1-0"] + v2 == n
    bound = 4 * math.sqrt(n * 0.1 * 0.9)  # 4 standard deviations: fails by chance about once in 16,000 runs
    assert abs(v2 - n * 0.1) <= bound, counts


def test_a_header_match_wins(live: Emulation) -> None:
    assert _pods(_requests(live, 40, {"end-user": "jason"})) == Counter({"reviews-v2-0": 40})


def test_the_waypoint_counts_every_request_it_answers(live: Emulation) -> None:
    def count() -> float:
        node = live.plan.pod("default", "waypoint-0").node
        text = live.exec(f"node/{node}", "curl", "-sS", "--max-time", "5", "http://127.0.0.1:15020/metrics").stdout
        return sum(
            s.value for s in parse(text)
            if s.name == "istio_requests_total" and s.labels["reporter"] == "waypoint"
            and s.labels["source_workload"] == "curl" and s.labels["response_code"] == "200"
            and s.labels["destination_service"] == "reviews.default.svc.cluster.local"
        )

    before = count()
    _requests(live, 25)
    assert count() - before == 25


def test_tcp_through_the_waypoint_keeps_the_bytes(live: Emulation) -> None:
    sock = netns.socket_in(live.netns("default/curl"), socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(5)
        sock.connect((_vip(live, "ratings"), 9000))
        payload = b"x" * 100_000
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received == payload


def test_route_edits_apply_live_without_a_restart(live: Emulation, tmp_path: Path) -> None:
    edited = tmp_path / "edited.yaml"
    text = write_topology(tmp_path, "waypoint.yaml", live.name, CNI=live.plan.cni).read_text()
    edited.write_text(text.replace(
        "    - backendRefs: [{name: reviews-v1, port: 9080, weight: 90}, {name: reviews-v2, port: 9080, weight: 10}]",
        "    - matches: [{path: {type: Exact, value: /api}}]\n      backendRefs: [{name: reviews-v1, port: 9080}]",
    ))
    dpctl("apply", str(edited), check=True)
    try:
        answers = keepalive_requests(
            live.netns("default/curl"), _vip(live, "reviews"), 9080,
            [("GET", "/api", {}), ("GET", "/other", {})], host="reviews:9080",
        )
        assert [a[0] for a in answers] == [200, 404]
        assert answers[1][2] == b""  # GAMMA: no matching rule, Envoy's empty 404 (NR)
    finally:
        restored = tmp_path / "restored.yaml"
        restored.write_text(text)
        dpctl("apply", str(restored), check=True)


def test_mesh_waypoints_lists_the_waypoint_and_what_it_serves(live: Emulation) -> None:
    listing = dpctl("mesh", "waypoints", "-t", live.name, check=True).stdout
    [row] = [line for line in listing.splitlines() if line.startswith("default ")]
    assert "waypoint" in row and "default/waypoint-0" in row and live.pod("default/waypoint-0").ip in row
    assert "svc default/reviews" in row and "svc default/ratings" in row


def _details(emu: Emulation, calls: list[tuple[str, str, dict[str, str]]]) -> Answers:
    return keepalive_requests(emu.netns("default/curl"), _vip(emu, "details"), 9080, calls, host="details:9080")


def test_a_fault_abort_hits_its_percentage_and_never_reaches_the_backend(live: Emulation) -> None:
    n = 200
    answers = _details(live, [("GET", "/", {"x-fault": "yes"})] * n)
    aborted = [a for a in answers if a[0] == 503]
    assert all(a[2] == b"fault filter abort" and a[1]["content-type"] == "text/plain" for a in aborted)
    assert all(json.loads(a[2])["pod"] == "details-0" for a in answers if a[0] == 200)
    bound = 4 * math.sqrt(n * 0.75 * 0.25)
    assert abs(len(aborted) - n * 0.75) <= bound, len(aborted)


def test_a_route_timeout_answers_504_after_the_timeout(live: Emulation) -> None:
    import time

    started = time.monotonic()
    [(status, _, body)] = _details(live, [("GET", "/delay/3", {})])
    took = time.monotonic() - started
    assert (status, body) == (504, b"upstream request timeout")
    assert 0.9 <= took < 2.5, took


def test_retries_on_5xx_hide_a_flaky_backend(live: Emulation) -> None:
    path = f"/flaky/2/{live.plan.cni}-{id(live)}"  # the backend fails the first two requests for this path
    [(status, _, body)] = _details(live, [("GET", path, {})])
    assert status == 200 and json.loads(body)["path"] == path


def test_l7_policies_at_the_waypoint_deny_with_envoys_reply(live: Emulation) -> None:
    calls = [("DELETE", "/", {}), ("GET", "/", {"x-block": "1"}), ("GET", "/", {})]
    deleted, blocked, allowed = keepalive_requests(
        live.netns("default/curl"), _vip(live, "reviews"), 9080, calls, host="reviews:9080"
    )
    assert (deleted[0], deleted[2]) == (403, b"RBAC: access denied")  # only GET and HEAD are allowed
    assert (blocked[0], blocked[2]) == (403, b"RBAC: access denied")  # the Gateway's DENY wins
    assert allowed[0] == 200
    details = keepalive_requests(live.netns("default/curl"), _vip(live, "details"), 9080, [("DELETE", "/", {})])
    assert details[0][0] == 200  # the Service policy is reviews' only


def test_header_modifiers_change_what_the_backend_and_the_client_see(live: Emulation) -> None:
    [(status, headers, body)] = _requests(live, 1, {"end-user": "jason", "x-drop": "secret", "x-env": "dev"})
    seen = json.loads(body)["headers"]
    assert status == 200 and headers["x-wp"] == "yes"
    assert (seen["x-env"], seen["x-a"]) == ("prod", "1") and "x-drop" not in seen


def _httpbin(emu: Emulation, calls: list[tuple[str, str, dict[str, str]]]) -> Answers:
    return keepalive_requests(emu.netns("default/curl"), _vip(emu, "httpbin"), 8000, calls, host="httpbin:8000")


def test_a_custom_policy_asks_the_sample_authorizer(live: Emulation) -> None:
    """Case 25: only /headers is checked; the sample allows iff ``x-ext-authz: allow``."""
    allowed, denied, unchecked = _httpbin(live, [
        ("GET", "/headers", {"x-ext-authz": "allow"}),
        ("GET", "/headers", {"x-ext-authz": "deny"}),
        ("GET", "/ip", {}),
    ])
    assert allowed[0] == 200
    seen = json.loads(allowed[2])["headers"]
    assert seen["x-ext-authz-check-result"] == "allowed"  # headersToUpstreamOnAllow
    assert denied[0] == 403 and denied[1]["x-ext-authz-check-result"] == "denied"
    assert denied[2] == b"denied by ext_authz for not found header `x-ext-authz: allow` in the request"
    assert denied[1]["server"] == "istio-envoy"
    assert unchecked[0] == 200 and "x-ext-authz-check-result" not in json.loads(unchecked[2])["headers"]


def test_an_authorizer_that_is_down_denies_unless_fail_open(live: Emulation) -> None:
    down, open_ = _httpbin(live, [("GET", "/down", {}), ("GET", "/open", {})])
    assert (down[0], down[2]) == (403, b"")  # statusOnError, empty body, UAEX
    assert open_[0] == 200 and json.loads(open_[2])["pod"] == "httpbin-0"


def test_http2_reaches_the_backend_as_its_service_port_declares(live: Emulation) -> None:
    """An ``http2`` Service port gets h2c upstream whatever the client spoke; an
    ``http`` one HTTP/1.1, even for an HTTP/2 client."""
    [(status, _, body)] = keepalive_requests(
        live.netns("default/curl"), _vip(live, "details-h2"), 9080, [("GET", "/", {})], host="details-h2:9080"
    )
    assert status == 200 and json.loads(body)["protocol"] == "HTTP/2"
    for service, expected in (("details-h2", "HTTP/2"), ("details", "HTTP/1.1")):
        out = live.exec("default/curl", "curl", "-sS", "--max-time", "5", "--http2-prior-knowledge",
                        "-w", "\\n%{http_version}", f"http://{_vip(live, service)}:9080/").stdout
        report, version = out.rsplit("\n", 1)
        assert version == "2" and json.loads(report)["protocol"] == expected, (service, out)


def test_mesh_graph_draws_the_l7_edges_beside_the_ztunnels_hops(live: Emulation, tmp_path: Path) -> None:
    answers = _requests(live, 10, {"end-user": "jason"})  # all to v2
    [(denied, _, _)] = keepalive_requests(
        live.netns("default/curl"), _vip(live, "reviews"), 9080, [("DELETE", "/", {})], host="reviews:9080"
    )
    assert [a[0] for a in answers] == [200] * 10 and denied == 403
    out = tmp_path / "graph.dot"
    listing = dpctl("mesh", "graph", "-t", live.name, "-o", str(out), check=True).stdout
    assert "L7 edges" in listing
    lines = out.read_text().splitlines()
    [l7] = [line for line in lines if line.startswith('  "default/curl" -> "default/reviews-v2" [label="HTTP ')]
    assert "200:" in l7 and "via default/waypoint" in l7 and "style=bold" in l7
    [rejected] = [line for line in lines if line.startswith('  "default/curl" -> "svc:default/reviews" [')]
    assert "403:" in rejected
    assert any(line.startswith('  "default/curl" -> "default/waypoint" [label="') and "mTLS" in line for line in lines)
    assert any(line.startswith('  "default/waypoint" -> "default/reviews-v2" [label="') for line in lines)
    dpctl("mesh", "graph", "-t", live.name, "--waypoints", "-o", str(out), check=True)
    hops = out.read_text()
    assert '"default/curl" -> "default/reviews-v2" [label="HTTP' not in hops
    assert '"default/waypoint" -> "default/reviews-v2" [label="HTTP' in hops
