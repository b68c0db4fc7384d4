"""``dpctl doctor``'s pure parts: the refusal text, the memory comparison, the
table and JSON, the exit code, and the verdicts drawn from what the machine
said (mount table, PATH, nft's diagnostics).  No root, no kernel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataplane.cli import doctor
from dataplane.errors import DpctlError
from dataplane.kernel import featureprobes, preflight
from dataplane.kernel.machinecheck import MISSING, OK, SKIPPED, WARNING, Check
from dataplane.topology.limits import MIB, NODE_MEMORY_BYTES, POD_MEMORY_BYTES, Limits
from dataplane.topology.naming import topology_of_netns

REPO = Path(__file__).resolve().parents[3]
MINIMAL = str(REPO / "topologies" / "minimal.yaml")

CHECKS = [
    Check("root", OK, "euid 0"),
    Check("nft", MISSING, "not on PATH (programs every Service ruleset)", "apt-get install nftables"),
    Check("tcpdump", WARNING, "not on PATH", "apt-get install tcpdump", required=False),
    Check("vxlan", MISSING, "the kernel refused a VXLAN device: Operation not supported", "modprobe vxlan"),
    Check("redirect", SKIPPED, "needs nft and nsenter on PATH", "install them (see above)"),
    Check("memory", MISSING, "too small", "free memory", required=False),
]


# -- refusal ------------------------------------------------------------------


def test_refusal_is_a_header_then_one_line_per_required_missing_item() -> None:
    assert preflight.refusal(CHECKS) == (
        "this machine lacks what dpctl needs (see 'dpctl doctor'):\n"
        "  nft: not on PATH (programs every Service ruleset); fix: apt-get install nftables\n"
        "  vxlan: the kernel refused a VXLAN device: Operation not supported; fix: modprobe vxlan"
    )


def test_warnings_skips_and_optional_items_refuse_nothing() -> None:
    harmless = [c for c in CHECKS if c.name not in ("nft", "vxlan")]
    assert preflight.required_failures(harmless) == []
    assert preflight.refusal(harmless) == ""


# -- memory -------------------------------------------------------------------


def _limits(memory: int | None) -> Limits:
    return Limits(memory_bytes=memory)


def test_without_a_file_memory_says_how_much_it_holds() -> None:
    check = doctor.memory_check(_limits(1000 * MIB), None)
    assert (check.status, check.required) == (OK, False)
    assert check.found == "1,000 MiB available: room for about 15 nodes or 1,000 pods (64 MiB a node, 1 MiB a pod)"


def test_a_topology_that_fits_exactly_is_ok() -> None:
    size = doctor.TopologySize("shop (shop.yaml)", nodes=3, pods=20)
    check = doctor.memory_check(_limits(3 * NODE_MEMORY_BYTES + 20 * POD_MEMORY_BYTES), size)
    assert (check.status, check.required) == (OK, True)
    assert check.found == "shop (shop.yaml): 3 nodes and 20 pods need about 212 MiB; 212 MiB available"


def test_one_pod_too_many_is_missing_with_what_would_fit() -> None:
    size = doctor.TopologySize("shop (shop.yaml)", nodes=3, pods=21)
    check = doctor.memory_check(_limits(3 * NODE_MEMORY_BYTES + 20 * POD_MEMORY_BYTES), size)
    assert (check.status, check.required) == (MISSING, True)
    assert check.remedy == (
        "free 1 MiB more, or make the topology smaller (this machine has room beside its 3 nodes for about 20 pods)"
    )


def test_too_many_nodes_says_how_many_nodes_fit() -> None:
    size = doctor.TopologySize("big (big.yaml)", nodes=400, pods=2)
    check = doctor.memory_check(_limits(370 * NODE_MEMORY_BYTES), size)
    assert check.status == MISSING
    assert check.found == "big (big.yaml): 400 nodes and 2 pods need about 25,602 MiB; 23,680 MiB available"
    assert check.remedy == (
        "free 1,922 MiB more, or make the topology smaller (this machine has room for about 370 nodes)"
    )


def test_unreadable_memory_is_a_warning_never_a_refusal() -> None:
    check = doctor.memory_check(_limits(None), doctor.TopologySize("x (x.yaml)", 1, 1))
    assert (check.status, check.required) == (WARNING, False)


def test_a_file_is_sized_under_the_fixed_caps_only() -> None:
    """The planner would refuse a file too large for the free memory; doctor
    must measure it instead, so it plans without the memory figure."""
    size = doctor.topology_size(MINIMAL)
    assert size == doctor.TopologySize(f"minimal ({MINIMAL})", nodes=2, pods=4)  # client, web, 2 coredns


# -- the command --------------------------------------------------------------


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> list[Check]:
    """What run_checks reports; the test puts checks in the list."""
    reported: list[Check] = []
    monkeypatch.setattr(doctor, "run_checks", lambda: list(reported))
    monkeypatch.setattr(doctor, "available_memory", lambda: 4096 * MIB)
    return reported


def test_json_is_one_object_per_check_and_exit_0_with_only_warnings(machine: list[Check]) -> None:
    machine.extend(c for c in CHECKS if c.status != MISSING)
    result = CliRunner().invoke(doctor.command, ["-o", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == ["root", "tcpdump", "redirect", "memory"]
    assert rows[1] == {
        "name": "tcpdump",
        "status": "warning",
        "found": "not on PATH",
        "remedy": "apt-get install tcpdump",
        "required": False,
    }


def test_table_has_a_line_per_check_and_exit_1_names_what_is_missing(machine: list[Check]) -> None:
    machine.extend(CHECKS[:-1])
    result = CliRunner().invoke(doctor.command, [])
    assert result.exit_code == 1
    assert isinstance(result.exception, DpctlError)
    assert str(result.exception) == "this machine lacks 2 required items: nft, vxlan"
    lines = result.output.splitlines()
    assert lines[0].split() == ["STATUS", "CHECK", "FOUND", "REMEDY"]
    assert re.match(
        r"missing\s+nft\s+not on PATH \(programs every Service ruleset\)\s+apt-get install nftables", lines[2]
    )
    assert len(lines) == 1 + len(CHECKS)  # header, five checks, memory


def test_a_file_too_large_for_memory_fails_the_command(machine: list[Check], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "available_memory", lambda: 100 * MIB)  # minimal needs 2 x 64 + 4 MiB
    result = CliRunner().invoke(doctor.command, [MINIMAL, "-o", "json"])
    assert result.exit_code == 1
    (memory,) = json.loads(result.output)
    assert (memory["status"], memory["required"]) == ("missing", True)
    assert memory["found"] == f"minimal ({MINIMAL}): 2 nodes and 4 pods need about 132 MiB; 100 MiB available"


def test_a_bad_file_is_reported_before_anything_is_probed(machine: list[Check], tmp_path: Path) -> None:
    def probed() -> list[Check]:
        raise AssertionError("probed before reading the file")

    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Nonsense\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(doctor, "run_checks", probed)
        result = CliRunner().invoke(doctor.command, [str(bad)])
    assert result.exit_code == 1 and type(result.exception).__name__ == "TopologyError"
    assert result.exception.exit_code == 2  # type: ignore[union-attr]


# -- verdicts on what the machine said ----------------------------------------

SHARED = "45 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw\n"
PRIVATE = "45 27 254:0 /run/netns /run/netns rw,relatime - ext4 /dev/vda rw\n"
ROOT = "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"


@pytest.mark.parametrize(
    ("mountinfo", "found"),
    [
        (ROOT + SHARED, "a shared mount point"),
        (ROOT + PRIVATE, "a mount point, not shared; dpctl marks it shared before its first namespace"),
        (ROOT + SHARED + PRIVATE, "a mount point, not shared; dpctl marks it shared before its first namespace"),
        (
            ROOT,
            "not a mount point yet; dpctl bind-mounts it onto itself and marks it shared before its first namespace",
        ),
    ],
)
def test_run_netns_is_a_note_never_a_failure(mountinfo: str, found: str) -> None:
    assert preflight.run_netns_check(mountinfo) == Check("/run/netns", OK, found, required=False)


@pytest.fixture
def empty_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 0)


@pytest.mark.usefixtures("empty_path")
@pytest.mark.parametrize(
    ("command", "package", "status"),
    [
        ("ip", "iproute2", MISSING),
        ("nft", "nftables", MISSING),
        ("nsenter", "util-linux", MISSING),
        ("conntrack", "conntrack", MISSING),
        ("tcpdump", "tcpdump", WARNING),
        ("iperf3", "iperf3", WARNING),
    ],
)
def test_a_missing_tool_names_its_package(command: str, package: str, status: str) -> None:
    (tool,) = [t for t in preflight.TOOLS if t.command == command]
    check = preflight.tool_check(tool)
    assert (check.name, check.status, check.remedy) == (command, status, f"apt-get install {package}")
    assert check.required == (status == MISSING)


def test_without_root_probes_are_skipped_and_nothing_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_probing(tools: set[str]) -> list[Check]:
        raise AssertionError("probed without root")

    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(preflight, "kernel_checks", no_probing)
    checks = preflight.run_checks()
    assert checks[0] == Check("root", MISSING, "euid 1000", "run dpctl as root (sudo dpctl ...)")
    probes = [c for c in checks if c.name in preflight.PROBES]
    assert [c.name for c in probes] == list(preflight.PROBES)
    assert {(c.status, c.found, c.remedy) for c in probes} == {
        (SKIPPED, "needs root", "run 'sudo dpctl doctor' to probe it")
    }
    assert preflight.required_failures(checks)[0].name == "root"


def test_the_probe_namespace_is_never_an_emulations() -> None:
    name = preflight.probe_name()
    assert name.startswith("dp-.doctor-") and topology_of_netns(name) is None
    assert name != preflight.probe_name()


def test_every_expression_dpctl_uses_is_probed_in_a_table_of_its_own() -> None:
    expressions = [p.expression for p in featureprobes.NFT_PROBES]
    for needed in (
        "numgen random",
        "vmap",
        "ip daddr . meta l4proto . th dport",
        "dnat",
        "masquerade",
        "reject",
        "fib saddr type local",
        "ct mark",
        "meta mark",
        "redirect",
        "sets with timeout",
    ):
        assert any(needed in e for e in expressions), needed
    texts = [p.text(i) for i, p in enumerate(featureprobes.NFT_PROBES)]
    assert all(t.count("\ntable ") == 0 and t.startswith("table ") for t in texts)
    assert len({t.splitlines()[0] for t in texts}) == len(texts)


KERNEL = "Error: Could not process rule: No such file or directory"


@pytest.mark.parametrize(
    ("refused", "remedy"),
    [
        ({"numgen random": KERNEL}, "modprobe nft_numgen"),
        ({"redirect": KERNEL, "masquerade": KERNEL}, "modprobe -a nft_masq nft_redir"),
        ({"dnat ip to numgen random mod N map": KERNEL}, "modprobe -a nft_nat nft_numgen"),
        ({"all expressions in one transaction": KERNEL}, "modprobe nf_tables"),
    ],
)
def test_a_kernel_refusal_names_the_modules(refused: dict[str, str], remedy: str) -> None:
    check = featureprobes.nf_tables_check(refused)
    assert check.status == MISSING
    assert check.remedy == f"{remedy} (if modprobe finds no such module, this kernel was built without it)"


def test_a_syntax_error_is_an_old_nft() -> None:
    check = featureprobes.nf_tables_check({"numgen random": "Error: syntax error, unexpected typeof"})
    assert check.found == "refused: numgen random (Error: syntax error, unexpected typeof)"
    assert check.remedy.startswith("this nft cannot parse dpctl's rulesets: apt-get install nftables")


def test_nf_tables_without_nft_is_skipped_and_all_accepted_is_ok() -> None:
    assert featureprobes.nf_tables_check(None).status == SKIPPED
    accepted = featureprobes.nf_tables_check({})
    assert accepted.status == OK and accepted.found.startswith("accepted in one transaction: verdict maps (vmap)")
