"""What the agent serves of one pod, and how it names the commands it starts."""

from __future__ import annotations

from pathlib import Path

from dataplane.agent import serving
from dataplane.topology.plan import Container, ContainerPort
from tests.unit.agent.samples import HTTP, UDP_ECHO, pod

DNS = ContainerPort(53, "UDP", "dns", "dns")
OWN = ContainerPort(9000, "TCP", "api", "http")


def test_only_containers_without_a_command_get_built_in_responders() -> None:
    mixed = pod(
        "m",
        containers=(
            Container("app", (HTTP, UDP_ECHO)),
            Container("server", (OWN,), ("python3", "-m", "http.server", "9000")),
            Container("dns", (DNS,)),
        ),
    )
    assert serving.responder_ports(mixed) == [HTTP, UDP_ECHO, DNS]
    assert serving.commanded(mixed) == [mixed.containers[1]]


def test_a_pod_without_commands_starts_nothing() -> None:
    assert serving.commanded(pod("p")) == []
    assert serving.responder_ports(pod("p")) == [HTTP]


def test_only_a_jobs_pods_run_to_completion() -> None:
    assert serving.runs_to_completion(pod("j-0", owner="Job/j"))
    assert not serving.runs_to_completion(pod("d-0", owner="Deployment/d"))
    assert not serving.runs_to_completion(pod("p"))


def test_workload_key_and_log_file() -> None:
    assert serving.workload_key(pod("p"), "app") == "shop/p/app"
    assert serving.log_path(Path("/run/dpctl/t/logs"), pod("p"), "app") == Path("/run/dpctl/t/logs/shop.p.app.log")


def test_a_log_file_name_too_long_for_the_file_system_is_cut_and_hashed() -> None:
    long = pod("x" * 253)
    path = serving.log_path(Path("/logs"), long, "app")
    assert len(path.name.encode()) == 255
    assert path.name.startswith("shop." + "x" * 200) and path.name.endswith(".log")
    assert path != serving.log_path(Path("/logs"), long, "app2")
