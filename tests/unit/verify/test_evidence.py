"""Evidence files: one readable pcapng per failed result, nothing for a pass."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from dataplane.cli.verify import junit
from dataplane.kernel.sniff import CapturedPacket
from dataplane.verify import evidence as ev
from dataplane.verify.result import CheckResult, Report


def _frame(when: float, iface: str, dport: int) -> CapturedPacket:
    data = bytes(Ether() / IP(src="192.168.1.5", dst="10.96.0.10") / TCP(dport=dport, flags="S"))
    return CapturedPacket(when, iface, "out", data)


FAILED = CheckResult("dnat", "pod default/a -> svc default/web:80", ok=False, reason="nothing seen")


def test_a_pass_or_a_skip_writes_nothing(tmp_path: Path) -> None:
    evidence = ev.Evidence(tmp_path / "run")
    passed = CheckResult("dnat", "x", ok=True)
    skipped = CheckResult("dnat", "y", ok=True, skipped=True)
    assert evidence.keep(passed, [("dp-t.n1", _frame(1.0, "eth0", 80))]) is passed
    assert evidence.keep(skipped, []) is skipped
    assert not (tmp_path / "run").exists()


def test_a_failure_gets_a_pcapng_of_its_frames_in_time_order(tmp_path: Path) -> None:
    evidence = ev.Evidence(tmp_path / "run")
    frames = [("dp-t.n2", _frame(2.0, "eth0", 8080)), ("dp-t.default.a", _frame(1.0, "eth0", 80))]
    kept = evidence.keep(FAILED, frames, note="retried under capture: failed again")
    path = Path(kept.capture)
    assert path.parent == tmp_path / "run" / "dnat"
    assert path.name == "001-pod_default_a_-_svc_default_web_80.pcapng"
    packets = rdpcap(str(path))
    assert [p[TCP].dport for p in packets] == [80, 8080]
    # one interface per namespace/iface: the two eth0s stay apart
    assert [p.sniffed_on for p in packets] == ["dp-t.default.a/eth0", "dp-t.n2/eth0"]
    assert kept.evidence == f"retried under capture: failed again; 2 frames in {path}"
    assert kept.reason == FAILED.reason and not kept.ok


def test_no_frames_still_makes_a_valid_empty_capture(tmp_path: Path) -> None:
    kept = ev.Evidence(tmp_path).keep(FAILED, [])
    assert len(rdpcap(kept.capture)) == 0


def test_evidence_off_keeps_results_as_they_are() -> None:
    assert ev.NO_EVIDENCE.keep(FAILED, [("n", _frame(1.0, "eth0", 80))]) is FAILED


def test_a_run_keeps_at_most_max_files(tmp_path: Path) -> None:
    evidence = ev.Evidence(tmp_path)
    kept = [evidence.keep(FAILED, []) for _ in range(ev.MAX_FILES + 3)]
    assert sum(1 for k in kept if k.capture) == ev.MAX_FILES
    assert len(list((tmp_path / "dnat").iterdir())) == ev.MAX_FILES


def test_junit_names_the_capture_as_an_attachment(tmp_path: Path) -> None:
    kept = ev.Evidence(tmp_path).keep(FAILED, [])
    xml = junit(Report([kept, CheckResult("dnat", "ok one", ok=True)]))
    assert f"<system-out>[[ATTACHMENT|{kept.capture}]]</system-out>" in xml
    assert xml.count("ATTACHMENT") == 1
