"""Comparing expected hops with the sightings of one packet."""

from __future__ import annotations

from dataclasses import replace

from dataplane.verify import hops as H
from dataplane.verify.compare import best, compare
from dataplane.verify.wire import Sighting

from .plans import plan

P = plan("services.yaml")
CLIENT, SOLO, WEB0 = P.pod("shop", "client"), P.pod("shop", "solo"), P.pod("shop", "web-0")
NAMES = {P.router_netns: "router", **{n.netns: f"node {n.name}" for n in P.nodes},
         **{p.netns: f"pod {p.key}" for p in P.pods}}


def seen_as(hops: list[H.Hop]) -> list[Sighting]:
    """What a capture shows when the packet takes exactly ``hops``."""
    return [
        Sighting(h.netns, h.iface, h.direction, float(i), min(h.addresses.src), 25000, h.addresses.dst,
                 h.addresses.dport, 0x02, 1234, 0, h.vxlan)
        for i, h in enumerate(hops)
    ]


def test_the_expected_path_matches() -> None:
    hops = H.pod_to_pod(P, CLIENT, SOLO, 8080)
    assert compare(hops, seen_as(hops), NAMES).ok


def test_a_detour_names_expected_and_seen_hop() -> None:
    hops = H.pod_to_pod(P, CLIENT, SOLO, 8080)
    seen = seen_as(hops)
    detour = seen[:4] + [replace(seen[4], iface="n-a2", direction="out")] + seen[4:]
    verdict = compare(hops, detour, NAMES)
    assert not verdict.ok and verdict.matched == 4
    assert verdict.reason == (
        f"hop 5: expected router br-sub-a in ({CLIENT.ip} -> {SOLO.ip}:8080), "
        f"seen router n-a2 out ({CLIENT.ip}:25000 -> {SOLO.ip}:8080)"
    )


def test_a_missing_and_an_extra_hop_are_named() -> None:
    hops = H.pod_to_pod(P, CLIENT, SOLO, 8080)
    seen = seen_as(hops)
    short = compare(hops, seen[:-1], NAMES)
    assert short.reason.startswith("hop 10 missing: expected pod shop/solo eth0 in")
    assert "last seen at node b1 " in short.reason
    assert compare(hops, [], NAMES).reason.endswith("never seen anywhere")
    extra = compare(hops, seen + [replace(seen[0], netns=P.node("a2").netns, iface="eth0", direction="in")], NAMES)
    assert extra.reason.startswith("hop 11 unexpected: seen node a2 eth0 in")


def test_wrong_addresses_at_a_hop_are_named() -> None:
    svc = next(s for s in P.services if s.name == "solo-local")
    assert svc.cluster_ip
    hops = H.pod_to_service(P, CLIENT, svc.cluster_ip, 80, SOLO, 8080)
    seen = seen_as(hops)
    # no DNAT on the source node: the VIP travels on
    undone = seen[:2] + [replace(s, dst=svc.cluster_ip, dport=80) for s in seen[2:]]
    verdict = compare(hops, undone, NAMES)
    expected = f"node a1 eth0 out ({CLIENT.ip} -> {SOLO.ip}:8080)"
    assert verdict.reason.startswith(f"hop 3 at node a1 eth0 out: expected {expected}")
    assert f"-> {svc.cluster_ip}:80)" in verdict.reason
    # VXLAN where the plan has none
    assert "in VXLAN" in compare(hops, seen[:3] + [replace(seen[3], vxlan=True)] + seen[4:], NAMES).reason


def test_best_passes_on_any_alternative_and_reports_the_closest() -> None:
    to_solo, to_web = H.pod_to_pod(P, CLIENT, SOLO, 8080), H.pod_to_pod(P, CLIENT, WEB0, 8080)
    assert best([to_web, to_solo], seen_as(to_solo), NAMES).ok
    seen = seen_as(to_solo)[:6]
    verdict = best([to_web, to_solo], seen, NAMES)
    assert not verdict.ok and verdict.reason.startswith("hop 7 missing: expected router n-b1 out")
