"""A running emulation as a test sees it: exec, HTTP, sniffing, assertions.

Every helper names its target the way the CLI does (``NS/POD``,
``node/NAME``, ``external``), so a test reads like the commands a platform
engineer would type.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from dataplane.kernel.sniff import CapturedPacket, Sniffer
from dataplane.topology.plan import Plan, Pod, Service


@dataclass(frozen=True)
class Emulation:
    """One emulation brought up by the ``topology`` fixture."""

    plan: Plan

    @property
    def name(self) -> str:
        return self.plan.name

    def pod(self, target: str) -> Pod:
        namespace, _, name = target.partition("/")
        return self.plan.pod(namespace, name)

    def service(self, target: str) -> Service:
        namespace, _, name = target.partition("/")
        for service in self.plan.services:
            if (service.namespace, service.name) == (namespace, name):
                return service
        raise KeyError(target)

    def netns(self, target: str) -> str:
        """The network namespace of ``NS/POD``, ``node/NAME``, ``external`` or ``lb``."""
        if target in ("external", "lb"):
            assert self.plan.external is not None
            return self.plan.external.client_netns if target == "external" else self.plan.external.lb_netns
        kind, _, name = target.partition("/")
        if kind == "node":
            return self.plan.node(name).netns
        return self.pod(target).netns

    def exec(self, target: str, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``target`` (with its resolv.conf, as ``dpctl exec``)."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.netns(target), *argv], capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} in {target} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def http_get(self, target: str, url: str, timeout: float = 5) -> dict[str, Any]:
        """GET ``url`` from inside ``target``; the built-in responders answer JSON."""
        out = self.exec(target, "curl", "-sS", "--max-time", str(timeout), url, timeout=timeout + 5)
        return dict(json.loads(out.stdout))

    def sniffer(self, target: str, iface: str | None = None, bpf: str | None = None) -> Sniffer:
        """A packet capture inside ``target`` on ``iface`` (all interfaces if None);
        use it as a context manager around the traffic, then read ``packets``."""
        return Sniffer(self.netns(target), iface, bpf)

    @staticmethod
    def seen(packets: list[CapturedPacket], marker: bytes) -> list[CapturedPacket]:
        """The captured frames whose bytes contain ``marker`` (e.g. a plaintext canary)."""
        return [p for p in packets if marker in p.data]
