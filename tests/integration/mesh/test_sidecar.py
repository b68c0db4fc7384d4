"""Sidecar fallback beside ambient (``waypoint-l7.md`` §6): istio-init's capture
in the pod, HBONE straight to ambient pods with no waypoint (case 27), mutual
TLS between sidecars, plaintext from ambient pods captured on 15006, and the
app reached from 127.0.0.6.  Both CNI modes: the pods' links differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dataplane.testing.emulation import Emulation, HttpAnswer, keepalive_requests
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, each_cni

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module", params=["vpc", "overlay"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations
) -> Iterator[Emulation]:
    for emulation in each_cni(request, tmp_path_factory, module_topology, "sidecar.yaml", "sidecar"):
        yield emulation


def _call(emu: Emulation, source: str, target: str, method: str = "GET") -> HttpAnswer:
    """One request from pod ``source`` to Service or pod ``target`` (``svc/NS/NAME`` or ``NS/POD``) on 8080."""
    if target.startswith("svc/"):
        address = emu.service(target.removeprefix("svc/")).cluster_ip
    else:
        address = emu.pod(target).ip
    assert address is not None
    [answer] = keepalive_requests(emu.netns(source), address, 8080, [(method, "/", {})], host=f"{address}:8080")
    return answer


def test_the_sidecar_capture_is_istio_inits(live: Emulation) -> None:
    rules = live.exec("legacy/sc-client", "nft", "list", "table", "inet", "dpctl-zt-nat").stdout
    assert "tcp dport { 15008, 15020, 15021, 15090 } accept" in rules
    assert "redirect to :15006" in rules and "redirect to :15001" in rules
    assert 'oifname "lo" ip saddr 127.0.0.6 accept' in rules
    listing = dpctl("mesh", "workloads", "-t", live.name, check=True).stdout
    [row] = [line for line in listing.splitlines() if line.split()[:2] == ["legacy", "sc-tunnel"]]
    assert row.split()[-1] == "HBONE"  # ztunnels tunnel to it; sc-server gets plain TCP
    [row] = [line for line in listing.splitlines() if line.split()[:2] == ["legacy", "sc-server"]]
    assert row.split()[-1] == "TCP"


def test_case_27_a_sidecar_goes_straight_to_the_ambient_pod_past_the_waypoint(live: Emulation) -> None:
    via_sidecar = _call(live, "legacy/sc-client", "svc/mesh/web", "DELETE")
    assert via_sidecar.status == 200 and via_sidecar.headers.get("server") != "istio-envoy"
    assert json.loads(via_sidecar.body)["client"].split(":")[0] == live.pod("legacy/sc-client").ip
    via_waypoint = _call(live, "mesh/client", "svc/mesh/web", "DELETE")
    assert (via_waypoint.status, via_waypoint.body) == (403, b"RBAC: access denied")


def test_sidecars_speak_mutual_tls_and_the_app_sees_127_0_0_6(live: Emulation) -> None:
    answer = _call(live, "legacy/sc-client", "svc/legacy/sc-server")
    assert answer.status == 200 and json.loads(answer.body)["client"].split(":")[0] == "127.0.0.6"
    live.assert_encrypted("legacy/sc-client", "legacy/sc-server", 8080)


def test_ambient_clients_reach_a_sidecar_in_plaintext_unless_it_takes_tunnels(live: Emulation) -> None:
    """Without ``networking.istio.io/tunnel: http`` the ztunnel sends plain TCP, which
    the sidecar captures on 15006 with no identity: sc-server's policy (legacy's
    account only) refuses it, as it refuses a client outside the mesh.  With the
    label the ztunnel tunnels, and the client's identity arrives."""
    from dataplane.testing.emulation import keepalive_requests as requests

    for source in ("mesh/client", "plain/outsider"):
        with pytest.raises(OSError):
            requests(live.netns(source), live.pod("legacy/sc-server").ip, 8080, [("GET", "/", {})], timeout=3)
    tunnelled = _call(live, "mesh/client", "legacy/sc-tunnel")
    assert tunnelled.status == 200 and json.loads(tunnelled.body)["client"].split(":")[0] == "127.0.0.6"
    live.assert_encrypted("mesh/client", "legacy/sc-tunnel", 8080)
