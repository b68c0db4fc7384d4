"""Pod networking on real namespaces, in both CNI modes: every kind of path
a pod can take, with the addresses the receiver actually sees."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from collections.abc import Callable

import pytest

from dataplane.kernel import netns
from dataplane.topology.plan import Plan
from tests.integration.support import http_get, pod_of, run_in

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(180)]


@pytest.fixture(params=["vpc", "overlay"])
def fabric(request: pytest.FixtureRequest, emulation: Callable[..., Plan]) -> Plan:
    return emulation("fabric.yaml", CNI=request.param)


@pytest.mark.parametrize(
    "src,dst,path",
    [
        ("shop/x", "shop/y", "same node"),
        ("shop/x", "shop/z", "other node, same subnet"),
        ("shop/x", "default/w", "other subnet and zone"),
        ("default/w", "shop/y", "back across zones"),
    ],
)
def test_pod_to_pod(fabric: Plan, src: str, dst: str, path: str) -> None:
    source, target = pod_of(fabric, src), pod_of(fabric, dst)
    answer = http_get(source.netns, target.ip)
    assert answer["pod"] == target.name, path
    assert answer["node"] == target.node
    # No NAT anywhere on pod-to-pod paths: the server sees the client pod's own address.
    assert str(answer["client"]).split(":")[0] == source.ip, path


def test_pod_addresses_follow_the_cni_mode(fabric: Plan) -> None:
    for pod in fabric.pods:
        out = run_in(pod.netns, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
        assert f"{pod.ip}/32" in out
    if fabric.cni == "vpc":
        subnet_of = {n.name: fabric.subnet(n.subnet).cidr for n in fabric.nodes}
        for pod in fabric.pods:
            assert ipaddress.ip_address(pod.ip) in ipaddress.ip_network(subnet_of[pod.node])
    else:
        for pod in fabric.pods:
            assert ipaddress.ip_address(pod.ip) in ipaddress.ip_network(fabric.node(pod.node).pod_cidr or "")


def test_pod_to_node_and_node_to_pod(fabric: Plan) -> None:
    x, w = pod_of(fabric, "shop/x"), pod_of(fabric, "default/w")
    remote_node = fabric.node(w.node)
    assert run_in(x.netns, "ping", "-c", "1", "-W", "2", remote_node.ip).returncode == 0
    answer = http_get(remote_node.netns, x.ip)
    assert answer["pod"] == "x"
    # A node reaching a pod on another node is seen with its eth0 address in
    # vpc mode and with its VTEP address in overlay mode (as with flannel).
    expected = remote_node.ip if fabric.cni == "vpc" else remote_node.vtep_ip
    assert str(answer["client"]).split(":")[0] == expected


def test_tcp_and_udp_echo_across_zones(fabric: Plan) -> None:
    x, w = pod_of(fabric, "shop/x"), pod_of(fabric, "default/w")
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    tcp = netns.socket_in(x.netns, socket.AF_INET, socket.SOCK_STREAM)
    with tcp:
        tcp.settimeout(10)
        tcp.connect((w.ip, 7000))
        tcp.sendall(payload)
        tcp.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := tcp.recv(65536):
            received += chunk
    assert bytes(received) == payload
    udp = netns.socket_in(x.netns, socket.AF_INET, socket.SOCK_DGRAM)
    with udp:
        udp.settimeout(5)
        udp.sendto(b"ping-udp", (w.ip, 7001))
        data, peer = udp.recvfrom(2048)
    assert data == b"ping-udp" and peer == (w.ip, 7001)


def test_mtu_leaves_room_for_vxlan(fabric: Plan) -> None:
    x = pod_of(fabric, "shop/x")
    mtu = int(run_in(x.netns, "cat", "/sys/class/net/eth0/mtu").stdout)
    assert mtu == (1450 if fabric.cni == "overlay" else 1500)
    # A full-size, don't-fragment packet crosses zones in either mode.
    w = pod_of(fabric, "default/w")
    size = mtu - 28
    assert run_in(x.netns, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", str(size), w.ip).returncode == 0


def test_overlay_wraps_pod_traffic_in_vxlan(emulation: Callable[..., Plan]) -> None:
    plan = emulation("fabric.yaml", CNI="overlay")
    x, w = pod_of(plan, "shop/x"), pod_of(plan, "default/w")
    node = plan.node(x.node)
    # Count VXLAN packets on the node's eth0 while one ping crosses zones.
    cap = subprocess.Popen(
        ["ip", "netns", "exec", node.netns, "tcpdump", "-i", "eth0", "-n", "-c", "2", "-l", "udp port 4789"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(0.5)
        assert run_in(x.netns, "ping", "-c", "2", "-W", "2", w.ip).returncode == 0
        out, _ = cap.communicate(timeout=10)
    finally:
        cap.kill()
    assert out.count("VXLAN") >= 2 or out.count("4789") >= 2, out
