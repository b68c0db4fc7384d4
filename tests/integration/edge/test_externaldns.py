"""ExternalDNS and Route 53 from the outside client (``aws-edge.md`` §3, T29, T30):
real DNS queries to the resolver the client's resolv.conf names, curl by
name with no --resolve, ``dpctl get dns``, and a live change under ``sync``.

The ALBs are fixed while an emulation runs (``apply`` cannot remove one), so
the change renames the Ingress's host and deletes the LoadBalancer Service:
both objects' old records must go, and the other owner's must stay.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import dnslib
import pytest

from dataplane.kernel import netns
from dataplane.lb import acm
from dataplane.route53.answer import OUTSIDE_RESOLVER
from dataplane.state.store import StateDir
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

OWNED = "heritage=external-dns,external-dns/owner=c1,external-dns/resource=ingress/shop/shop"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[tuple[Emulation, Path]]:
    directory = tmp_path_factory.mktemp("externaldns")
    emulation = module_topology(str(write_topology(directory, "externaldns.yaml", "edns", CNI="vpc")))
    yield emulation, write_topology(directory, "externaldns.yaml", emulation.name, CNI="vpc")  # for apply


def _query(emu: Emulation, name: str, kind: str) -> dnslib.DNSRecord:
    """One UDP query from inside the outside client's namespace to its resolver."""
    sock = netns.socket_in(emu.netns("external"), socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(3)
        sock.sendto(bytes(dnslib.DNSRecord.question(name, kind).pack()), (OUTSIDE_RESOLVER, 53))
        return dnslib.DNSRecord.parse(sock.recv(4096))


def _answers(reply: dnslib.DNSRecord) -> set[str]:
    return {str(rr.rdata).strip('"') for rr in reply.rr}


def _public_ips(emu: Emulation) -> set[str]:
    [lb] = emu.plan.load_balancers
    return {n.public_ip for n in lb.nodes if n.public_ip}


def test_t29_alias_answers_the_alb_addresses_and_txt_names_the_owner(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    assert _answers(_query(emu, "shop.example.com", "A")) == _public_ips(emu)
    assert _answers(_query(emu, "a-shop.example.com", "TXT")) == {OWNED}
    assert _answers(_query(emu, "aaaa-shop.example.com", "TXT")) == {OWNED}
    aaaa = _query(emu, "shop.example.com", "AAAA")  # the ALB is IPv4-only: NODATA
    assert aaaa.header.rcode == dnslib.RCODE.NOERROR and not aaaa.rr
    assert _query(emu, "nothing.example.com", "A").header.rcode == dnslib.RCODE.NXDOMAIN
    assert _query(emu, "example.org", "A").header.rcode == dnslib.RCODE.REFUSED
    [service] = [s for s in emu.plan.services if s.key == "shop/api"]
    assert _answers(_query(emu, "api.example.com", "A")) == set(service.load_balancer_ips)


def test_t30_the_other_owners_record_is_left_alone(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    assert _answers(_query(emu, "legacy.example.com", "A")) == {"198.51.100.50"}


def test_curl_by_name_with_no_resolve(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    plain = dpctl("exec", "-t", emu.name, "external", "--", "curl", "-sS", "-m", "5", "http://shop.example.com/x",
                  check=True)
    assert json.loads(plain.stdout)["host"] == "shop.example.com"
    # The outside client trusts the emulation's public root as a browser trusts
    # Amazon's: no --cacert, and its bundle still holds the host's roots.
    secure = dpctl("exec", "-t", emu.name, "external", "--", "curl", "-sS", "-m", "5",
                   "https://shop.example.com/y", check=True)
    assert json.loads(secure.stdout)["path"] == "/y"
    root = acm.root_path(Path(StateDir(emu.name).path)).read_text()
    bundle = Path(f"/etc/netns/{emu.plan.external.client_netns}/ssl/certs/ca-certificates.crt").read_text()
    assert root.strip() in bundle
    host = Path("/etc/ssl/certs/ca-certificates.crt")
    if host.exists():  # the host's roots are kept in the client's bundle, and the host's file is untouched
        assert bundle.count("BEGIN CERTIFICATE") == host.read_text().count("BEGIN CERTIFICATE") + 1
        assert root.strip() not in host.read_text()
    vip = dpctl("exec", "-t", emu.name, "external", "--", "curl", "-sS", "-m", "5", "http://api.example.com/",
                check=True)
    assert json.loads(vip.stdout)["namespace"] == "shop"


def test_get_dns_lists_the_records(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    records = json.loads(dpctl("get", "dns", "-t", emu.name, "-o", "json", check=True).stdout)
    public = {(r["name"], r["type"]): r for r in records if not r["private"]}
    alias = public[("shop.example.com", "A")]["aliasTarget"]
    assert alias == {"dnsName": emu.plan.load_balancers[0].dns_name, "evaluateTargetHealth": True}
    assert public[("a-shop.example.com", "TXT")]["values"] == [f'"{OWNED}"']
    assert ("example.com", "SOA") in public and ("example.com", "NS") in public
    table = dpctl("get", "dns", "-t", emu.name, check=True).stdout
    assert "ALIAS " + emu.plan.load_balancers[0].dns_name in table


def _report(sock: socket.socket) -> dict[str, object]:
    connection = http.client.HTTPConnection("shop.example.com")
    connection.sock = sock
    connection.request("GET", "/who", headers={"Host": "shop.example.com"})
    body: dict[str, object] = json.loads(connection.getresponse().read())
    return body


def _get(sock: socket.socket) -> int:
    connection = http.client.HTTPConnection("shop.example.com")
    connection.sock = sock
    connection.request("GET", "/flow", headers={"Host": "shop.example.com"})
    response = connection.getresponse()
    response.read()
    return response.status


def test_t27_a_zonal_shift_takes_the_zone_out_of_dns_and_keeps_open_flows(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    [lb] = emu.plan.load_balancers
    by_zone = {n.zone: n.public_ip for n in lb.nodes}
    too_long = dpctl("zonal-shift", "start", "-t", emu.name, "--zone", "a", "--expires", "73h")
    assert too_long.returncode != 0 and "72 hours" in too_long.stderr
    flow = netns.socket_in(emu.netns("external"), socket.AF_INET, socket.SOCK_STREAM)
    with flow:
        flow.settimeout(5)
        flow.connect((by_zone["a"], 80))
        assert _get(flow) == 200
        dpctl("zonal-shift", "start", "-t", emu.name, "--zone", "a", "--expires", "2h", check=True)
        try:
            assert _answers(_query(emu, "shop.example.com", "A")) == {by_zone["b"]}  # at once
            assert _get(flow) == 200  # the flow opened through zone a carries on
            zones = {p.name: p.zone for p in emu.plan.pods}
            answered = set()
            for _ in range(6):  # new requests avoid the shifted zone's targets too
                with netns.socket_in(emu.netns("external"), socket.AF_INET, socket.SOCK_STREAM) as fresh:
                    fresh.settimeout(5)
                    fresh.connect((by_zone["b"], 80))
                    answered.add(zones[_report(fresh)["pod"]])
            assert answered == {"b"}
            listing = dpctl("zonal-shift", "list", "-t", emu.name, check=True).stdout
            assert any(line.split()[:2] == [lb.name, "a"] for line in listing.splitlines())
        finally:
            dpctl("zonal-shift", "cancel", "-t", emu.name, check=True)
    assert _answers(_query(emu, "shop.example.com", "A")) == _public_ips(emu)


def test_verify_edge_resolves_every_name_to_its_load_balancer(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    report = emu.assert_verified("edge")
    [shop] = [r for r in report.results if r.subject.startswith("dns shop.example.com A (ALIAS")]
    assert set(shop.evidence.split(", ")) == _public_ips(emu)


def test_trace_a_url_from_the_outside_client(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    out = dpctl("trace", "-t", emu.name, "external", "https://shop.example.com/y", check=True).stdout
    [lb] = emu.plan.load_balancers
    assert f"verdict: delivered to alb {lb.name} zone a" in out
    assert "DNS shop.example.com: " in out and f"ALIAS {lb.dns_name}" in out
    assert "TLS: SNI shop.example.com -> certificate" in out and "rule: shop/shop rule[0]" in out
    assert "targets, round robin over the healthy ones: shop/web-" in out
    missing = dpctl("trace", "-t", emu.name, "external", "https://nothing.example.com/")
    assert missing.returncode != 0 and "NXDOMAIN" in missing.stderr


def test_pods_resolve_the_private_zone_through_the_cluster_dns(live: tuple[Emulation, Path]) -> None:
    """CoreDNS forwards what is not the cluster's to the VPC resolver, which answers
    from the private zone: ExternalDNS's ALIAS there too, and split horizon -- in
    the private zone ExternalDNS owns legacy.example.com (no other owner there),
    while the outside client still gets the other owner's public record."""
    emu, _ = live
    pod = next(p for p in emu.plan.pods if p.namespace == "shop")
    sock = netns.socket_in(pod.netns, socket.AF_INET, socket.SOCK_DGRAM)

    def ask(name: str) -> dnslib.DNSRecord:
        sock.sendto(bytes(dnslib.DNSRecord.question(name, "A").pack()), (emu.plan.dns_ip, 53))
        return dnslib.DNSRecord.parse(sock.recv(4096))

    with sock:
        sock.settimeout(3)
        assert _answers(ask("shop.example.com")) == _public_ips(emu)
        assert _answers(ask("legacy.example.com")) == _public_ips(emu)
        assert _answers(_query(emu, "legacy.example.com", "A")) == {"198.51.100.50"}
        assert ask(f"web.shop.svc.{emu.plan.cluster_domain}").header.rcode == dnslib.RCODE.NOERROR


def test_sync_deletes_the_records_of_what_is_gone(live: tuple[Emulation, Path]) -> None:
    """Runs last: the Ingress's host becomes store.example.com and Service shop/api goes."""
    emu, path = live
    text = path.read_text().replace("host: shop.example.com", "host: store.example.com")
    documents = [d for d in text.split("\n---\n") if "name: api\n" not in d]
    path.write_text("\n---\n".join(documents))
    dpctl("apply", str(path), check=True)
    assert _query(emu, "shop.example.com", "A").header.rcode == dnslib.RCODE.NXDOMAIN
    assert _query(emu, "a-shop.example.com", "TXT").header.rcode == dnslib.RCODE.NXDOMAIN
    assert _query(emu, "api.example.com", "A").header.rcode == dnslib.RCODE.NXDOMAIN
    assert _answers(_query(emu, "store.example.com", "A")) == _public_ips(emu)
    assert _answers(_query(emu, "legacy.example.com", "A")) == {"198.51.100.50"}
