"""Properties of the node ruleset that the golden files do not show on their own."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from dataplane.kubeproxy.detector import from_pod, not_from_pod
from dataplane.kubeproxy.nftext import NamedSet
from dataplane.kubeproxy.render import detector_for, render_node

from .plans import plan, pod, service, web_pods

VPC = ("ifname", "pv")


def test_detector_follows_the_cni() -> None:
    assert detector_for(plan((), ())) == ("ifname", "pv")
    assert detector_for(plan((), (), cni="overlay")) == ("cidr", "10.244.0.0/16")
    with pytest.raises(ValueError):
        detector_for(replace(plan((), (), cni="overlay"), pod_cidr=None))


def test_detector_matches() -> None:
    assert (from_pod(VPC), not_from_pod(VPC)) == ('iifname "pv*"', 'iifname != "pv*"')
    cidr = ("cidr", "10.244.0.0/16")
    assert (from_pod(cidr), not_from_pod(cidr)) == ("ip saddr 10.244.0.0/16", "ip saddr != 10.244.0.0/16")
    with pytest.raises(ValueError):
        from_pod(("mac", "x"))


def test_replaces_only_its_own_table() -> None:
    text = render_node(plan(web_pods(), (service("web", "10.96.0.20"),)), "node-a", detect_local=VPC)
    commands = [line for line in text.splitlines() if not line.startswith(("\t", "}")) and line]
    assert commands == ["table ip kube-proxy { }", "delete table ip kube-proxy", "table ip kube-proxy {"]


def test_independent_of_service_order() -> None:
    services = (service("b", "10.96.0.21"), service("a", "10.96.0.20"))
    first = render_node(plan(web_pods(), services), "node-a", detect_local=VPC)
    assert first == render_node(plan(web_pods(), services[::-1]), "node-a", detect_local=VPC)


def test_nodeports_listen_on_the_nodes_own_address() -> None:
    p = plan(web_pods(), ())
    assert "\t\t\t192.168.2.4,\n" in render_node(p, "node-b", detect_local=VPC)
    assert "192.168.1.4" not in render_node(p, "node-b", detect_local=VPC)


def test_a_shared_external_ip_goes_to_the_first_service() -> None:
    """Kubernetes lets two Services claim one externalIP and port; nft refuses duplicate keys."""
    services = (
        service("a", "10.96.0.20", external_ips=("198.51.100.9",)),
        service("b", "10.96.0.21", external_ips=("198.51.100.9",)),
    )
    text = render_node(plan(web_pods(), services), "node-a", detect_local=VPC)
    assert text.count("198.51.100.9 . tcp . 80 comment") == 1
    assert '198.51.100.9 . tcp . 80 comment "shop/a:http"' in text


def test_hairpin_and_dnat_per_endpoint() -> None:
    text = render_node(
        plan((pod("web-0", "192.168.1.10", "node-a"),), (service("web", "10.96.0.20"),)), "node-b", detect_local=VPC
    )
    assert (
        "\t\tip saddr 192.168.1.10 jump mark-for-masquerade\n\t\tmeta l4proto tcp dnat to 192.168.1.10:8080\n" in text
    )


def test_comments_cannot_break_out_of_quotes() -> None:
    with pytest.raises(ValueError):
        NamedSet("set", "s", "ipv4_addr").add("10.0.0.1", comment='a"b')


def test_thousand_services_of_ten_endpoints_render_fast() -> None:
    """The issue's sync budget is 1 s per node for 1,000 services; rendering must be a small part of it."""
    pods, services = [], []
    for s in range(1000):
        for e in range(10):
            i = s * 10 + e
            pods.append(pod(f"p{s}-{e}", f"10.1.{i >> 8}.{i & 255}", ("node-a", "node-b")[e % 2], app=f"a{s}"))
        services.append(service(f"s{s}", f"10.96.{s >> 8}.{s & 255}", app=f"a{s}"))
    big = plan(tuple(pods), tuple(services))
    start = time.perf_counter()
    text = render_node(big, "node-a", detect_local=VPC)
    elapsed = time.perf_counter() - start
    assert text.count("dnat to") == 10_000
    assert elapsed < 2.0, f"{elapsed:.2f} s"
