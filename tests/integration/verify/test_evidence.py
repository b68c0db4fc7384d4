"""Failed checks leave the frames behind them; ``assert_no_packet`` proves a drop.

The data plane is broken on purpose behind dpctl's back -- a drop rule in
the server's node namespace, inside the emulation -- so that verify must
fail, and the captures it leaves must show the packets that went nowhere.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import TCP
from scapy.utils import rdpcap

from dataplane.testing.emulation import Emulation

pytestmark = [pytest.mark.dpctl_root, pytest.mark.timeout(240)]

MINIMAL = Path(__file__).resolve().parents[3] / "topologies" / "minimal.yaml"
DROP = "table inet dpctl-test {\n chain block {\n  type filter hook forward priority -10; policy accept;\n  tcp dport 8080 drop\n }\n}\n"


def _web(emu: Emulation) -> str:
    [web] = [p.key for p in emu.plan.pods if p.labels.get("app") == "web"]
    return web


def _drop_to_web(emu: Emulation, on: bool) -> None:
    node = emu.plan.node(emu.pod(_web(emu)).node).netns
    script = DROP if on else "delete table inet dpctl-test\n"
    subprocess.run(["ip", "netns", "exec", node, "nft", "-f", "-"], input=script, text=True, check=True)


def _verify(emu: Emulation, evidence: Path, *checks: str) -> subprocess.CompletedProcess[str]:
    only = [arg for check in checks for arg in ("--only", check)]
    return subprocess.run(
        [sys.executable, "-m", "dataplane.cli", "verify", "-t", emu.name, *only, "--evidence", str(evidence), "-o", "junit"],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, check=False,
    )


def test_failed_checks_leave_a_capture_each(topology, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    emu = topology(MINIMAL)
    passed = _verify(emu, tmp_path / "clean", "dnat", "connectivity")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert not (tmp_path / "clean").exists(), "a green run must leave no files"

    _drop_to_web(emu, on=True)
    failed = _verify(emu, tmp_path / "broken", "dnat", "connectivity")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    captures = re.findall(r"\[\[ATTACHMENT\|([^\]]+)\]\]", failed.stdout)
    assert captures, failed.stdout
    by_check = {Path(c).parent.name for c in captures}
    assert by_check == {"dnat", "connectivity"}, captures
    for capture in captures:
        assert Path(capture).is_relative_to(tmp_path / "broken")
        packets = rdpcap(capture)
        # the SYN left the client (or the node) and never got an answer: the frames show it
        syns = [p for p in packets if TCP in p and p[TCP].flags & 0x12 == 0x02]
        assert syns, f"{capture}: no SYN among {len(packets)} frames"
        assert not [p for p in packets if TCP in p and p[TCP].flags & 0x12 == 0x12], f"{capture}: a SYN-ACK?"
        assert all(p.sniffed_on.startswith(f"dp-{emu.name}.") for p in packets), {p.sniffed_on for p in packets}


def test_assert_no_packet_proves_a_drop_and_catches_a_leak(topology) -> None:  # type: ignore[no-untyped-def]
    emu = topology(MINIMAL)
    web = _web(emu)
    url = f"http://{emu.pod(web).ip}:8080/"

    _drop_to_web(emu, on=True)
    with emu.assert_no_packet("default/client", web, where=web, port=8080):
        result = emu.exec("default/client", "curl", "-sS", "--max-time", "1", url, check=False)
    assert result.returncode != 0
    assert not emu.captures

    _drop_to_web(emu, on=False)
    leak = emu.assert_no_packet("default/client", web, where=web, port=8080)
    with pytest.raises(AssertionError, match=r"packet\(s\) from default/client .* seen in") as raised, leak:
        emu.exec("default/client", "curl", "-sS", "--max-time", "2", url)
    [capture] = emu.captures
    assert capture in str(raised.value)
    assert rdpcap(capture), "the leaked frames are kept"


FAILING_TEST = """
import pytest

pytestmark = pytest.mark.dpctl_root


def test_a_leak(topology):
    emu = topology({path!r})
    [web] = [p for p in emu.plan.pods if p.labels.get("app") == "web"]
    with emu.assert_no_packet("default/client", web.key, where=web.key, port=8080):
        emu.exec("default/client", "curl", "-sS", "--max-time", "2", f"http://{{web.ip}}:8080/")
"""


def test_the_plugin_lists_a_failed_tests_captures_in_its_report(tmp_path: Path) -> None:
    (tmp_path / "test_leak.py").write_text(FAILING_TEST.format(path=str(MINIMAL)))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "base"), "test_leak.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    section = run.stdout.split("dpctl evidence", 1)
    assert len(section) == 2, run.stdout
    [capture] = re.findall(r"\S+\.pcapng", section[1])[:1]
    assert Path(capture).is_relative_to(tmp_path / "base") and rdpcap(capture)
