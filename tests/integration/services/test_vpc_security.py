"""EC2 security groups and network ACLs on real packets (aws-edge.md §6, T1, T3, T4, T5 and a group
referencing a group): stateful groups on each node's ENI, stateless numbered ACLs between subnets,
live edits, the drop named by trace and expected by verify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.testing.emulation import Emulation
from dataplane.testing.plugin import Emulations
from tests.integration.support import dpctl, write_topology

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(300)]

TRAP = "          - {ruleNumber: 100, egress: true, protocol: tcp, portRange: {from: 8080, to: 8080}"
EPHEMERAL = ("          - {ruleNumber: 110, egress: true, protocol: tcp, portRange: {from: 1024, to: 65535}, "
             "cidrBlock: 0.0.0.0/0, ruleAction: allow}\n")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_topology: Emulations) -> Iterator[tuple[Emulation, Path, str]]:
    directory = tmp_path_factory.mktemp("vpcsec")
    emulation = module_topology(str(write_topology(directory, "vpc-security.yaml", "vpcsec", CNI="vpc")))
    path = write_topology(directory, "vpc-security.yaml", emulation.name, CNI="vpc")
    yield emulation, path, path.read_text()


def _reaches(emu: Emulation, source: str, target: str) -> bool:
    result = emu.exec(source, "curl", "-sS", "-o", "/dev/null", "--max-time", "2",
                      f"http://{emu.pod(target).ip}:8080/", check=False, timeout=10)
    return result.returncode == 0


def _apply(path: Path, text: str) -> None:
    path.write_text(text)
    dpctl("apply", str(path), check=True)


def test_t4_a_group_without_outbound_rules_answers_but_cannot_initiate(live: tuple[Emulation, Path, str]) -> None:
    emu, _, _ = live
    assert _reaches(emu, "default/c1", "default/w2")  # inbound 8080 allowed; the reply is stateful
    assert not _reaches(emu, "default/w2", "default/c1")  # group "other" has no outbound rule


def test_t1_the_ephemeral_port_trap_and_its_fix(live: tuple[Emulation, Path, str]) -> None:
    emu, path, text = live
    assert not _reaches(emu, "default/c1", "default/w3")  # SYN in, SYN-ACK to the ephemeral port dropped
    out = dpctl("trace", "-t", emu.name, "default/c1", f"{emu.pod('default/w3').ip}:8080").stdout
    assert "network ACL srv (subnet srv) egress rule * (deny)" in out
    fixed = text.replace(TRAP, EPHEMERAL + TRAP)
    try:
        _apply(path, fixed)
        assert _reaches(emu, "default/c1", "default/w3")
        # a member of "app" gets through group "db"; a pod on a node outside "app" does not -- unless its
        # own branch ENI is in "app" (T5, security groups for pods)
        assert not _reaches(emu, "default/c4", "default/w3")
        assert _reaches(emu, "default/c5", "default/w3")
    finally:
        _apply(path, text)


def test_t3_acls_judge_no_traffic_within_a_subnet(live: tuple[Emulation, Path, str]) -> None:
    emu, path, text = live
    closed = text.replace("      - {name: cli, cidr: 10.30.1.0/24, zone: a}",
                          "      - {name: cli, cidr: 10.30.1.0/24, zone: a, networkAcl: closed}")
    try:
        _apply(path, closed)
        assert _reaches(emu, "default/c1", "default/w2")  # both in subnet cli: bridged, never judged
        out = dpctl("trace", "-t", emu.name, "default/c4", f"{emu.pod('default/w3').ip}:8080").stdout
        assert "network ACL closed (subnet cli) egress rule * (deny)" in out
    finally:
        _apply(path, text)


def test_a_branch_eni_is_judged_by_its_own_groups_on_the_same_node(live: tuple[Emulation, Path, str]) -> None:
    emu, _, _ = live
    assert _reaches(emu, "default/c1", "default/c5")  # c1's node is in "app", which c5's group admits
    assert not _reaches(emu, "default/c4", "default/c5")  # strict mode: judged although both are on n4
    out = dpctl("trace", "-t", emu.name, "default/c4", f"{emu.pod('default/c5').ip}:8080").stdout
    assert "security groups app of the branch ENI of pod default/c5: no inbound rule allows it" in out


def test_verify_expects_every_drop(live: tuple[Emulation, Path, str]) -> None:
    emu, _, _ = live
    emu.assert_verified("connectivity")
