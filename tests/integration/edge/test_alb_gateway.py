"""Gateway API on the AWS Load Balancer Controller: a Gateway of an ALB-controller class is
served by an emulated ALB (``aws-edge.md`` §2.1), from the outside client over real TLS."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Iterator

import pytest

from dataplane.kernel import netns
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

HOST = "app.example.com"
ARN = "arn:aws:acm:us-east-1:111122223333:certificate/app"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    path = write_topology(tmp_path_factory.mktemp("albgw"), "alb-gateway.yaml", "albgw", CNI="vpc")
    yield module_topology(str(path))


def _address(emu: Emulation) -> str:
    [lb] = [lb for lb in emu.plan.load_balancers if lb.group == "gateway:shop/edge"]
    node = next(n for n in lb.nodes if n.zone == "a")
    assert node.public_ip is not None and lb.scheme == "internet-facing"
    return node.public_ip


def _requests(emu: Emulation, path: str, count: int = 1, headers: dict[str, str] | None = None,
              host: str = HOST) -> list[tuple[int, dict[str, str], bytes]]:
    """``count`` HTTPS requests on one connection, trusting the root as the outside client does."""
    sock = netns.socket_in(emu.netns("external"), socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect((_address(emu), 443))
    tls = ssl.create_default_context(cafile="/etc/netns/" + emu.plan.external.client_netns  # type: ignore[union-attr]
                                     + "/ssl/certs/ca-certificates.crt").wrap_socket(sock, server_hostname=HOST)
    connection = http.client.HTTPConnection(host)
    connection.sock = tls
    answers = []
    for _ in range(count):
        connection.request("GET", path, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        answers.append((response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()))
    connection.close()
    return answers


def _app(answer: tuple[int, dict[str, str], bytes]) -> str:
    return str(json.loads(answer[2])["pod"]).rsplit("-", 1)[0]


def test_the_gateway_gets_an_internet_facing_alb_and_shows_its_name(live: Emulation) -> None:
    [lb] = [lb for lb in live.plan.load_balancers if lb.group == "gateway:shop/edge"]
    records = json.loads(dpctl("get", "gateways", "-t", live.name, "-o", "json", check=True).stdout)
    [edge] = [r for r in records if r["name"] == "edge"]
    assert edge["class"] == "aws-alb" and edge["address"] == lb.dns_name
    routes = dpctl("get", "httproutes", "-t", live.name, check=True).stdout
    assert any(line.split()[:2] == ["shop", "app"] and "True (Accepted)" in line for line in routes.splitlines())


def test_path_header_and_weighted_rules_route_as_the_httproute_says(live: Emulation) -> None:
    [api] = _requests(live, "/api/orders")
    body = json.loads(api[2])
    assert _app(api) == "api" and body["headers"]["x-forwarded-proto"] == "https"
    [lb] = [lb for lb in live.plan.load_balancers if lb.group == "gateway:shop/edge"]
    assert body["client"].split(":")[0] == next(n.ip for n in lb.nodes if n.zone == "a")  # ip targets
    assert {_app(a) for a in _requests(live, "/", 5, {"x-canary": "yes"})} == {"canary"}
    mixed = [_app(a) for a in _requests(live, "/", 60)]
    assert set(mixed) == {"web", "canary"} and mixed.count("web") > mixed.count("canary")  # 80/20
    [other] = _requests(live, "/", host="other.example.com")
    assert other[0] == 404 and other[1]["server"] == "awselb/2.0"  # the listener's default


def test_verify_and_trace_cover_the_gateway(live: Emulation) -> None:
    report = live.assert_verified("edge")
    checked = [r for r in report.results if "shop/app" in r.subject and not r.skipped]
    assert len(checked) >= 6  # three rules on two listeners (HTTP and HTTPS) in each zone
    out = dpctl("trace", "-t", live.name, "external", f"https://{HOST}/", check=True).stdout
    [lb] = [lb for lb in live.plan.load_balancers if lb.group == "gateway:shop/edge"]
    assert f"ALIAS {lb.dns_name}" in out  # ExternalDNS published the route's hostname (gateway-httproute)
    assert "weighted forward: shop/web 80%, shop/canary 20%" in out
    secure = dpctl("exec", "-t", live.name, "external", "--", "curl", "-sS", "-m", "5", f"https://{HOST}/api/",
                   check=True)
    assert json.loads(secure.stdout)["pod"].startswith("api-")
