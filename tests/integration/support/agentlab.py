"""The throwaway lab the node agent's integration tests run in.

A lab is a client namespace (``dp-<tag>.cli``) with one veth to each pod
namespace; the test writes a plan for the pods, starts ``python -m
dataplane.agent`` as a subprocess and talks to the pods from the client
namespace.  What differs between the test modules -- the tag's prefix, the
pods, their addresses and ports -- is passed in; building the namespaces,
removing them (whatever happened), and starting and stopping the agent is here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from dataplane.agent import ready
from dataplane.kernel import netns
from dataplane.topology.plan import Namespace, Node, Plan, Pod, Service

# For the test modules' ``pytestmark``: a lab is made of network namespaces, and a stuck agent must not hang the run.
MARKS = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces"),
    pytest.mark.dpctl_root,
    pytest.mark.timeout(90),
    # Every test proves the lab lived entirely in its own namespaces.
    pytest.mark.usefixtures("host_unchanged"),
]
REPO = Path(__file__).resolve().parents[3]
NODE = "n1"
WAIT_S = 15.0


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def netns_pids(name: str) -> list[int]:
    return [int(p) for p in ip("netns", "pids", name).split()]


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def new_tag(prefix: str) -> str:
    """A fresh tag, so that labs of concurrent or crashed runs never share a namespace name."""
    return f"{prefix}{secrets.token_hex(3)}"


@dataclass(frozen=True)
class AgentLab:
    """What every lab has; the test modules subclass it with their pods."""

    tag: str
    state_dir: Path

    @property
    def client(self) -> str:
        """The client namespace."""
        return self.name("cli")

    def name(self, suffix: str) -> str:
        """A kernel object name of this lab (the plan's prefix followed by ``suffix``)."""
        return f"dp-{self.tag}.{suffix}"

    def install_plan(
        self,
        *,
        source: str,
        vpc_cidr: str,
        namespaces: tuple[Namespace, ...],
        pods: tuple[Pod, ...],
        services: tuple[Service, ...] = (),
    ) -> None:
        """Writes a plan with this node and another one, atomically: the agent may read it at any time."""
        plan = Plan(
            name=self.tag,
            source=source,
            cni="vpc",
            prefix=self.name(""),
            vpc_cidr=vpc_cidr,
            service_cidr="10.96.0.0/16",
            cluster_domain="cluster.local",
            dns_ip="10.96.0.10",
            router_netns=self.name("vpc"),
            subnets=(),
            nodes=tuple(
                Node(n, "a", "s", node_ip, 24, "192.0.2.1", self.name(n), f"r{n}")
                for n, node_ip in ((NODE, "192.0.2.10"), ("n2", "192.0.2.11"))
            ),
            namespaces=namespaces,
            pods=pods,
            services=services,
        )
        scratch = self.state_dir / ".plan.json"
        scratch.write_text(plan.to_json())
        os.replace(scratch, self.state_dir / "plan.json")


@dataclass(frozen=True)
class Link:
    """A pod namespace veth'd to the client: ``iface`` on the client's side, ``eth0`` in the pod, both /24."""

    pod_netns: str
    iface: str
    client_ip: str
    pod_ip: str


@contextlib.contextmanager
def lab_namespaces(client: str, links: Sequence[Link]) -> Iterator[None]:
    """The client namespace veth'd to each pod namespace; all removed afterwards, whatever happened."""
    made: list[str] = []
    try:
        for name in (client, *(link.pod_netns for link in links)):
            netns.create(name)
            made.append(name)
        ip("-n", client, "link", "set", "lo", "up")
        for link in links:
            pod_ns, veth = link.pod_netns, link.iface
            ip("-n", client, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod_ns)
            ip("-n", client, "addr", "add", f"{link.client_ip}/24", "dev", veth)
            ip("-n", client, "link", "set", veth, "up")
            ip("-n", pod_ns, "addr", "add", f"{link.pod_ip}/24", "dev", "eth0")
            ip("-n", pod_ns, "link", "set", "eth0", "up")
            ip("-n", pod_ns, "link", "set", "lo", "up")
        yield
    finally:
        for name in made:
            for pid in netns_pids(name) if netns.exists(name) else []:  # left by a failed test
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            netns.delete(name)


@dataclass
class AgentRun:
    proc: subprocess.Popen[bytes]
    log: Path

    def ready_after(self, state_dir: Path, generation: int) -> ready.Ready:
        """The ready file once its generation is past ``generation``."""
        deadline = time.monotonic() + WAIT_S
        while True:
            assert self.proc.poll() is None, f"agent exited {self.proc.returncode}:\n{self.log.read_text()}"
            state = ready.read(state_dir, NODE)
            if state is not None and state.generation > generation:
                return state
            assert time.monotonic() < deadline, "timed out waiting for the agent's ready file"
            time.sleep(0.05)


StartAgent = Callable[[], tuple[AgentRun, ready.Ready]]


@contextlib.contextmanager
def agent_starter(state_dir: Path) -> Iterator[StartAgent]:
    """Starts the agent on the plan in ``state_dir``, once it is ready; every run is stopped (killed if need
    be) afterwards."""
    runs: list[AgentRun] = []

    def start() -> tuple[AgentRun, ready.Ready]:
        log = state_dir / "logs" / f"agent-{NODE}.log"
        log.parent.mkdir(exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dataplane.agent", "--state-dir", str(state_dir), "--node", NODE],
                cwd=REPO,
                stdout=out,
                stderr=out,
            )
        runs.append(AgentRun(proc, log))
        return runs[-1], runs[-1].ready_after(state_dir, -1)

    try:
        yield start
    finally:
        for run in runs:
            if run.proc.poll() is None:
                run.proc.terminate()
                try:
                    run.proc.wait(10)
                except subprocess.TimeoutExpired:
                    run.proc.kill()
                    run.proc.wait()
