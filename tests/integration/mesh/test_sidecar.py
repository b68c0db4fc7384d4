"""Sidecar fallback beside ambient (``waypoint-l7.md`` §6): istio-init's capture
in the pod, HBONE straight to ambient pods with no waypoint (case 27), mutual
TLS between sidecars, plaintext from ambient pods captured on 15006, and the
app reached from 127.0.0.6.  Both CNI modes: the pods' links differ.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from dataplane.kernel import netns
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
    pods = dpctl("get", "pods", "-t", live.name, "-n", "legacy", check=True).stdout
    assert {line.split()[1]: line.split()[2] for line in pods.splitlines()[1:]}["sc-client"] == "2/2"


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


def _greeting(emu: Emulation, source: str, target: str, wait: float = 2.0) -> bytes:
    """What a server-first workload at ``target`` (``svc/NS/NAME`` or ``NS/POD``, port
    5000) says before the client says anything: b"" when nothing came in ``wait`` s."""
    address = emu.service(target.removeprefix("svc/")).cluster_ip if target.startswith("svc/") else emu.pod(target).ip
    assert address is not None
    sock = netns.socket_in(emu.netns(source), socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(5)
        sock.connect((address, 5000))
        sock.settimeout(wait)
        try:
            return sock.recv(256)
        except TimeoutError:
            return b""


def test_case_28_a_server_first_workload_hangs_behind_a_waypoint_on_an_undeclared_port(live: Emulation) -> None:
    """The waypoint waits for the client's first bytes, the server for the client's:
    nothing moves.  Declaring the port (``tcp-`` name or ``appProtocol: tcp``)
    turns inspection off; without the waypoint (pod address) it always works; moved
    to a sidecar, a declared port works from ambient and sidecar clients, and an
    undeclared one hangs in the client's sidecar as it does in Envoy."""
    assert _greeting(live, "mesh/client", "svc/mesh/db-undeclared") == b""
    for service in ("svc/mesh/db-named", "svc/mesh/db-app-protocol"):
        assert b"8.0.36-dpctl" in _greeting(live, "mesh/client", service), service
    assert b"8.0.36-dpctl" in _greeting(live, "mesh/client", "mesh/db")
    assert b"8.0.36-dpctl" in _greeting(live, "mesh/client", "svc/legacy/sc-db")
    assert b"8.0.36-dpctl" in _greeting(live, "legacy/sc-client", "svc/legacy/sc-db")
    assert _greeting(live, "legacy/sc-client", "svc/legacy/sc-db-undeclared") == b""
