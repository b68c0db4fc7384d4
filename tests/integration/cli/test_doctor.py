"""``dpctl doctor`` on the real machine: every required item is there, a tool
hidden from PATH is reported with its package, a topology too large for the
free memory is refused, and the probes leave neither a namespace nor a change
in the host's namespace behind -- also when interrupted or killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataplane.kernel import featureprobes, netns, preflight
from dataplane.kernel.machine import available_memory
from dataplane.kernel.machinecheck import MISSING, OK, SKIPPED
from dataplane.testing import hostsnapshot
from dataplane.topology.limits import NODE_MEMORY_BYTES
from dataplane.topology.naming import topology_of_netns

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[3]
MINIMAL = str(REPO / "topologies" / "minimal.yaml")
# The real command line; registering the command here leaves dataplane/cli/__init__.py alone.
DOCTOR = "from dataplane.cli import main; main()"


def doctor_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", DOCTOR, "doctor", *args]


def doctor(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *doctor_argv(*args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )


def by_name(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {row["name"]: row for row in json.loads(result.stdout)}


def not_emulations() -> list[str]:
    """Every ``dp-`` namespace no emulation owns: the only kind doctor could
    leave (other emulations may come and go while this runs)."""
    return [name for name in netns.list_names("dp-") if topology_of_netns(name) is None]


def test_every_required_item_is_ok_on_this_machine() -> None:
    started = time.perf_counter()
    checks = preflight.run_checks()
    took = time.perf_counter() - started
    assert preflight.required_failures(checks) == []
    assert preflight.refusal(checks) == ""
    probes = {c.name: c for c in checks if c.name in preflight.PROBES}
    assert list(probes) == list(preflight.PROBES)
    assert {c.status for c in probes.values()} == {OK}, [c for c in probes.values() if c.status != OK]
    assert probes["redirect"].found.endswith(f"original destination {featureprobes.PROBED[0]}:{featureprobes.PROBED[1]}")
    assert took < 1.0, f"run_checks took {took:.3f} s"


def test_the_cli_says_ok_and_exits_0_for_a_topology_that_fits() -> None:
    before_host, before = hostsnapshot.snapshot(), not_emulations()
    result = doctor(MINIMAL, "-o", "json")
    assert result.returncode == 0, result.stderr
    rows = by_name(result)
    assert rows["memory"]["status"] == OK and rows["memory"]["required"] is True
    assert str(rows["memory"]["found"]).startswith(f"minimal ({MINIMAL}): 2 nodes and 4 pods need about 132 MiB")
    assert not_emulations() == before
    assert hostsnapshot.differences(before_host, hostsnapshot.snapshot()) == []


def test_each_nft_expression_is_accepted_alone_and_a_refused_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-by-one fallback must name exactly the expression the kernel
    refuses: each probe stands alone, and a really refused one (masquerade in
    a filter chain, which the kernel does not allow) is the only one named."""
    refused = featureprobes.NftProbe(
        "masquerade in a filter chain", ("nft_masq",), featureprobes._hook("input", "filter", "input", "0", "masquerade")
    )
    monkeypatch.setattr(featureprobes, "NFT_PROBES", (*featureprobes.NFT_PROBES, refused))
    name = preflight.probe_name()
    try:
        netns.create(name)
        result = featureprobes.nft_refusals(name)
    finally:
        netns.delete(name)
    assert list(result) == ["masquerade in a filter chain"]
    assert featureprobes.KERNEL_REFUSAL in result["masquerade in a filter chain"]
    check = featureprobes.nf_tables_check(result)
    assert check.status == MISSING and check.remedy.startswith("modprobe nft_masq ")


