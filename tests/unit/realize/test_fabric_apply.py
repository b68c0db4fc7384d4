"""How ``fabric.apply`` hands requests to the kernel layer (no root).

The kernel modules are replaced by recorders; each recorded call is checked
to bind to the real ``NamespaceConfig`` method's signature, so a renamed or
mistyped argument fails here rather than on a machine with root.
"""

from __future__ import annotations

import inspect
from typing import Any, Self

import pytest

from dataplane.kernel.links import NamespaceConfig
from dataplane.kernel.rtnlbatch import RtnlBatch
from dataplane.realize import fabric
from dataplane.realize.wiring import (
    Address,
    Bridge,
    Configure,
    CreateNamespace,
    Fdb,
    Neighbour,
    PolicyRule,
    Route,
    Ruleset,
    SetMaster,
    Sysctl,
    Up,
    Veth,
    Vxlan,
)

Call = tuple[Any, ...]


class Recorder:
    """Stands in for ``netns``, ``nft`` and ``NamespaceConfig`` at once."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def create(self, name: str) -> None:
        self.calls.append(("netns.create", name))

    def apply(self, name: str, ruleset: str) -> None:
        self.calls.append(("nft.apply", name, ruleset))

    def config(self, name: str) -> Session:
        return Session(self, name, NamespaceConfig, "open")

    def batch(self, name: str) -> Session:
        return Session(self, name, RtnlBatch, "batch")


class Session:
    def __init__(self, recorder: Recorder, netns: str, real: type, opening: str):
        self._recorder, self._netns, self._real, self._opening = recorder, netns, real, opening

    def __enter__(self) -> Self:
        self._recorder.calls.append((self._opening, self._netns))
        return self

    def __exit__(self, *exc: object) -> None:
        self._recorder.calls.append(("close", self._netns))

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            inspect.signature(getattr(self._real, method)).bind(None, *args, **kwargs)
            self._recorder.calls.append((method, *args, kwargs))

        return call


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(fabric, "netns", recorder)
    monkeypatch.setattr(fabric, "nft", recorder)
    monkeypatch.setattr(fabric, "NamespaceConfig", recorder.config)
    monkeypatch.setattr(fabric, "RtnlBatch", recorder.batch)
    return recorder


def test_every_kind_of_request_becomes_its_kernel_call_in_order(kernel: Recorder) -> None:
    fabric.apply(
        [
            CreateNamespace("dp-t.a1"),
            Ruleset("dp-t.a1", "table ip x {}\n"),
            Configure(
                "dp-t.a1",
                (
                    Sysctl("net.ipv4.ip_forward", 1),
                    Bridge("br0"),
                    Veth("pv1", "eth0", "dp-t.ns.p", mtu=1450, mac="ee:ee:ee:ee:ee:ee"),
                    SetMaster("pv1", "br0"),
                    Up("pv1"),
                    Address("pv1", "10.0.0.1/24"),
                    Route("10.0.0.2/32", dev="pv1", scope_link=True),
                    Route("default", kind="blackhole", table=250),
                    PolicyRule(120, 250, iif="br0"),
                    PolicyRule(110, 254, suppress_prefixlength=0),
                    Neighbour("169.254.1.1", "ee:ee:ee:ee:ee:ee", "eth0"),
                    Vxlan(
                        "vxlan0", vni=1, local="192.168.10.4", dev="eth0", port=4789, mac="02:00:00:00:00:01", mtu=1450
                    ),
                    Fdb("02:00:00:00:00:02", "192.168.20.4", "vxlan0"),
                ),
            ),
            Configure("dp-t.ns.p", (Route("default", via="169.254.1.1", dev="eth0", onlink=True),)),
        ]
    )
    assert kernel.calls == [
        ("netns.create", "dp-t.a1"),
        ("nft.apply", "dp-t.a1", "table ip x {}\n"),
        ("open", "dp-t.a1"),
        ("sysctl", "net.ipv4.ip_forward", 1, {}),
        ("bridge", "br0", {}),
        ("veth", "pv1", "eth0", "dp-t.ns.p", {"mac": "ee:ee:ee:ee:ee:ee", "peer_mac": None, "mtu": 1450}),
        ("set_master", "pv1", "br0", {}),
        ("up", "pv1", {}),
        ("address", "pv1", "10.0.0.1/24", {}),
        ("route", "10.0.0.2/32", {"via": None, "dev": "pv1", "onlink": False, "scope_link": True, "table": None,
                                  "kind": None, "src": None}),
        ("route", "default", {"via": None, "dev": None, "onlink": False, "scope_link": False, "table": 250,
                              "kind": "blackhole", "src": None}),
        ("rule", "add", {"table": 250, "priority": 120, "fwmark": None, "fwmask": None, "iifname": "br0",
                         "suppress_prefixlength": None}),
        ("rule", "add", {"table": 254, "priority": 110, "fwmark": None, "fwmask": None, "iifname": None,
                         "suppress_prefixlength": 0}),
        ("neighbour", "169.254.1.1", "ee:ee:ee:ee:ee:ee", "eth0", {}),
        (
            "vxlan",
            "vxlan0",
            {"vni": 1, "local": "192.168.10.4", "dev": "eth0", "port": 4789, "mac": "02:00:00:00:00:01", "mtu": 1450},
        ),
        ("fdb", "02:00:00:00:00:02", "192.168.20.4", "vxlan0", {}),
        ("close", "dp-t.a1"),
        ("batch", "dp-t.ns.p"),  # plain requests only: one RtnlBatch
        ("route", "default", {"via": "169.254.1.1", "dev": "eth0", "onlink": True, "scope_link": False, "table": None,
                              "kind": None, "src": None}),
        ("close", "dp-t.ns.p"),
    ]
