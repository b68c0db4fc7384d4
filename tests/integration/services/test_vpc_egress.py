"""Route tables, the internet gateway and a NAT gateway on real packets (aws-edge.md §4.1-4.2, T7-T12).

The server is a socket in the outside client's namespace, on the internet
host's address; it answers with the source address and port it saw, then
echoes.  The NAT gateway's limit is lowered to 3 connections per
destination and its idle timeout to 5 s, as the topology field allows.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from dataplane.kernel import netns
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from dataplane.vpc.egress import read
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

HOST = "198.51.100.10"


class EchoServer:
    """Listens on ``HOST:port`` in the outside client's namespace until closed."""

    def __init__(self, client_netns: str, port: int):
        self.sock = netns.socket_in(client_netns, socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, port))
        self.sock.listen(64)
        self.peers: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, (ip, port) = self.sock.accept()
            except OSError:
                return
            self.peers.append(conn)
            threading.Thread(target=self._echo, args=(conn, f"{ip}:{port}\n"), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket, hello: str) -> None:
        """Closes when the client does: a half-open flow would keep its slot in the gateway's count."""
        with conn:
            try:
                conn.sendall(hello.encode())
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.peers:
            conn.close()


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[Emulation]:
    emulation = module_topology(str(write_topology(tmp_path_factory.mktemp("egress"), "egress.yaml", "egress")))
    assert emulation.plan.external is not None
    servers = [EchoServer(emulation.plan.external.client_netns, port) for port in (80, 81)]
    yield emulation
    for server in servers:
        server.close()


