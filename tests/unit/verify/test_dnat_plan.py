"""The dnat check's expectations and its judgement of what was seen."""

from __future__ import annotations

from dataclasses import replace

from dataplane.verify.checks.dnat import ANSWER, DROPPED, REFUSED, Seen, judge, plan_probes
from dataplane.verify.wire import Sighting

from .plans import plan

P = plan("services.yaml", "overlay")
PROBES = {p.subject: p for p in plan_probes(P)}
CLIENT = P.pod("shop", "client")
A1 = P.node("a1")


def svc(name: str):  # type: ignore[no-untyped-def]
    return next(s for s in P.services if s.name == name)


def probe(prefix: str):  # type: ignore[no-untyped-def]
    return next(p for s, p in PROBES.items() if s.startswith(prefix))


def test_every_tcp_service_port_is_probed_from_a_pod_a_node_and_outside() -> None:
    web = svc("web")
    pod = PROBES[f"shop/client -> svc shop/web:80 ({web.cluster_ip}:80)"]
    node = PROBES[f"node a1 -> svc shop/web:80 ({web.cluster_ip}:80)"]
    assert pod.outcomes == node.outcomes == {ANSWER}
    assert {t.pod for t in pod.targets} == {"shop/web-0", "shop/web-1", "shop/web-2"}
    assert all(t.sources == {CLIENT.ip} for t in pod.targets)  # kept
    assert all(t.sources == {A1.ip, A1.vtep_ip} for t in node.targets)  # masqueraded
    assert node.tap is None and pod.tap is not None and pod.tap.iface == CLIENT.host_iface
    assert not any(":9000" in s for s in PROBES)  # UDP ports are not crafted
    assert len([s for s in PROBES if s.startswith("external -> nodeport shop/web-np")]) == 3
    assert any(s.startswith("external -> lb shop/web-lb") for s in PROBES)


def test_expectations_follow_kube_proxy() -> None:
    assert probe("shop/client -> svc shop/empty:80").outcomes == {REFUSED}
    assert probe("shop/client -> svc shop/solo-itp:80").outcomes == {DROPPED}  # iTP Local, nothing on a1
    assert probe("external -> nodeport shop/solo-local a1:").outcomes == {DROPPED}  # eTP Local
    local = probe("external -> nodeport shop/solo-local b1:")
    assert local.outcomes == {ANSWER} and local.targets[0].sources == {P.external.client_ip}  # type: ignore[union-attr]
    cluster = probe("external -> nodeport shop/web-np a2:")
    a2 = P.node("a2")
    assert all(t.sources == {a2.ip, a2.vtep_ip} for t in cluster.targets)


def _answered(subject_prefix: str):  # type: ignore[no-untyped-def]
    p = probe(subject_prefix)
    t = p.targets[0]
    src = min(t.sources)
    left = Sighting(p.tap.netns, p.tap.iface, p.tap.leaving, 1.0, p.client_ip, 25000, p.ip, p.port, 0x02, 7, 0)
    at = Sighting(t.netns, t.iface, "out", 1.1, src, 25000, t.ip, t.port, 0x02, 7, 0)
    back = Sighting(p.tap.netns, p.tap.iface, p.tap.returning, 1.2, p.ip, p.port, p.client_ip, 25000, 0x12, 99, 8)
    return p, t, left, at, back


def test_judge_passes_a_rewrite_seen_all_the_way() -> None:
    p, t, left, at, back = _answered("shop/client -> svc shop/web:80")
    assert judge(p, Seen((left,), ((t.pod, at),), (back,)), 0.1).ok


def test_judge_names_the_service_and_what_differed() -> None:
    p, t, left, at, back = _answered("shop/client -> svc shop/web:80")
    nothing = judge(p, Seen((left,), (), ()), 0.1)
    assert not nothing.ok and nothing.reason.startswith("shop/web:80: SYN to ")
    assert "reached no endpoint" in nothing.reason and "no SYN-ACK back" in nothing.reason
    masq = judge(p, Seen((left,), ((t.pod, replace(at, src=A1.ip)),), (back,)), 0.1)
    assert f"from {A1.ip}, expected the kept client address ({CLIENT.ip})" in masq.reason
    undnat = judge(p, Seen((left,), ((t.pod, at),), (replace(back, src=t.ip, sport=t.port),)), 0.1)
    assert "reply not un-DNATed" in undnat.reason
    wrong = judge(p, Seen((left,), (("shop/solo", at),), (back,)), 0.1)
    assert "reached shop/solo, not an endpoint kube-proxy may choose here" in wrong.reason


def test_judge_refused_and_dropped() -> None:
    refused = probe("shop/client -> svc shop/empty:80")
    icmp = Sighting(refused.tap.netns, refused.tap.iface, "out", 1.0, refused.client_ip, 25000, refused.ip, 80, 2, 7, 0,
                    icmp=3)
    assert judge(refused, Seen((), (), (icmp,)), 0.1).ok
    assert "no RST or ICMP error" in judge(refused, Seen((), (), ()), 0.1).reason
    dropped = probe("shop/client -> svc shop/solo-itp:80")
    assert judge(dropped, Seen((), (), ()), 0.1).ok
    solo = P.pod("shop", "solo")
    leak = Sighting(P.node("b1").netns, solo.host_iface, "out", 1.0, CLIENT.ip, 1, solo.ip, 8080, 2, 7, 0)
    assert "SYN reached shop/solo" in judge(dropped, Seen((), (("shop/solo", leak),), ()), 0.1).reason
