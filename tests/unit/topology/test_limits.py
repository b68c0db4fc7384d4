"""Input limits: what would take minutes or gigabytes is refused in milliseconds,
with the limit and the variable that raises it named."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dataplane.errors import InputError, TopologyError
from dataplane.topology import Overrides, plan_from_text, read_topology
from dataplane.topology.limits import MIB, NODE_MEMORY_BYTES, POD_MEMORY_BYTES, Limits
from tests.unit.topology.conftest import deployment, service

DEFAULT_LIMITS = Limits()


def _refusal(text: str, limits: Limits = DEFAULT_LIMITS, overrides: Overrides | None = None) -> str:
    started = time.perf_counter()
    with pytest.raises(TopologyError) as caught:
        plan_from_text(text, "t.yaml", overrides=overrides, limits=limits)
    assert time.perf_counter() - started < 1.0, "a refusal must be quick"
    return str(caught.value)


def test_a_billion_replicas_are_refused_without_making_one(topology: Callable[..., str]) -> None:
    message = _refusal(topology() + deployment("web", 10**9))
    assert "this would make 1,000,000,002 pods; dpctl's limit is 50,000 pods per emulation (DPCTL_LIMIT_PODS)" in message


def test_replicas_beyond_int32_are_what_kubernetes_refuses(topology: Callable[..., str]) -> None:
    message = _refusal(topology() + deployment("web", 2**63))
    assert "spec.replicas: must be at most 2147483647 (a 32-bit integer), got 9223372036854775808" in message


def test_a_live_scale_beyond_the_limit_is_refused_too(topology: Callable[..., str]) -> None:
    message = _refusal(topology() + deployment("web", 1), overrides=Overrides(replicas={"default/web": 60_000}))
    assert "this would make 60,002 pods" in message


def test_free_memory_bounds_the_pods(topology: Callable[..., str]) -> None:
    limits = Limits(memory_bytes=2 * NODE_MEMORY_BYTES + 100 * POD_MEMORY_BYTES)
    message = _refusal(topology() + deployment("web", 200), limits)
    assert (
        "this would make 202 pods; this machine's free memory (228 MiB), after 2 nodes at 64 MiB each, "
        "holds about 100 pods at 1 MiB each (see 'dpctl doctor')"
    ) in message
    assert plan_from_text(topology() + deployment("web", 50), "t.yaml", limits=limits)


def test_nodes_are_bounded_before_placement(topology: Callable[..., str]) -> None:
    many = "".join(f"    - {{name: n{i}, subnet: private-a}}\n" for i in range(600))
    message = _refusal(topology(nodes=many))
    assert "this would make 600 nodes; dpctl's limit is 500 nodes per emulation (DPCTL_LIMIT_NODES)" in message
    limits = Limits(memory_bytes=10 * NODE_MEMORY_BYTES)
    assert "holds about 10 at 64 MiB each" in _refusal(topology(nodes=many[:400]), limits)


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (2 * MIB))
    with pytest.raises(TopologyError, match="larger than 1,048,576 bytes, dpctl's limit .*DPCTL_LIMIT_FILE_BYTES"):
        read_topology(path, Limits(file_bytes=MIB))
    with pytest.raises(TopologyError, match="larger than"):
        plan_from_text("#" * (MIB + 1), "t.yaml", limits=Limits(file_bytes=MIB))


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPCTL_LIMIT_PODS", "7")
    monkeypatch.setenv("DPCTL_LIMIT_FILE_BYTES", "")
    assert Limits.from_environment().pods == 7
    assert Limits.from_environment().file_bytes == Limits().file_bytes
    for bad in ("-1", "0", "lots", "1e9", "٣"):
        monkeypatch.setenv("DPCTL_LIMIT_PODS", bad)
        with pytest.raises(InputError, match="DPCTL_LIMIT_PODS"):
            Limits.from_environment()


def test_eighty_thousand_services_in_a_slash_16_are_refused_quickly(topology: Callable[..., str]) -> None:
    """Allocation once scanned the whole range for every Service after it was full."""
    from dataplane.topology import vips
    from dataplane.topology.model import TopologySpec

    text = topology(extra="  serviceCIDR: 10.96.0.0/20\n") + "".join(service(f"s{i}") for i in range(4200))
    started = time.perf_counter()
    with pytest.raises(TopologyError) as caught:
        plan_from_text(text, "t.yaml")
    assert time.perf_counter() - started < 10  # parsing 4,200 documents; the allocation itself is linear
    assert "the serviceCIDR 10.96.0.0/20 is exhausted" in str(caught.value)
    assert "... and" in str(caught.value)  # thousands of problems are summarised, not printed
    assert vips and TopologySpec  # the modules under test


def test_sixty_thousand_subnets_are_checked_for_overlaps_in_linear_time() -> None:
    from ipaddress import IPv4Network

    from dataplane.topology.validate import _overlaps

    networks: list[IPv4Network | None] = [IPv4Network((0x0A000000 + i * 256, 24)) for i in range(60_000)]
    networks += [IPv4Network("10.0.0.0/8"), IPv4Network("10.0.1.0/24"), None]
    started = time.perf_counter()
    found = _overlaps(networks)
    assert time.perf_counter() - started < 2.0
    assert found[60_001] == [1, 60_000]  # the duplicate of subnet 1, and the /8 holding it
    assert len(found[60_000]) == 60_000  # the /8 overlaps every /24 before it
    assert 5 not in found  # a /24 overlaps no earlier /24
