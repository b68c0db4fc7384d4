"""The plugin's ``Emulations`` tracker without a kernel: bring-up, teardown and
the leftover checks are replaced, so what is proven is the order -- every
emulation torn down, even after a failure, and only then the assertions."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.state import store
from dataplane.state.lock import lock_path
from dataplane.testing import plugin
from dataplane.topology import naming

MINIMAL = Path(__file__).resolve().parents[3] / "topologies" / "minimal.yaml"


class FakeKernel:
    """What the tracker would do to the machine, recorded; namespaces as a set of names."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.namespaces: set[str] = set()
        self.host = {"links": "lo eth0"}
        self.fail_up: Exception | None = None
        self.fail_teardown: dict[str, BaseException] = {}
        self.leave_behind: set[str] = set()

    def up(self, plan, text: str) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(f"up {plan.name}")
        self.namespaces |= {ns for ns in plan.all_netns()}
        if self.fail_up:
            raise self.fail_up

    def teardown(self, name: str) -> None:
        self.calls.append(f"teardown {name}")
        if name not in self.leave_behind:
            self.namespaces = {ns for ns in self.namespaces if not ns.startswith(naming.prefix(name))}
        if name in self.fail_teardown:
            raise self.fail_teardown[name]

    def list_names(self, prefix: str = "") -> list[str]:
        self.calls.append(f"check {prefix}")
        return sorted(ns for ns in self.namespaces if ns.startswith(prefix))

    def snapshot(self) -> dict[str, str]:
        self.calls.append("snapshot")
        return dict(self.host)


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeKernel:
    fake = FakeKernel()
    monkeypatch.setenv(store.STATE_ROOT_ENV, str(tmp_path))
    monkeypatch.setattr(plugin, "up", fake.up)
    monkeypatch.setattr(plugin, "teardown", fake.teardown)
    monkeypatch.setattr(plugin.netns, "list_names", fake.list_names)
    monkeypatch.setattr(plugin.hostsnapshot, "snapshot", fake.snapshot)
    return fake


def test_a_topology_comes_up_under_a_unique_name_after_the_host_snapshot(kernel: FakeKernel) -> None:
    emulations = plugin.Emulations()
    first, second = emulations(MINIMAL), emulations(MINIMAL)
    assert first.name != second.name
    assert first.name.startswith("minimal-t") and len(first.name) == len("minimal-t") + 6
    assert first.plan.name == first.name
    assert kernel.calls == ["snapshot", f"up {first.name}", f"up {second.name}"]  # one snapshot, before the first
    emulations.close()
    assert kernel.calls[3:5] == [f"teardown {first.name}", f"teardown {second.name}"]
    assert kernel.namespaces == set()


def test_everything_is_torn_down_before_anything_is_asserted(kernel: FakeKernel) -> None:
    emulations = plugin.Emulations()
    first, second = emulations(MINIMAL), emulations(MINIMAL)
    kernel.leave_behind.add(first.name)
    with pytest.raises(AssertionError, match=f"{first.name} left namespaces behind: dp-{first.name}"):
        emulations.close()
    checks = [i for i, call in enumerate(kernel.calls) if call.startswith("check ")]
    assert kernel.calls.index(f"teardown {second.name}") < min(checks)


def test_a_failing_teardown_does_not_spare_the_others(kernel: FakeKernel) -> None:
    emulations = plugin.Emulations()
    first, second = emulations(MINIMAL), emulations(MINIMAL)
    kernel.fail_teardown[first.name] = OSError("busy")
    with pytest.raises(OSError, match="busy"):
        emulations.close()
    assert f"teardown {second.name}" in kernel.calls
    assert not kernel.list_names(naming.prefix(second.name))


def test_an_interrupted_teardown_does_not_spare_the_others(kernel: FakeKernel) -> None:
    emulations = plugin.Emulations()
    first, second = emulations(MINIMAL), emulations(MINIMAL)
    kernel.fail_teardown[first.name] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        emulations.close()
    assert f"teardown {second.name}" in kernel.calls


def test_a_failed_bring_up_is_still_torn_down_and_checked(kernel: FakeKernel) -> None:
    emulations = plugin.Emulations()
    kernel.fail_up = RuntimeError("building pods failed")
    with pytest.raises(RuntimeError):
        emulations(MINIMAL)
    [name] = emulations.names
    emulations.close()
    assert f"teardown {name}" in kernel.calls and f"check {naming.prefix(name)}" in kernel.calls


def test_a_lock_file_or_a_changed_host_fails_the_close(kernel: FakeKernel) -> None:
    emulations = plugin.Emulations()
    emu = emulations(MINIMAL)
    Path(lock_path(emu.name)).write_text("")
    kernel.host = {"links": "lo eth0 stray0"}
    with pytest.raises(AssertionError) as raised:
        emulations.close()
    assert f"{emu.name} left its lock file behind" in str(raised.value)
    assert "the host's own network namespace changed: links" in str(raised.value)


def test_down_tears_one_emulation_down_at_once(kernel: FakeKernel) -> None:
    emulations = plugin.Emulations()
    first, second = emulations(MINIMAL), emulations(MINIMAL)
    emulations.down(first)
    assert kernel.list_names(naming.prefix(first.name)) == []
    assert kernel.list_names(naming.prefix(second.name))
    kernel.leave_behind.add(second.name)
    with pytest.raises(AssertionError, match=f"{second.name} left namespaces behind"):
        emulations.down(second.name)
    kernel.leave_behind.clear()
    emulations.close()  # a second teardown of a removed emulation is harmless


def test_captures_go_under_the_evidence_root_and_are_reported_once(kernel: FakeKernel, tmp_path: Path) -> None:
    emulations = plugin.Emulations(evidence_root=tmp_path / "evidence")
    first, second = emulations(MINIMAL), emulations(MINIMAL)
    assert first.evidence_root == second.evidence_root == tmp_path / "evidence"
    assert emulations.new_captures() == []
    first.captures.append("a.pcapng")
    second.captures.append("b.pcapng")
    assert emulations.new_captures() == ["a.pcapng", "b.pcapng"]
    assert emulations.new_captures() == []  # the next test's report lists only its own
    emulations.close()
