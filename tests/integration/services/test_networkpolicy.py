"""Kubernetes NetworkPolicy on real packets: default deny with the DNS exception, pod and
namespace selectors, named ports and port ranges, enforced at each pod's veth after
kube-proxy's DNAT; removing the policies lifts it live."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.kernel import nft
from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from dataplane.verify.checks.connectivity import plan_probes
from dataplane.verify.probes import TIMEOUT
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[tuple[Emulation, Path]]:
    directory = tmp_path_factory.mktemp("netpol")
    emulation = module_topology(str(write_topology(directory, "netpol.yaml", "netpol", CNI="vpc")))
    yield emulation, directory


def _reaches(emu: Emulation, source: str, url: str) -> bool:
    """Whether ``source`` gets an HTTP answer from ``url`` within 2 s (a dropped SYN times out)."""
    result = emu.exec(source, "curl", "-sS", "-o", "/dev/null", "--max-time", "2", url, check=False, timeout=10)
    return result.returncode == 0


def _web(emu: Emulation) -> str:
    return next(p.ip for p in emu.plan.pods if p.namespace == "shop" and p.name.startswith("web-"))


def test_the_allowed_client_reaches_web_by_name_through_the_dns_exception(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    assert _reaches(emu, "shop/client", "http://web.shop.svc.cluster.local/")  # DNS to kube-dns, then 8080
    assert _reaches(emu, "shop/client", f"http://{_web(emu)}:8080/")


def test_default_deny_drops_what_no_policy_allows(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    web = _web(emu)
    assert not _reaches(emu, "shop/other", f"http://{web}:8080/")  # other's egress: DNS only
    assert not _reaches(emu, "shop/client", f"http://{web}:7000/")  # outside client-egress's 8000-8080
    client = emu.pod("shop/client").ip
    assert not _reaches(emu, "ops/tool", f"http://{client}:8080/")  # client's ingress: default deny


def test_a_namespace_selector_admits_the_other_namespace(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    assert _reaches(emu, "ops/tool", f"http://{_web(emu)}:8080/")


def test_drops_are_counted_in_the_pods_chain(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    other = emu.pod("shop/other")
    _reaches(emu, "shop/other", f"http://{_web(emu)}:8080/")
    node = emu.plan.node(other.node)
    text = nft.ruleset(node.netns)
    chain = text[text.index(f"chain egress-{other.host_iface}"):]
    chain = chain[: chain.index("\n\t}")]
    assert "default deny egress from shop/other" in chain and "packets 0 " not in chain


def test_removing_the_policies_lifts_them_live(live: tuple[Emulation, Path]) -> None:
    emu, directory = live
    path = write_topology(directory, "netpol.yaml", emu.name, CNI="vpc")
    text = path.read_text()
    path.write_text(text[: text.index("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy")])
    try:
        dpctl("apply", str(path), check=True)
        assert _reaches(emu, "shop/other", f"http://{_web(emu)}:8080/")
    finally:
        path.write_text(text)
        dpctl("apply", str(path), check=True)
    assert not _reaches(emu, "shop/other", f"http://{_web(emu)}:8080/")


def test_the_host_gets_no_policy_table() -> None:
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    assert "dpctl-netpol" not in tables


def test_trace_names_the_default_deny_and_verify_expects_the_drops(live: tuple[Emulation, Path]) -> None:
    emu, _ = live
    out = dpctl("trace", "-t", emu.name, "shop/other", f"{_web(emu)}:8080").stdout
    assert "verdict: dropped at node" in out and "(default deny egress from shop/other)" in out
    expected = {(p.source, p.destination): p.expected for p in plan_probes(emu.plan)}
    web0 = next(p for p in emu.plan.pods if p.namespace == "shop" and p.name.startswith("web-"))
    drop = next(e for (src, dst), e in expected.items() if src == "shop/other" and dst == f"pod {web0.key}:8080")
    assert drop.outcomes == {TIMEOUT} and "default deny egress from shop/other" in drop.why
    emu.assert_verified("connectivity")  # every probe met its expectation, the drops included
