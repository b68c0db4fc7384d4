"""A running emulation as a test sees it: exec, HTTP, sniffing, assertions.

The assertions are ``dpctl verify``'s checks, so a failing test prints what
the command would: the hop that differed, the interface that carried
plaintext, the Service whose rewrite was wrong.

Every helper names its target the way the CLI does (``NS/POD``,
``node/NAME``, ``external``), so a test reads like the commands a platform
engineer would type.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataplane.kernel.sniff import CapturedPacket, Sniffer
from dataplane.mesh.promtext import Sample, parse
from dataplane.state.layout import evidence_dir
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan, Pod, Service
from dataplane.topology.targets import resolve_address, resolve_place, resolve_pod
from dataplane.verify.checks import DEFAULT_CHECKS, run_checks
from dataplane.verify.evidence import Evidence, run_directory
from dataplane.verify.keepalive import HttpAnswer, keepalive_requests
from dataplane.verify.result import CheckResult, Report


@dataclass(frozen=True)
class Emulation:
    """One emulation brought up by the ``topology`` fixture.

    Failed assertions leave a pcapng of the frames behind them under
    ``evidence_root`` (default: the state directory, which ``down`` removes;
    the pytest plugin points it at the test's own temporary directory) and
    list each file in ``captures``, which the plugin attaches to the failing
    test's report.
    """

    plan: Plan
    evidence_root: Path | None = None
    captures: list[str] = field(default_factory=list, compare=False)

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

    def address(self, target: str) -> str:
        """The IPv4 address of ``NS/POD``, ``node/NAME``, ``external`` or ``lb`` (an address as it is)."""
        return resolve_address(self.plan, target)

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

    def requests(
        self, target: str, url: str, count: int = 1, method: str = "GET", headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> list[HttpAnswer]:
        """``count`` requests to ``url`` from inside ``target`` on one keep-alive
        connection (``keepalive_requests``); the URL's host is an address or a
        Service as ``name.namespace``, and is sent as the Host header."""
        parts = urllib.parse.urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        address = self._address_of(parts.hostname or "")
        calls = [(method, path, headers or {})] * count
        return keepalive_requests(self.netns(target), address, parts.port or 80, calls, parts.netloc, timeout)

    def _address_of(self, host: str) -> str:
        """An address as is; ``name.namespace`` (or ``name.namespace.svc...``) of a Service as its ClusterIP."""
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            name, _, rest = host.partition(".")
            namespace = rest.split(".", 1)[0] or "default"
            ip = self.service(f"{namespace}/{name}").cluster_ip
            if ip is None:
                raise KeyError(f"{host}: a Service without a ClusterIP") from None
            return ip

    def mesh_metrics(self) -> list[Sample]:
        """Every node's ztunnel and waypoint metrics, as ``dpctl mesh metrics`` reads them."""
        samples: list[Sample] = []
        for node in self.plan.nodes:
            url = "http://127.0.0.1:15020/metrics"
            samples += parse(self.exec(f"node/{node.name}", "curl", "-sS", "--max-time", "5", url).stdout)
        return samples

    def sniffer(self, target: str, iface: str | None = None, bpf: str | None = None) -> Sniffer:
        """A packet capture inside ``target`` on ``iface`` (all interfaces if None);
        use it as a context manager around the traffic, then read ``packets``."""
        return Sniffer(self.netns(target), iface, bpf)

    @staticmethod
    def seen(packets: list[CapturedPacket], marker: bytes) -> list[CapturedPacket]:
        """The captured frames whose bytes contain ``marker`` (e.g. a plaintext canary)."""
        return [p for p in packets if marker in p.data]

    # -- assertions built on dpctl verify -----------------------------------------------------------

    def _evidence(self) -> Evidence:
        root = self.evidence_root or evidence_dir(StateDir(self.plan.name).path)
        return Evidence(run_directory(root))

    def _kept(self, results: list[CheckResult]) -> None:
        self.captures.extend(r.capture for r in results if r.capture)

    def verify(self, *checks: str) -> Report:
        """Run ``dpctl verify``'s checks (its default set if none named); the report."""
        report = run_checks(self.plan, checks or DEFAULT_CHECKS, evidence=self._evidence())
        self._kept(report.results)
        return report

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
        flow = path.pod_flow(self.plan, src, dst, port or _first_port(dst))
        [result] = path.check_flows(self.plan, [flow], evidence=self._evidence())
        self._kept([result])
        if not result.ok:
            raise AssertionError(_describe(result))
        return result

    def assert_encrypted(self, source: str, destination: str, port: int | None = None) -> CheckResult:
        """A fresh plaintext canary from ``source`` to ``destination`` shows on no
        interface of either node, and only TLS records on 15008 pass between them."""
        from dataplane.verify.checks import encryption  # Scapy: loaded only by tests that use it

        src, dst = self.pod(source), self.pod(destination)
        result = encryption.check_pair_live(self.plan, src, dst, port or _first_port(dst), self._evidence())
        self._kept([result])
        if not result.ok:
            raise AssertionError(_describe(result))
        return result

    @contextmanager
    def assert_no_packet(self, source: str, destination: str, where: str, port: int | None = None) -> Iterator[None]:
        """Fail if, while the block runs, a packet from ``source`` to ``destination``
        (to ``port``, if given) shows on any interface of ``where``.

        The claim a test needs to prove a drop: a refused connection alone
        cannot tell a policy drop from a packet that went elsewhere.  Targets
        are named as everywhere else (``NS/POD``, ``node/NAME``, ``external``
        or an address); a VXLAN-wrapped packet counts by its inner addresses.
        The offending frames are kept as evidence.
        """
        from dataplane.verify.wire import parse  # Scapy: loaded only by tests that use it

        src, dst, place = self.address(source), self.address(destination), self.netns(where)
        sniffer = Sniffer(place, bpf="ip").start()
        try:
            yield
            time.sleep(0.05)  # frames still on their way to the socket
        finally:
            frames = sniffer.stop()
        offending = [
            frame for frame in frames
            if (seen := parse(place, frame)) is not None and (seen.src, seen.dst) == (src, dst)
            and (port is None or seen.dport == port)
        ]
        if offending:
            result = CheckResult("no-packet", f"{source} -> {destination} in {where}", ok=False, reason="a packet got through")
            kept = self._evidence().keep(result, [(place, frame) for frame in offending])
            self._kept([kept])
            lines = [f"{f.iface} {f.direction} {f.packet.summary()}" for f in offending[:5]]
            raise AssertionError(
                f"{len(offending)} packet(s) from {source} ({src}) to {destination} ({dst})"
                f"{f':{port}' if port else ''} seen in {where} ({place}): " + "; ".join(lines)
                + f" [{kept.capture}]"
            )


def _first_port(pod: Pod) -> int:
    from dataplane.verify.checks.connectivity import served_ports

    ports = served_ports(pod)
    if not ports:
        raise ValueError(f"{pod.key} serves no TCP port; name one")
    return ports[0][0]


def _describe(result: CheckResult) -> str:
    return f"{result.check}: {result.subject}: {result.reason}" + (f" [{result.evidence}]" if result.evidence else "")
