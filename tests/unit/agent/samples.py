"""Pods built by hand for the agent tests: only what the agent looks at."""

from __future__ import annotations

import dataclasses
from typing import Any

from dataplane.topology.plan import Container, ContainerPort, Pod

HTTP = ContainerPort(8080, "TCP", "http", "http")
UDP_ECHO = ContainerPort(7001, "UDP", "udp-echo", "udp-echo")


def pod(name: str, ip: str = "192.168.10.5", **changes: Any) -> Pod:
    base = Pod(
        namespace="shop",
        name=name,
        node="a1",
        zone="a",
        ip=ip,
        netns=f"dp-t.shop.{name}",
        host_iface=f"pv-{name}",
        containers=(Container("app", (HTTP,)),),
    )
    return dataclasses.replace(base, **changes)