def _path_without(tmp_path: Path, hidden: str) -> str:
    """A directory of links to every command on PATH except ``hidden``."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = tools / entry.name
            if entry.name != hidden and not link.exists() and os.access(entry.path, os.X_OK):
                link.symlink_to(entry.path)
    return str(tools)


def test_without_nft_on_path_nft_is_missing_with_its_package(tmp_path: Path) -> None:
    path = _path_without(tmp_path, "nft")
    result = doctor("-o", "json", env={**os.environ, "PATH": path})
    assert result.returncode == 1
    assert result.stderr == "dpctl: this machine lacks 1 required item: nft\n"
    rows = by_name(result)
    assert rows["nft"] == {
        "name": "nft",
        "status": "missing",
        "found": "not on PATH (programs every Service ruleset)",
        "remedy": "apt-get install nftables",
        "required": True,
    }
    assert rows["nf_tables"]["status"] == SKIPPED and rows["redirect"]["status"] == SKIPPED
    assert rows["nsenter"]["status"] == OK and rows["conntrack -L"]["status"] == OK


def test_a_topology_larger_than_the_free_memory_is_missing(tmp_path: Path) -> None:
    """A real file with more nodes than MemAvailable holds at 64 MiB each (the
    node cap raised above it where the machine is large)."""
    available = available_memory()
    assert available is not None
    nodes = available // NODE_MEMORY_BYTES + 50
    topology = tmp_path / "huge.yaml"
    topology.write_text(
        "apiVersion: dpctl.dev/v1\nkind: Topology\nmetadata: {name: huge}\nspec:\n  cni: vpc\n"
        "  serviceCIDR: 10.96.0.0/16\n  vpc:\n    cidr: 172.16.0.0/12\n    subnets:\n"
        "      - {name: big, cidr: 172.16.0.0/16, zone: a}\n  nodes:\n"
        + "".join(f"    - {{name: n{i}, subnet: big}}\n" for i in range(nodes))
    )
    env = {**os.environ, "DPCTL_LIMIT_NODES": str(max(500, nodes))}
    result = doctor(str(topology), "-o", "json", env=env)
    assert result.returncode == 1
    assert result.stderr == "dpctl: this machine lacks 1 required item: memory\n"
    memory = by_name(result)["memory"]
    assert memory["status"] == MISSING
    assert str(memory["found"]).startswith(f"huge ({topology}): {nodes:,} nodes and 2 pods need about ")
    assert "make the topology smaller (this machine has room for about " in str(memory["remedy"])


def _when_probing(argv: list[str]) -> subprocess.Popen[str] | None:
    """Start doctor and return it while its probe namespace exists (None when
    it finished before one was seen)."""
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    prefix = f"{preflight.PROBE_PREFIX}{process.pid}-"
    while process.poll() is None:
        if netns.list_names(prefix):
            return process
    process.communicate()
    return None


def _probe_namespaces_of(pid: int) -> list[str]:
    return netns.list_names(f"{preflight.PROBE_PREFIX}{pid}-")


def test_ctrl_c_while_probing_leaves_no_namespace() -> None:
    for _ in range(20):
        process = _when_probing(doctor_argv())
        if process is None:
            continue
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert err.strip() == "dpctl: aborted"  # click writes a newline first
        assert _probe_namespaces_of(process.pid) == []
        return
    pytest.fail("doctor never seen while probing")


def test_a_killed_doctors_namespace_is_removed_by_the_next_run() -> None:
    for _ in range(20):
        process = _when_probing(doctor_argv())
        if process is None:
            continue
        process.kill()
        process.communicate(timeout=30)
        left = _probe_namespaces_of(process.pid)
        result = doctor()
        assert result.returncode == 0, result.stderr
        assert _probe_namespaces_of(process.pid) == []
        if left:  # killed before its own finally ran: the next run removed it
            return
    pytest.fail("doctor was never killed while its namespace existed")


@pytest.fixture
def readable_copy() -> Iterator[Path]:
    """The package where any user can read it: a checkout under a private
    directory (CI clones into one) is out of an unprivileged user's reach."""
    directory = Path(tempfile.mkdtemp(prefix="dpctl-doctor-"))
    try:
        directory.chmod(0o755)
        shutil.copytree(REPO / "dataplane", directory / "dataplane", ignore=shutil.ignore_patterns("__pycache__"))
        yield directory
    finally:
        shutil.rmtree(directory)


def test_without_root_it_reports_root_missing_and_skips_the_probes(readable_copy: Path) -> None:
    nobody = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups")
    before = not_emulations()
    env = {**os.environ, "HOME": "/nonexistent", "PYTHONPATH": str(readable_copy), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [*nobody, *doctor_argv("-o", "json")],
        check=False, capture_output=True, text=True, timeout=60, env=env, cwd=readable_copy, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("dpctl: this machine lacks 1 required item: root")
    rows = by_name(result)
    assert rows["root"]["status"] == MISSING and rows["root"]["found"] == "euid 65534"
    assert {rows[name]["status"] for name in preflight.PROBES} == {SKIPPED}
    assert rows["memory"]["status"] == OK
    assert not_emulations() == before


def test_up_refuses_with_the_doctors_words_when_nft_is_missing(tmp_path: Path) -> None:
    path = _path_without(tmp_path, "nft")
    topology = tmp_path / "t.yaml"
    topology.write_text(Path(MINIMAL).read_text().replace("name: minimal", "name: nonft"))
    env = {**os.environ, "PATH": path}
    refused = subprocess.run(
        [sys.executable, "-m", "dataplane.cli", "up", "-q", str(topology)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("dpctl: this machine lacks what dpctl needs (see 'dpctl doctor'):\n")
    assert "  nft: not on PATH (programs every Service ruleset); fix: apt-get install nftables" in refused.stderr
    assert not netns.list_names("dp-nonft.")
