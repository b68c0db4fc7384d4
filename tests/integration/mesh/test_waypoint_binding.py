"""Which traffic a waypoint gets, and what each side of it sees (``waypoint-l7.md``
§7 cases 3 to 7): workload-only waypoints, a Service opting out, binding across
namespaces with ``allowedRoutes``, the two HBONE hops' addresses and identities,
and the destination's L4 policy judging the waypoint, not the client.

The path is the same in both CNI modes (HBONE between namespaces' ztunnels), so
one mode is enough here; ``test_waypoint.py`` runs the L7 chain in both.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.kernel import netns
from dataplane.mesh.metrics import OPENED
from dataplane.state.store import StateDir
from dataplane.testing.emulation import Emulation, HttpAnswer, keepalive_requests
from dataplane.testing.plugin import Emulations
from tests.integration.support import write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    path = write_topology(tmp_path_factory.mktemp("binding"), "waypoint-binding.yaml", "wpbind", CNI="vpc")
    yield module_topology(str(path))


def _call(emu: Emulation, address: str, host: str, path: str = "/") -> HttpAnswer:
    [answer] = keepalive_requests(emu.netns("default/curl"), address, 9080, [("GET", path, {})], host=host)
    return answer


def _service(emu: Emulation, target: str) -> HttpAnswer:
    ip = emu.service(target).cluster_ip
    assert ip is not None
    return _call(emu, ip, f"{target.split('/')[1]}:9080")


def _via_waypoint(answer: HttpAnswer) -> bool:
    return answer.headers.get("server") == "istio-envoy"


def test_case_3_a_workload_waypoint_takes_pod_calls_only(live: Emulation) -> None:
    target = live.pod("wl/target")
    by_ip = _call(live, target.ip, f"{target.ip}:9080")
    assert by_ip.status == 200 and _via_waypoint(by_ip)
    assert json.loads(by_ip.body)["client"].split(":")[0] == live.pod("wl/wl-waypoint-0").ip
    by_service = _service(live, "wl/target")
    assert by_service.status == 200 and not _via_waypoint(by_service)


def test_case_4_a_service_labelled_none_bypasses_the_namespaces_waypoint(live: Emulation) -> None:
    bound, bypass = _service(live, "default/reviews"), _service(live, "default/bypass")
    assert _via_waypoint(bound) and not _via_waypoint(bypass)
    assert json.loads(bypass.body)["client"].split(":")[0] == live.pod("default/curl").ip


def test_case_5_binding_across_namespaces_needs_allowed_routes(live: Emulation) -> None:
    denied, allowed = _service(live, "app/denied"), _service(live, "app/allowed")
    assert denied.status == 200 and not _via_waypoint(denied)  # AttachmentDenied: straight to the pod
    assert allowed.status == 200 and _via_waypoint(allowed)
    assert json.loads(allowed.body)["client"].split(":")[0] == live.pod("wp/shared-0").ip


def _log_lines(emu: Emulation, node: str, *needles: str) -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        text = Path(StateDir(emu.name).agent_log_path(node)).read_text(errors="replace")
        lines = [line for line in text.splitlines() if "connection complete" in line and all(n in line for n in needles)]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_case_6_each_hbone_hop_has_its_own_addresses_and_identity(live: Emulation) -> None:
    """Hop 1: the client's ztunnel to the waypoint's 15008, ``:authority`` the VIP and
    port, the client's certificate (the client ztunnel's access log, written when
    the client closes); hop 2: the waypoint to the pod's ztunnel with the
    waypoint's certificate (the destination ztunnel's metrics: the waypoint keeps
    that connection open for the next requests).  The TLS on the wire hides both
    from a capture."""
    vip = live.service("default/reviews").cluster_ip
    waypoint, curl = live.pod("default/waypoint-0"), live.pod("default/curl")
    answer = _service(live, "default/reviews")
    assert answer.status == 200 and json.loads(answer.body)["client"].split(":")[0] == waypoint.ip
    [hop1, *_] = _log_lines(live, curl.node, f"dst.addr={waypoint.ip}:15008", f"dst.hbone_addr={vip}:9080",
                            'src.identity="cluster.local/ns/default/sa/curl"')
    assert 'dst.identity="cluster.local/ns/default/sa/waypoint"' in hop1
    hop2 = [
        s for s in live.mesh_metrics()
        if s.name == OPENED and s.labels.get("reporter") == "destination"
        and s.labels.get("destination_workload") == "reviews" and s.value > 0
    ]
    from_waypoint = [s for s in hop2 if s.labels["source_principal"] == "spiffe://cluster.local/ns/default/sa/waypoint"]
    assert from_waypoint and all(s.labels["connection_security_policy"] == "mutual_tls" for s in from_waypoint)
    assert {s.labels["source_workload"] for s in from_waypoint} == {"waypoint"}


def test_case_7_the_destination_policy_judges_the_waypoint_not_the_client(live: Emulation) -> None:
    locked = _service(live, "default/locked")
    assert locked.status == 503 and _via_waypoint(locked)
    assert locked.body.startswith(b"upstream connect error or disconnect/reset before headers.")
    assert _service(live, "default/admitted").status == 200  # its policy also names the waypoint
    direct = _call(live, live.pod("default/locked").ip, "locked:9080")  # no waypoint: curl itself is judged
    assert direct.status == 200 and not _via_waypoint(direct)


def test_a_waypoint_serving_workloads_inspects_even_declared_ports(live: Emulation) -> None:
    """istio/istio#55420: ``wl/db`` is bound as a pod too, so its waypoint waits for
    the client's first bytes on the ``tcp-db`` Service port and the MySQL-like
    greeting never comes; typing a first byte unblocks it."""
    vip = live.service("wl/db").cluster_ip
    assert vip is not None
    sock = netns.socket_in(live.netns("default/curl"), socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(5)
        sock.connect((vip, 5000))
        sock.settimeout(2)
        with pytest.raises(TimeoutError):
            sock.recv(256)
        sock.sendall(b"\n")
        sock.settimeout(5)
        assert b"8.0.36-dpctl" in sock.recv(256)


def test_verify_expects_what_each_waypoint_and_destination_decide(live: Emulation) -> None:
    """Behind a waypoint the destination judges the waypoint's identity and address,
    and refusals come back as the waypoint's 503: connectivity predicts both (the
    locked pods refuse every client through the waypoint, admitted ones none)."""
    report = live.assert_verified("connectivity")
    [locked] = [r for r in report.results if r.subject == "default/curl -> svc default/locked:9080"]
    assert "from the waypoint: upstream connect error" in locked.evidence
    [direct] = [r for r in report.results if r.subject == "default/curl -> pod default/locked:9080"]
    assert "from default/locked" in direct.evidence  # no waypoint: curl itself is judged, and allowed
