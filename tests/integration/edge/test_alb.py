"""Ingress on an emulated ALB, from the outside client (``aws-edge.md`` §1, T15-T19, T22):
real TLS handshakes with SNI against certificates of the emulated ACM, real
HTTP, and what the pod sees.  VPC CNI: ``target-type: ip`` sends to pod
addresses, which only the VPC CNI makes routable (as on EKS).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataplane.kernel import netns
from dataplane.lb import acm
from dataplane.state.store import StateDir
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

CERT_A = "arn:aws:acm:us-east-1:111122223333:certificate/aaaa"
CERT_B = "arn:aws:acm:us-east-1:111122223333:certificate/bbbb"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    path = write_topology(tmp_path_factory.mktemp("alb"), "alb.yaml", "alb", CNI="vpc")
    yield module_topology(str(path))


def _node(emu: Emulation, group: str, zone: str) -> str:
    [lb] = [lb for lb in emu.plan.load_balancers if lb.group == group]
    [node] = [n for n in lb.nodes if n.zone == zone]
    assert node.public_ip is not None
    return node.public_ip


def _connect(emu: Emulation, address: str, port: int) -> socket.socket:
    sock = netns.socket_in(emu.netns("external"), socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect((address, port))
    return sock


def _tls(emu: Emulation, address: str, sni: str | None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(acm.root_path(Path(StateDir(emu.name).path))))
    context.check_hostname = False  # the handshake is judged by the certificate it returns
    return context.wrap_socket(_connect(emu, address, 443), server_hostname=sni)


def _get(sock: socket.socket, host: str, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(host)
    connection.sock = sock
    connection.request("GET", path, headers={"Host": host})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def _subject(sock: ssl.SSLSocket) -> str:
    cert: Any = sock.getpeercert()
    return dict(x[0] for x in cert["subject"])["commonName"]


def test_t15_sni_picks_the_certificate_and_the_first_is_the_default(live: Emulation) -> None:
    address = _node(live, "shop/shop", "a")
    for sni, expected in (("b.example.com", "b.example.com"), ("x.b.example.com", "b.example.com"),
                          ("c.example.com", "a.example.com"), (None, "a.example.com")):
        with _tls(live, address, sni) as sock:
            assert _subject(sock) == expected, sni


def test_t16_the_pod_gets_plain_http_with_the_albs_headers(live: Emulation) -> None:
    with _tls(live, _node(live, "shop/shop", "b"), "b.example.com") as sock:
        status, _, body = _get(sock, "b.example.com", "/x")
    report = json.loads(body)
    seen = report["headers"]
    assert status == 200 and report["pod"].startswith("web-") and report["host"] == "b.example.com"
    assert seen["x-forwarded-for"] == live.plan.external.client_ip  # type: ignore[union-attr]
    assert (seen["x-forwarded-proto"], seen["x-forwarded-port"]) == ("https", "443")
    assert seen["x-amzn-trace-id"].startswith("Root=1-")
    [lb] = [lb for lb in live.plan.load_balancers if lb.group == "shop/shop"]
    assert report["client"].split(":")[0] in {n.ip for n in lb.nodes}  # ip targets: the ALB node's own address


def test_t18_ssl_redirect_answers_301_and_no_pod_sees_it(live: Emulation) -> None:
    status, headers, _ = _get(_connect(live, _node(live, "shop/secure", "a"), 80), "a.example.com", "/p?q=1")
    assert (status, headers["location"], headers["server"]) == (301, "https://a.example.com/p?q=1", "awselb/2.0")


def test_t19_exact_before_prefix_and_a_fixed_404_for_the_rest(live: Emulation) -> None:
    address = _node(live, "shop/shop", "a")
    answers = {}
    for path in ("/api/health", "/api/x", "/api", "/apix", "/API/x"):
        status, _, body = _get(_connect(live, address, 80), "a.example.com", path)
        answers[path] = json.loads(body)["pod"].split("-")[0] if status == 200 else status
    assert answers == {"/api/health": "web", "/api/x": "api", "/api": "api", "/apix": 404, "/API/x": 404}


def test_t22_instance_targets_reach_the_pod_from_a_node(live: Emulation) -> None:
    with _tls(live, _node(live, "shop/secure", "b"), "a.example.com") as sock:
        status, _, body = _get(sock, "a.example.com", "/")
    report = json.loads(body)
    assert status == 200 and report["client"].split(":")[0] in {n.ip for n in live.plan.nodes}  # eTP Cluster
    assert report["headers"]["x-forwarded-for"] == live.plan.external.client_ip  # type: ignore[union-attr]


def test_get_ingress_and_certificates_show_the_alb(live: Emulation) -> None:
    rows = dpctl("get", "ingress", "-t", live.name, check=True).stdout.splitlines()
    shop = next(r for r in rows if r.split()[:2] == ["shop", "shop"])
    [lb] = [lb for lb in live.plan.load_balancers if lb.group == "shop/shop"]
    assert lb.dns_name in shop and lb.dns_name.endswith(".us-east-1.elb.amazonaws.com") and "80, 443" in shop
    certs = dpctl("get", "certificates", "-t", live.name, check=True).stdout
    assert CERT_A in certs and CERT_B in certs and lb.name in certs


def test_verify_edge_checks_every_rule_from_the_outside(live: Emulation) -> None:
    report = live.assert_verified("edge")
    checked = [r for r in report.results if not r.skipped]
    assert len(checked) >= 12  # 2 ALBs x 2 zones x their listeners' rules and defaults
    assert any(" with aaaa" in r.evidence for r in checked) and any(" with bbbb" in r.evidence for r in checked)
