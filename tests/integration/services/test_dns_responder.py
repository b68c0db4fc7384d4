"""The agent's ``dns`` responder against the real kernel.

Like ``test_agent.py``: a throwaway lab of two namespaces joined by a veth, a
client (``dp-dnstest<random>.cli``) and a CoreDNS-like pod
(``…kube-system.coredns-0``) whose container serves 53/UDP and 53/TCP with
the ``dns`` responder; the agent runs as a subprocess on a hand-written plan,
and the test queries the pod directly with dnslib from the client namespace.
"""

from __future__ import annotations

import dataclasses
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from dataplane.agent import ready
from dataplane.kernel import netns
from dataplane.topology.plan import Container, ContainerPort, Namespace, Pod, Service, ServicePort
from tests.integration.support.agentlab import (
    MARKS,
    NODE,
    AgentLab,
    AgentRun,
    Link,
    StartAgent,
    agent_starter,
    lab_namespaces,
    new_tag,
)

pytestmark = MARKS

DNS_POD_IP, CLIENT_IP = "10.98.1.2", "10.98.1.1"
WEB = "web.shop.svc.cluster.local"
BIG = "big.shop.svc.cluster.local"


def _service(cluster_ip: str) -> Service:
    return Service("shop", "web", "ClusterIP", cluster_ip, ports=(ServicePort(80, "TCP", "http", 8080),))


@dataclasses.dataclass(frozen=True)
class Lab(AgentLab):
    @property
    def pod_netns(self) -> str:
        return self.name("kube-system.coredns-0")

    def dns_pod(self) -> Pod:
        ports = (ContainerPort(53, "UDP", "dns", "dns"), ContainerPort(53, "TCP", "dns-tcp", "dns"))
        return Pod(
            namespace="kube-system",
            name="coredns-0",
            node=NODE,
            zone="a",
            ip=DNS_POD_IP,
            netns=self.pod_netns,
            host_iface="vdns",
            labels={"k8s-app": "kube-dns"},
            containers=(Container("coredns", ports=ports),),
        )

    def write_plan(self, web_ip: str) -> None:
        """One DNS pod on this node; 40 endpoint pods elsewhere behind a headless Service (a 700-byte answer)."""
        big = tuple(
            Pod("shop", f"big-{i}", "n2", "a", f"10.98.2.{i + 1}", self.name(f"shop.big-{i}"), f"vb{i}", {"app": "big"})
            for i in range(40)
        )
        headless = Service("shop", "big", "ClusterIP", None, selector={"app": "big"}, headless=True)
        self.install_plan(
            source="test_dns_responder.py",
            vpc_cidr="10.98.0.0/16",
            namespaces=(Namespace("default"), Namespace("kube-system"), Namespace("shop")),
            pods=(self.dns_pod(), *big),
            services=(_service(web_ip), headless),
        )

    def udp(self, name: str, qtype: str = "A") -> DNSRecord:
        query = DNSRecord.question(name, qtype)
        with netns.socket_in(self.client, socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(query.pack(), (DNS_POD_IP, 53))
            data, peer = sock.recvfrom(65535)
        assert peer == (DNS_POD_IP, 53)
        return _checked(query, data)

    def tcp(self) -> socket.socket:
        sock = netns.socket_in(self.client, socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect((DNS_POD_IP, 53))
        return sock


def _checked(query: DNSRecord, data: bytes) -> DNSRecord:
    reply = DNSRecord.parse(data)
    assert (reply.header.id, reply.questions) == (query.header.id, query.questions)
    return reply


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed mid-message"
        data += chunk
    return data


def tcp_ask(sock: socket.socket, *questions: tuple[str, str]) -> list[DNSRecord]:
    """Send every question at once (pipelined, RFC 7766), then read the answers in order."""
    queries = [DNSRecord.question(name, qtype) for name, qtype in questions]
    sock.sendall(b"".join(len(q.pack()).to_bytes(2, "big") + q.pack() for q in queries))
    replies = []
    for query in queries:
        size = int.from_bytes(_recv_exactly(sock, 2), "big")
        replies.append(_checked(query, _recv_exactly(sock, size)))
    return replies


def addresses(reply: DNSRecord) -> set[str]:
    return {str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Client and DNS pod namespaces joined by a veth; both removed afterwards, whatever happened."""
    lab = Lab(tag=new_tag("dnstest"), state_dir=tmp_path)
    with lab_namespaces(lab.client, [Link(lab.pod_netns, "vdns", CLIENT_IP, DNS_POD_IP)]):
        yield lab


@pytest.fixture
def start_agent(lab: Lab) -> Iterator[StartAgent]:
    """Starts the agent on the lab's plan, checking it serves just the DNS pod; it is stopped (killed if need
    be) afterwards."""
    with agent_starter(lab.state_dir) as start:

        def start_dns() -> tuple[AgentRun, ready.Ready]:
            run, state = start()
            assert (state.pods, state.sockets, state.errors) == (["kube-system/coredns-0"], 2, [])
            return run, state

        yield start_dns


def test_dns_over_udp_and_tcp(lab: Lab, start_agent: StartAgent) -> None:
    lab.write_plan("10.96.0.20")
    start_agent()

    reply = lab.udp(WEB)
    assert (RCODE[reply.header.rcode], reply.header.aa, addresses(reply)) == ("NOERROR", 1, {"10.96.0.20"})
    assert RCODE[lab.udp("nope.shop.svc.cluster.local").header.rcode] == "NXDOMAIN"
    assert RCODE[lab.udp("example.com").header.rcode] == "REFUSED"

    with lab.tcp() as sock:
        srv, ptr, a = tcp_ask(sock, (f"_http._tcp.{WEB}", "SRV"), ("20.0.96.10.in-addr.arpa", "PTR"), (WEB, "A"))
    assert [str(rr.rdata) for rr in srv.rr] == [f"0 100 80 {WEB}."]
    assert [str(rr.rdata) for rr in ptr.rr] == [f"{WEB}."]
    assert addresses(a) == {"10.96.0.20"}


def test_a_truncated_udp_answer_is_whole_over_tcp(
    lab: Lab, start_agent: StartAgent
) -> None:
    lab.write_plan("10.96.0.20")
    start_agent()
    truncated = lab.udp(BIG)
    assert (truncated.header.tc, truncated.rr) == (1, [])
    with lab.tcp() as sock:
        (whole,) = tcp_ask(sock, (BIG, "A"))
    assert (whole.header.tc, addresses(whole)) == (0, {f"10.98.2.{i + 1}" for i in range(40)})


def test_sighup_refreshes_the_zone_of_a_dns_pod_that_keeps_its_sockets(
    lab: Lab, start_agent: StartAgent
) -> None:
    lab.write_plan("10.96.0.20")
    agent, state = start_agent()
    with lab.tcp() as sock:
        (before,) = tcp_ask(sock, (WEB, "A"))
        assert addresses(before) == {"10.96.0.20"}

        lab.write_plan("10.96.0.30")
        agent.proc.send_signal(signal.SIGHUP)
        reloaded = agent.ready_after(lab.state_dir, state.generation)
        assert (reloaded.pods, reloaded.sockets, reloaded.errors) == (state.pods, 2, [])

        (after,) = tcp_ask(sock, (WEB, "A"))  # the same connection: the pod was kept, its answers are new
    assert addresses(after) == {"10.96.0.30"}
    assert addresses(lab.udp(WEB)) == {"10.96.0.30"}
    assert RCODE[lab.udp("20.0.96.10.in-addr.arpa", "PTR").header.rcode] == "REFUSED"  # no longer a cluster address
