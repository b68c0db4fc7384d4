"""NetworkPolicy and the ambient mesh: policies are enforced on the wire, where meshed traffic
is HBONE to port 15008, so a policy that allows only the app's port drops it -- as Istio
documents -- until it allows 15008 too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

POLICY = """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-ingress, namespace: mesh}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: client}}}]
      ports: [PORTS]
"""


def _write(path: Path, text: str, ports: str) -> Path:
    path.write_text(text + POLICY.replace("PORTS", ports))
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[tuple[Emulation, Path, str]]:
    directory = tmp_path_factory.mktemp("meshnp")
    path = write_topology(directory, "mesh.yaml", "meshnp", CNI="vpc")
    text = path.read_text()
    emulation = module_topology(str(_write(path, text, "{port: 8080}")))
    yield emulation, write_topology(directory, "mesh.yaml", emulation.name, CNI="vpc"), text.replace(
        "meshnp", emulation.name)


def _reaches(emu: Emulation) -> bool:
    server = next(p for p in emu.plan.pods if p.namespace == "mesh" and p.name.startswith("server-"))
    result = emu.exec("mesh/client", "curl", "-sS", "-o", "/dev/null", "--max-time", "3",
                      f"http://{server.ip}:8080/", check=False, timeout=10)
    return result.returncode == 0


def test_allowing_only_the_app_port_drops_hbone_until_15008_is_allowed(live: tuple[Emulation, Path, str]) -> None:
    emu, path, text = live
    assert not _reaches(emu)  # the client's ztunnel dials the server's 15008: dropped at the server's veth
    dpctl("apply", str(_write(path, text, "{port: 8080}, {port: 15008}")), check=True)
    assert _reaches(emu)
