"""RtnlBatch on a real namespace: what it queues is what the kernel holds, and a refusal names its request.

The fabric sends a pod's plain requests through it (one send, every ack
read), so it must match NamespaceConfig's meaning exactly: addresses and
routes refuse duplicates, ARP entries replace, removing a missing entry is
no error.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from dataplane.kernel import netns
from dataplane.kernel.links import NamespaceConfig
from dataplane.kernel.rtnlbatch import RtnlBatch

pytestmark = [pytest.mark.dpctl_root]


def _ip(name: str, *argv: str) -> str:
    return subprocess.run(["ip", "-n", name, "-4", *argv], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def pair() -> Iterator[tuple[str, str]]:
    """Two fresh namespaces joined by a veth (``v0`` here, ``eth0`` there), removed afterwards."""
    prefix = f"dp-rtnltest{secrets.token_hex(3)}"
    a, b = f"{prefix}.a", f"{prefix}.b"
    for name in (a, b):
        netns.create(name)
    try:
        with NamespaceConfig(a) as cfg:
            cfg.veth("v0", "eth0", b)
        yield a, b
    finally:
        for name in (a, b):
            netns.delete(name)
        assert not netns.list_names(prefix)


def test_a_batch_configures_a_pod_as_its_requests_say(pair: tuple[str, str]) -> None:
    a, b = pair
    with RtnlBatch(b) as batch:
        batch.up("lo")
        batch.address("eth0", "10.9.0.2/32")
        batch.up("eth0")
        batch.neighbour("169.254.1.1", "ee:ee:ee:ee:ee:ee", "eth0")
        batch.route("default", via="169.254.1.1", dev="eth0", onlink=True)
    with RtnlBatch(a) as batch:
        batch.up("v0")
        batch.route("10.9.0.2/32", dev="v0", scope_link=True)
    assert "inet 10.9.0.2/32" in _ip(b, "addr", "show", "eth0") and "UP" in _ip(b, "link", "show", "eth0")
    assert _ip(b, "route").strip() == "default via 169.254.1.1 dev eth0 onlink"
    assert "lladdr ee:ee:ee:ee:ee:ee PERMANENT" in _ip(b, "neigh", "show", "169.254.1.1")
    assert _ip(a, "route").strip() == "10.9.0.2 dev v0 scope link"


def test_replacing_and_forgetting_arp_entries_is_idempotent(pair: tuple[str, str]) -> None:
    a, _ = pair
    for mac in ("02:00:00:00:00:01", "02:00:00:00:00:02"):
        with RtnlBatch(a) as batch:
            batch.neighbour("10.9.0.7", mac, "v0")
    assert "lladdr 02:00:00:00:00:02 PERMANENT" in _ip(a, "neigh", "show", "10.9.0.7")
    for _ in range(2):
        with RtnlBatch(a) as batch:
            batch.forget_neighbour("10.9.0.7", "v0")
            batch.forget_neighbour("10.9.0.8", "no-such-link")
    assert _ip(a, "neigh", "show", "10.9.0.7").strip() == ""


def test_a_refusal_names_the_request_and_the_rest_still_runs(pair: tuple[str, str]) -> None:
    a, _ = pair
    with pytest.raises(NetlinkError) as raised:
        with RtnlBatch(a) as batch:
            batch.up("v0")
            batch.address("v0", "10.9.0.1/24")
            batch.address("v0", "10.9.0.1/24")  # a duplicate: EEXIST, as NamespaceConfig's
            batch.route("10.8.0.0/16", dev="v0", scope_link=True)
    assert "add 10.9.0.1/24 to v0" in str(raised.value) and "EEXIST" in str(raised.value)
    assert "10.8.0.0/16 dev v0" in _ip(a, "route")
    with pytest.raises(LookupError), RtnlBatch(a) as batch:
        batch.index("nope")


def test_more_requests_than_one_send_carries(pair: tuple[str, str]) -> None:
    a, _ = pair
    with RtnlBatch(a) as batch:
        for i in range(1, 301):
            batch.neighbour(f"10.9.{i // 250}.{i % 250 + 1}", "02:00:00:00:00:09", "v0")
    assert _ip(a, "neigh", "show", "dev", "v0").count("PERMANENT") == 300
