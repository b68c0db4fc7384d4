"""Tests written the way a platform team would write them against their own
topology, with the ``dataplane.testing`` pytest plugin that dpctl installs."""

from __future__ import annotations

import secrets
import socket

import pytest

from dataplane.kernel import netns

pytestmark = pytest.mark.dpctl_root

RETAIL = "topologies/retail-store.yaml"
RETAIL_MESH = "topologies/retail-store-mesh.yaml"


def test_ui_reaches_catalog_through_its_service(topology):
    shop = topology(RETAIL)
    answer = shop.http_get("ui/ui-0", "http://catalog.catalog/catalogue")
    assert answer["namespace"] == "catalog"
    assert answer["path"] == "/catalogue"


def test_outside_client_reaches_ui_through_the_load_balancer(topology):
    shop = topology(RETAIL)
    vip = shop.service("ui/ui").load_balancer_ips[0]
    assert shop.http_get("external", f"http://{vip}/")["namespace"] == "ui"


def test_cross_zone_request_crosses_the_node_link(topology):
    shop = topology(RETAIL)
    ui, catalog = shop.pod("ui/ui-0"), shop.pod("catalog/catalog-1")
    assert ui.zone != catalog.zone
    with shop.sniffer(f"node/{ui.node}", "eth0", f"tcp and host {catalog.ip}") as capture:
        shop.http_get("ui/ui-0", f"http://{catalog.ip}:8080/")
    packets = capture.stop()
    assert any(p.direction == "out" for p in packets)


def send_canary(shop, src: str, dst: str) -> tuple[bytes, list]:
    """POST a random canary from ``src`` to ``dst``'s port 8080 while capturing
    on the source node's eth0; the canary and every frame seen there."""
    source, target = shop.pod(src), shop.pod(dst)
    canary = f"canary-{secrets.token_hex(8)}".encode()
    with shop.sniffer(f"node/{source.node}", "eth0") as capture:
        sock = netns.socket_in(source.netns, socket.AF_INET, socket.SOCK_STREAM)
        with sock:
            sock.settimeout(5)
            sock.connect((target.ip, 8080))
            sock.sendall(b"POST / HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(canary), canary))
            assert b"200" in sock.recv(4096)
    return canary, capture.stop()


def test_meshed_traffic_is_never_plaintext_between_nodes(topology):
    shop = topology(RETAIL_MESH)
    canary, packets = send_canary(shop, "ui/ui-0", "catalog/catalog-1")
    assert packets, "nothing crossed the node link"
    assert shop.seen(packets, canary) == []


def test_without_the_mesh_the_canary_is_visible(topology):
    """The sanity check of the one above: the same capture does see plaintext."""
    shop = topology(RETAIL)
    canary, packets = send_canary(shop, "ui/ui-0", "catalog/catalog-1")
    assert shop.seen(packets, canary)


def test_cross_zone_request_takes_the_designed_path(topology):
    """Hop by hop: ui's veth, its node's eth0, the subnet router, catalog's node, catalog's veth."""
    shop = topology(RETAIL)
    result = shop.assert_path("ui/ui-0", "catalog/catalog-1")
    assert "router" in result.evidence


def test_meshed_pair_is_encrypted_and_travels_as_hbone(topology):
    shop = topology(RETAIL_MESH)
    shop.assert_encrypted("ui/ui-0", "catalog/catalog-1")
    shop.assert_path("ui/ui-0", "catalog/catalog-1")  # the same hops, on 15008


def test_encryption_assertion_fails_without_the_mesh(topology):
    shop = topology(RETAIL)
    with pytest.raises(AssertionError, match="plaintext canary"):
        shop.assert_encrypted("ui/ui-0", "catalog/catalog-1")


def test_the_shop_passes_dpctl_verify(topology):
    report = topology(RETAIL).assert_verified("connectivity", "dnat", "path")
    assert report.totals()["passed"] > 0
