"""An ingress gateway (Gateway API, class istio) from the outside client, through
its own LoadBalancer Service (TCP passthrough, externalTrafficPolicy Local):
HTTP listeners routing by Host and path, an HTTPS listener terminating with a
certificate the emulation issues, TLS passthrough chosen by SNI, gRPC calls
routed by GRPCRoute, and allowedRoutes keeping another namespace's route off
the gateway."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h2.connection
import h2.events
import pytest

from dataplane.kernel import netns
from dataplane.lb import acm
from dataplane.state.store import StateDir
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    path = write_topology(tmp_path_factory.mktemp("gateway"), "gateway.yaml", "gateway", CNI="vpc")
    yield module_topology(str(path))


def _vip(emu: Emulation) -> str:
    [service] = [s for s in emu.plan.services if s.key == "shop/gw-istio"]
    return service.load_balancer_ips[0]


def _connect(emu: Emulation, port: int) -> socket.socket:
    sock = netns.socket_in(emu.netns("external"), socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect((_vip(emu), port))
    return sock


def _get(sock: socket.socket, host: str, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(host)
    connection.sock = sock
    connection.request("GET", path, headers={"Host": host})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def _tls(emu: Emulation, sni: str) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(acm.root_path(Path(StateDir(emu.name).path))))
    return context.wrap_socket(_connect(emu, 443), server_hostname=sni)


def _app(status: int, body: bytes) -> Any:
    return json.loads(body)["pod"].split("-")[0] if status == 200 else status


def test_http_routes_by_host_and_path(live: Emulation) -> None:
    answers = {}
    for host, path in (("a.example.com", "/api/x"), ("a.example.com", "/apix"), ("c.example.com", "/"),
                       ("a.example.org", "/")):
        status, headers, body = _get(_connect(live, 80), host, path)
        assert headers["server"] == "istio-envoy"
        answers[(host, path)] = _app(status, body)
    # c.example.com's route comes from namespace other, which allowedRoutes (Same) refuses
    assert answers == {("a.example.com", "/api/x"): "api", ("a.example.com", "/apix"): "web",
                       ("c.example.com", "/"): 404, ("a.example.org", "/"): 404}


def test_the_backend_sees_the_gateway_and_the_client_in_xff(live: Emulation) -> None:
    status, _, body = _get(_connect(live, 80), "a.example.com", "/")
    seen = json.loads(body)
    [gateway] = [p for p in live.plan.pods if p.namespace == "shop" and p.name.startswith("gw-istio")]
    assert status == 200 and seen["client"].split(":")[0] == gateway.ip
    assert seen["headers"]["x-forwarded-for"] == live.plan.external.client_ip  # type: ignore[union-attr]
    assert seen["headers"]["x-forwarded-proto"] == "http" and seen["headers"]["x-request-id"]


def test_https_terminates_with_an_issued_certificate(live: Emulation) -> None:
    with _tls(live, "a.example.com") as sock:
        cert: Any = sock.getpeercert()
        status, _, body = _get(sock, "a.example.com", "/api")
    assert dict(x[0] for x in cert["subject"])["commonName"] == "a.example.com"
    assert _app(status, body) == "api" and json.loads(body)["headers"]["x-forwarded-proto"] == "https"


def test_tls_passthrough_by_sni_and_unknown_names_are_reset(live: Emulation) -> None:
    bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(bio_in, bio_out, server_hostname="b.example.com")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = bio_out.read()
    with _connect(live, 443) as sock:
        sock.sendall(hello)
        echoed = b""
        while len(echoed) < len(hello) and (chunk := sock.recv(65536)):
            echoed += chunk
    assert echoed == hello  # the echo pod got the ClientHello untouched
    for sni in ("x.example.com", None):
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.wrap_socket(_connect(live, 443), server_hostname=sni).close()


def test_get_shows_gateways_and_route_conditions(live: Emulation) -> None:
    gateways = dpctl("get", "gateways", "-t", live.name, check=True).stdout
    assert "gw" in gateways and _vip(live) in gateways and "pass:TLS/443" in gateways
    routes = dpctl("get", "httproutes", "-t", live.name, check=True).stdout.splitlines()
    [a] = [r for r in routes if r.split()[:2] == ["shop", "a"]]
    [sneaky] = [r for r in routes if r.split()[:2] == ["other", "sneaky"]]
    assert "True (Accepted)" in a and "http,https" in a
    assert "False (NotAllowedByListeners)" in sneaky


def _grpc_call(sock: socket.socket, host: str, path: str) -> dict[str, str]:
    """One unary gRPC call over h2c (an empty request message); its headers and trailers together."""
    connection = h2.connection.H2Connection()
    connection.initiate_connection()
    connection.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", host), (":path", path),
                                ("content-type", "application/grpc"), ("te", "trailers")])
    connection.send_data(1, b"\x00\x00\x00\x00\x00", end_stream=True)
    sock.sendall(connection.data_to_send())
    seen: dict[str, str] = {}
    with sock:
        while True:
            data = sock.recv(65536)
            assert data, "the gateway closed the connection before the call ended"
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    seen.update((k.decode(), v.decode()) for k, v in event.headers)
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    return seen
            sock.sendall(connection.data_to_send())


def test_grpc_calls_are_routed_by_method(live: Emulation) -> None:
    check = _grpc_call(_connect(live, 80), "grpc.example.com", "/grpc.health.v1.Health/Check")
    assert check["grpc-status"] == "0" and check["x-dpctl-pod"].startswith("shop/api-")
    other = _grpc_call(_connect(live, 80), "grpc.example.com", "/shop.Cart/Add")
    assert other["grpc-status"] == "12" and other["x-dpctl-pod"].startswith("shop/web-")  # UNIMPLEMENTED, by web
    routes = dpctl("get", "grpcroutes", "-t", live.name, check=True).stdout.splitlines()
    [calls] = [r for r in routes if r.split()[:2] == ["shop", "calls"]]
    assert "True (Accepted)" in calls and "http" in calls


def test_verify_edge_sends_a_request_to_every_gateway_route(live: Emulation) -> None:
    report = live.assert_verified("edge")
    checked = [r for r in report.results if r.subject.startswith("gateway shop/gw ") and not r.skipped]
    assert any("HTTPRoute shop/a rule 0" in r.subject for r in checked)  # /api to the api pods
    assert any("GRPCRoute shop/calls rule 0" in r.subject for r in checked)
    assert any("no route" in r.subject for r in checked)  # a host no route serves: 404
