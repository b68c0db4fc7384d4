"""Sniffers and ``dpctl capture`` on a live emulation, while its agents run:
what they see, what filters keep out, the files they write, and that they
give back every socket and thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.utils import rdpcap

from dataplane.cli.capture import resolve_target
from dataplane.kernel.sniff import CapturedPacket, Sniffer, SnifferError, interfaces
from dataplane.testing.plugin import Emulations
from dataplane.topology.plan import Plan, Pod
from tests.integration.support import dpctl, http_get, run_in, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Plan:
    return module_topology(write_topology(tmp_path_factory.mktemp("capture"), "fabric.yaml", "capture", CNI="vpc")).plan


@contextmanager
def background_http(src: Pod, dst: Pod) -> Iterator[None]:
    """A stream of HTTP requests from ``src`` to ``dst`` until the block ends."""
    loop = f"while true; do curl -s -o /dev/null --max-time 1 http://{dst.ip}:8080/; sleep 0.1; done"
    proc = subprocess.Popen(["ip", "netns", "exec", src.netns, "sh", "-c", loop], start_new_session=True)
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def tcp_between(packets: list[CapturedPacket], src: str, dst: str) -> list[CapturedPacket]:
    return [p for p in packets if TCP in p.packet and p.packet[IP].src == src and p.packet[IP].dst == dst]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_cross_node_flow_seen_on_node_eth0_and_pod_veth(live: Plan) -> None:
    x, w = live.pod("shop", "x"), live.pod("default", "w")
    node = live.node(x.node)
    assert x.node != w.node
    flow = f"tcp port 8080 and host {w.ip}"
    with Sniffer(node.netns, "eth0", flow) as on_eth0, Sniffer(node.netns, x.host_iface, flow) as on_veth:
        http_get(x.netns, w.ip)
    eth0, veth = on_eth0.stop(), on_veth.stop()

    requests, replies = tcp_between(eth0, x.ip, w.ip), tcp_between(eth0, w.ip, x.ip)
    assert requests and replies, [p.packet.summary() for p in eth0]
    assert {p.iface for p in eth0} == {"eth0"}
    assert {p.direction for p in requests} == {"out"} and {p.direction for p in replies} == {"in"}
    assert requests[0].packet[TCP].flags == "S" and requests[0].packet[TCP].dport == 8080

    # The node side of the pod's veth: the pod's packets come in, replies go out.
    assert {p.direction for p in tcp_between(veth, x.ip, w.ip)} == {"in"}
    assert {p.direction for p in tcp_between(veth, w.ip, x.ip)} == {"out"}
    assert {p.iface for p in veth} == {x.host_iface}
    assert all(p.time > 0 for p in eth0 + veth)


def test_all_interfaces_capture_names_each_interface(live: Plan) -> None:
    x, w = live.pod("shop", "x"), live.pod("default", "w")
    with Sniffer(live.node(x.node).netns, bpf=f"tcp port 8080 and host {x.ip}") as sniffer:
        http_get(x.netns, w.ip)
    seen = {(p.iface, p.direction) for p in tcp_between(sniffer.stop(), x.ip, w.ip)}
    assert seen == {(x.host_iface, "in"), ("eth0", "out")}


def test_bpf_filter_keeps_other_traffic_out(live: Plan) -> None:
    x, w = live.pod("shop", "x"), live.pod("default", "w")
    with Sniffer(x.netns, "eth0", "icmp") as sniffer:
        http_get(x.netns, w.ip)
        assert run_in(x.netns, "ping", "-c", "2", "-i", "0.2", "-W", "2", w.ip).returncode == 0
    packets = sniffer.stop()
    assert packets and all(ICMP in p.packet for p in packets), [p.packet.summary() for p in packets]
    assert {p.packet[IP].src for p in packets} == {x.ip, w.ip}


def test_take_hands_packets_over_once(live: Plan) -> None:
    """A streaming capture keeps only what arrived since its last take: no packet twice, none lost."""
    x, w = live.pod("shop", "x"), live.pod("default", "w")
    with Sniffer(x.netns, "eth0", "icmp") as sniffer:
        assert run_in(x.netns, "ping", "-c", "3", "-i", "0.2", "-W", "2", w.ip).returncode == 0
        first = sniffer.take(2)
        assert first, "the first take waits for packets"
        assert run_in(x.netns, "ping", "-c", "2", "-i", "0.2", "-W", "2", w.ip).returncode == 0
    rest = sniffer.stop()
    seqs = [(p.packet[ICMP].type, p.packet[ICMP].seq, p.packet[ICMP].id) for p in first + rest]
    assert len(seqs) == len(set(seqs)) == 10, seqs  # 5 requests + 5 replies, each once
    assert not set(map(id, first)) & set(map(id, rest))


def test_bad_filter_and_unknown_interface_are_clear_errors(live: Plan) -> None:
    node = live.nodes[0]
    with pytest.raises(SnifferError, match="bad capture filter"):
        Sniffer(node.netns, "eth0", "tcp portx 80").start()
    with pytest.raises(SnifferError, match="no interface nope"):
        Sniffer(node.netns, "nope").start()
    result = dpctl("capture", "-t", live.name, f"{node.name}/nope", "--count", "1")
    assert result.returncode == 1 and "no interface nope" in result.stderr and "Traceback" not in result.stderr


def test_no_sockets_or_threads_leak(live: Plan) -> None:
    x, w = live.pod("shop", "x"), live.pod("default", "w")
    many = interfaces(live.router_netns)
    assert len(many) >= 4  # bridges, node veths, lo: a namespace with many interfaces
    baseline = (threading.active_count(), open_fds())
    for _ in range(5):
        for target in (live.router_netns, live.node(x.node).netns):
            with Sniffer(target) as busy:  # every interface, traffic flowing
                http_get(x.netns, w.ip)
            assert busy.stop()
        Sniffer(live.router_netns, many[0]).start().stop()  # stopped at once, nothing seen
        with pytest.raises(RuntimeError), Sniffer(live.router_netns):
            raise RuntimeError("probe failed")
    assert (threading.active_count(), open_fds()) == baseline


def test_targets_resolve_to_namespaces_and_interfaces(live: Plan) -> None:
    node, x = live.nodes[0], live.pod("shop", "x")
    bridge = live.subnets[0].bridge
    assert resolve_target(live, f"{node.name}/eth0") == (node.netns, "eth0")
    assert resolve_target(live, f"node/{node.name}/eth0") == (node.netns, "eth0")
    assert resolve_target(live, f"{node.name}/any") == (node.netns, None)
    assert resolve_target(live, "shop/x") == (x.netns, "eth0")
    assert resolve_target(live, f"router/{bridge}") == (live.router_netns, bridge)


def test_capture_writes_a_pcap_tcpdump_reads(live: Plan, tmp_path: Path) -> None:
    x, w = live.pod("shop", "x"), live.pod("default", "w")
    out = tmp_path / "x.pcap"
    with background_http(x, w):
        result = dpctl("capture", "-t", live.name, f"{x.node}/eth0", "-w", str(out), "--count", "4", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "4 packets captured" in result.stderr
    read = subprocess.run(["tcpdump", "-nn", "-r", str(out)], capture_output=True, text=True, timeout=30, check=False)
    assert read.returncode == 0, read.stderr
    assert "link-type EN10MB" in read.stderr
    assert len(read.stdout.splitlines()) == 4


def test_capture_pcapng_keeps_interface_names(live: Plan, tmp_path: Path) -> None:
    x, w = live.pod("shop", "x"), live.pod("default", "w")
    out = tmp_path / "all.pcapng"
    with background_http(x, w):
        result = dpctl(
            "capture", "-t", live.name, f"node/{x.node}/any", "-f", "tcp port 8080", "-w", str(out), "--duration", "2"
        )
    assert result.returncode == 0, result.stderr
    read = subprocess.run(["tcpdump", "-nn", "-r", str(out)], capture_output=True, text=True, timeout=30, check=False)
    assert read.returncode == 0 and read.stdout.count("8080") >= 2, read.stderr
    assert {p.sniffed_on for p in rdpcap(str(out))} >= {"eth0", x.host_iface}


def test_capture_prints_one_line_per_packet(live: Plan) -> None:
    x, w = live.pod("shop", "x"), live.pod("default", "w")
    with background_http(x, w):
        result = dpctl("capture", "-t", live.name, "shop/x", "-f", f"tcp and host {w.ip}", "--count", "3", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert all(" eth0 " in line and "TCP" in line and w.ip in line for line in lines), lines
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_cleanly_and_keeps_the_file(live: Plan, tmp_path: Path) -> None:
    x, w = live.pod("shop", "x"), live.pod("default", "w")
    out = tmp_path / "interrupted.pcap"
    argv = [sys.executable, "-m", "dataplane.cli", "capture", "-t", live.name, "shop/x", "-w", str(out)]
    with background_http(x, w):
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    read = subprocess.run(["tcpdump", "-nn", "-r", str(out)], capture_output=True, text=True, timeout=30, check=False)
    assert read.returncode == 0 and len(read.stdout.splitlines()) > 0, read.stderr
    assert f"{len(read.stdout.splitlines())} packets captured" in stderr