def _connect(emu: Emulation, pod: str, port: int = 80) -> socket.socket:
    sock = netns.socket_in(emu.netns(pod), socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect((HOST, port))
    except BaseException:
        sock.close()  # or the kernel retransmits the SYN, and takes a port the moment one frees
        raise
    return sock


def _keep_alive(socks: list[socket.socket]) -> None:
    """One echoed byte on each: the flows stay younger than the gateway's 5 s idle timeout."""
    for sock in socks:
        sock.sendall(b".")
        assert sock.recv(10) == b"."


def _seen_as(emu: Emulation, pod: str) -> tuple[str, int]:
    with _connect(emu, pod) as sock:
        ip, _, port = sock.recv(100).decode().strip().partition(":")
    return ip, int(port)


def _nat(emu: Emulation) -> dict[str, object]:
    [record] = json.loads(dpctl("get", "natgateways", "-t", emu.name, "-o", "json", check=True).stdout)
    return dict(record)


def test_t9_a_private_pod_leaves_with_the_nat_gateways_elastic_ip(emu: Emulation) -> None:
    nat = read(emu.plan.vpc_egress).nat("nat-a")
    ip, port = _seen_as(emu, "default/private")
    assert ip == nat.elastic_ip and 1024 <= port <= 65535
    with pytest.raises(TimeoutError):  # unsolicited inbound is never forwarded
        with netns.socket_in(emu.plan.external.client_netns, socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect((nat.elastic_ip, 80))
    assert _nat(emu)["metrics"]["PacketsDropCount"] >= 1  # type: ignore[index]


def test_t8_t12_the_internet_gateway_passes_public_addresses_only(emu: Emulation) -> None:
    public = read(emu.plan.vpc_egress).public_ips["p1"]
    assert _seen_as(emu, "default/on-public-ip")[0] == public  # CNI SNAT to the node, then 1:1 NAT at the IGW
    with pytest.raises(TimeoutError):  # a public subnet, but the node has no public IP
        _seen_as(emu, "default/on-no-public-ip")


def test_t7_no_route_means_dropped_at_the_vpc_router(emu: Emulation) -> None:
    with pytest.raises(TimeoutError):
        _seen_as(emu, "default/isolated")
    # ... while the local route still joins every subnet
    assert emu.http_get("default/private", f"http://{emu.pod('default/isolated').ip}:8080/")["pod"] == "isolated"


def test_t10_the_connection_past_the_limit_to_one_destination_fails(emu: Emulation) -> None:
    before = _nat(emu)["metrics"]["ErrorPortAllocation"]  # type: ignore[index]
    held = [_connect(emu, "default/private") for _ in range(3)]
    try:
        for sock in held:
            assert sock.recv(100)
        with pytest.raises(TimeoutError):  # the SYN found no source port for this destination: dropped
            _connect(emu, "default/private")
        _keep_alive(held)
        with _connect(emu, "default/private", 81) as other:  # another destination port has its own 3
            assert other.recv(100)
        metrics = _nat(emu)["metrics"]
        assert metrics["ErrorPortAllocation"] > before  # type: ignore[index]  # the SYN and its retransmission
        assert metrics["ActiveConnectionCount"] >= 3  # type: ignore[index]
        _keep_alive(held)
        out = dpctl("trace", "-t", emu.name, "default/private", f"{HOST}:80").stdout
        assert "dropped at nat gateway nat-a (NAT gateway nat-a: no source port left for this destination" in out
    finally:
        for sock in held:
            sock.close()


def test_t11_an_idle_flow_is_reset_when_the_inside_host_resumes(emu: Emulation) -> None:
    time.sleep(2)  # the previous test's closed flows give their ports back (after 1 s)
    with _connect(emu, "default/private") as sock:
        sock.recv(100)
        time.sleep(1)  # under the idle timeout: data flows
        sock.sendall(b"x")
        assert sock.recv(10) == b"x"
        time.sleep(6)  # past it (5 s)
        sock.sendall(b"y")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
    assert _nat(emu)["metrics"]["IdleTimeoutCount"] >= 1  # type: ignore[index]


def test_get_routetables_shows_the_local_route_and_the_targets(emu: Emulation) -> None:
    tables = {t["name"]: t for t in json.loads(dpctl("get", "routetables", "-t", emu.name, "-o", "json",
                                                     check=True).stdout)}
    nat = read(emu.plan.vpc_egress).nat("nat-a")
    assert tables["public"]["public"] and tables["public"]["subnets"] == ["pub"]
    assert tables["private"]["routes"] == ["10.50.0.0/16 local", f"0.0.0.0/0 nat/nat-a ({nat.elastic_ip})",
                                           "192.0.2.0/24 blackhole"]
    assert not tables["private"]["public"]


def test_trace_names_the_route_table_and_the_nat_gateway(emu: Emulation) -> None:
    out = dpctl("trace", "-t", emu.name, "default/isolated", f"{HOST}:80").stdout
    assert "dropped at vpc router (subnet iso, no route table (the local route only): no route to 198.51.100.10)" in out
    out = dpctl("trace", "-t", emu.name, "default/private", f"{HOST}:80").stdout
    nat = read(emu.plan.vpc_egress).nat("nat-a")
    assert "nat gateway nat-a" in out and f"SNAT {nat.elastic_ip}:" in out and "delivered to external client" in out


def test_verify_reachability_matches_the_model(emu: Emulation) -> None:
    result = dpctl("verify", "-t", emu.name, "--only", "reachability", "-o", "json")
    checks = [c for c in json.loads(result.stdout)["results"] if c["check"] == "reachability"]
    assert result.returncode == 0, [c for c in checks if not c["ok"]]
    assert len(checks) == 4 * 3 + (4 + 4) * 1  # node pairs; each node and one pod per node to the host
    [p2] = [c for c in checks if c["subject"].startswith("node p2 -> internet")]
    assert p2["evidence"].startswith("dropped (") and "no public IPv4 address" in p2["evidence"]
    [private] = [c for c in checks if c["subject"].startswith("pod default/private")]
    assert private["evidence"].startswith(f"from {read(emu.plan.vpc_egress).nat('nat-a').elastic_ip} ")
