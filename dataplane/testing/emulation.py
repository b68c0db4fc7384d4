"""A running emulation as a test sees it: exec, HTTP, sniffing, assertions.

The assertions are ``dpctl verify``'s checks, so a failing test prints what
the command would: the hop that differed, the interface that carried
plaintext, the Service whose rewrite was wrong.

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
from dataplane.topology.targets import resolve_place, resolve_pod
from dataplane.verify.checks import DEFAULT_CHECKS, run_checks
from dataplane.verify.result import CheckResult, Report


@dataclass(frozen=True)
class Emulation:
    """One emulation brought up by the ``topology`` fixture."""

    plan: Plan

    @property
    def name(self) -> str:
        return self.plan.name

    def pod(self, target: str) -> Pod:
        return resolve_pod(self.plan, target)

    def service(self, target: str) -> Service:
        namespace, _, name = target.partition("/")
        for service in self.plan.services:
            if (service.namespace, service.name) == (namespace, name):
                return service
        raise KeyError(target)

    def netns(self, target: str) -> str:
        """The network namespace of ``NS/POD``, ``node/NAME``, ``external`` or ``lb``."""
        return resolve_place(self.plan, target)

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

    # -- assertions built on dpctl verify -----------------------------------------------------------

    def verify(self, *checks: str) -> Report:
        """Run ``dpctl verify``'s checks (its default set if none named); the report."""
        return run_checks(self.plan, checks or DEFAULT_CHECKS)

    def assert_verified(self, *checks: str) -> Report:
        """Fail with every unexpected result of ``checks``, as ``dpctl verify`` lists them."""
        report = self.verify(*checks)
        if not report.ok:
            raise AssertionError("\n".join(_describe(r) for r in report.failures))
        return report

    def assert_path(self, source: str, destination: str, port: int | None = None) -> CheckResult:
        """A packet from pod ``source`` to pod ``destination`` (its first served TCP
        port unless given) is seen on exactly the hops the plan routes it through,
        in order, with the expected addresses; as HBONE on 15008 when both are meshed."""
        from dataplane.verify.checks import path  # Scapy: loaded only by tests that use it

        src, dst = self.pod(source), self.pod(destination)
        [result] = path.check_flows(self.plan, [path.pod_flow(self.plan, src, dst, port or _first_port(dst))])
        if not result.ok:
            raise AssertionError(_describe(result))
        return result

    def assert_encrypted(self, source: str, destination: str, port: int | None = None) -> CheckResult:
        """A fresh plaintext canary from ``source`` to ``destination`` shows on no
        interface of either node, and only TLS records on 15008 pass between them."""
        from dataplane.verify.checks import encryption  # Scapy: loaded only by tests that use it

        src, dst = self.pod(source), self.pod(destination)
        result = encryption.check_pair_live(self.plan, src, dst, port or _first_port(dst))
        if not result.ok:
            raise AssertionError(_describe(result))
        return result


def _first_port(pod: Pod) -> int:
    from dataplane.verify.checks.connectivity import served_ports

    ports = served_ports(pod)
    if not ports:
        raise ValueError(f"{pod.key} serves no TCP port; name one")
    return ports[0][0]


def _describe(result: CheckResult) -> str:
    return f"{result.check}: {result.subject}: {result.reason}" + (f" [{result.evidence}]" if result.evidence else "")
