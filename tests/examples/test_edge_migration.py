"""The migration story of ``topologies/edge.yaml`` (``aws-edge.md`` §1.7, T17),
tested from the outside client the way a platform team would, with real TLS
handshakes against the emulation's public root.

(a) An ALB re-encrypting to an Istio-style gateway sends no SNI: the gateway
whose listener names shop.example.com refuses the handshake and the client
gets 502 from the ALB; the gateway whose listener names no host serves.
(b) The gateway's own LoadBalancer Service passes TCP through: the gateway
sees the client's SNI and address, terminates shop.example.com and passes
pass.example.com through untouched."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from dataplane.kernel import netns
from dataplane.lb import acm
from dataplane.state.store import StateDir

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

EDGE = "topologies/edge.yaml"


def _connect(emu: Any, address: str, port: int) -> socket.socket:
    sock = netns.socket_in(emu.netns("external"), socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect((address, port))
    return sock


def _https(emu: Any, address: str, sni: str, path: str = "/") -> tuple[int, dict[str, str], bytes, str]:
    """GET over a verified TLS session (the emulation's root): status, headers, body, certificate subject."""
    context = ssl.create_default_context(cafile=str(acm.root_path(Path(StateDir(emu.name).path))))
    with context.wrap_socket(_connect(emu, address, 443), server_hostname=sni) as tls:
        cert: Any = tls.getpeercert()
        connection = http.client.HTTPConnection(sni)
        connection.sock = tls
        connection.request("GET", path, headers={"Host": sni})
        response = connection.getresponse()
        body = response.read()
    subject = dict(x[0] for x in cert["subject"])["commonName"]
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body, subject


def _alb(emu: Any, group: str) -> str:
    [lb] = [lb for lb in emu.plan.load_balancers if lb.group == group]
    return lb.nodes[0].public_ip


def _vip(emu: Any, name: str) -> str:
    [service] = [s for s in emu.plan.services if s.key == f"ingress/{name}"]
    return service.load_balancer_ips[0]


def _client_hello(sni: str) -> bytes:
    bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(bio_in, bio_out, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return bio_out.read()


def test_an_istio_gateway_behind_an_alb_and_behind_its_own_passthrough_lb(topology):
    edge = topology(EDGE)
    client_ip = edge.plan.external.client_ip

    # (a) ALB -> HTTPS target, no SNI: the gateway naming shop.example.com resets, the ALB answers 502 ...
    status, headers, _, subject = _https(edge, _alb(edge, "ingress/shop"), "shop.example.com")
    assert (status, headers["server"], subject) == (502, "awselb/2.0", "shop.example.com")
    # ... and the gateway whose listener names no host takes it: the pod sees the ALB and then the gateway
    status, headers, body, _ = _https(edge, _alb(edge, "ingress/open"), "shop.example.com", "/api/x")
    seen = json.loads(body)
    assert (status, headers["server"], seen["pod"].split("-")[0]) == (200, "istio-envoy", "api")
    forwarded = [a.strip() for a in seen["headers"]["x-forwarded-for"].split(",")]
    [alb] = [lb for lb in edge.plan.load_balancers if lb.group == "ingress/open"]
    assert forwarded[0] == client_ip and forwarded[1] in {n.ip for n in alb.nodes}  # the gateway's peer: the ALB
    assert seen["headers"]["x-forwarded-proto"] == "https" and seen["headers"]["x-request-id"]

    # (b) the gateway's own LB passes TCP through: the gateway sees the SNI and the client's address
    vip = _vip(edge, "shop-gw-istio")
    status, headers, body, subject = _https(edge, vip, "shop.example.com", "/")
    seen = json.loads(body)
    assert (status, headers["server"], subject, seen["pod"].split("-")[0]) == (200, "istio-envoy", "shop.example.com", "web")
    assert seen["headers"]["x-forwarded-for"] == client_ip

    # ... routes pass.example.com on SNI, bytes untouched (the vault pods echo the ClientHello back)
    hello = _client_hello("pass.example.com")
    with _connect(edge, vip, 443) as sock:
        sock.sendall(hello)
        echoed = b""
        while len(echoed) < len(hello) and (chunk := sock.recv(65536)):
            echoed += chunk
    assert echoed == hello

    # ... and a name no listener serves is refused during the handshake
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        _https(edge, vip, "other.example.com")
