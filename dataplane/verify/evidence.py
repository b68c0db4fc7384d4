"""The packets behind a failed check, left where a person or a CI job can open them.

A failed result says what differed; the frames say why (a SYN that left
and was never answered, a reply with the wrong source, plaintext on a
node's link).  Like PTF and cilium's connectivity tests, every failed result
gets one pcapng of the frames its check saw for it, each frame's interface
named ``<namespace>/<iface>`` so a capture across namespaces stays readable
in Wireshark.  Passing results write nothing, so a green run leaves no files.

Checks that follow crafted packets (dnat, path, encryption) keep what they
captured for the subject; probe checks (connectivity, policy) capture
nothing while they probe hundreds of pairs at once, so a failed probe is
retried once under capture (``retry``) and the retry's outcome is recorded
beside the frames.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dataplane.verify.result import CheckResult

if TYPE_CHECKING:  # Scapy loads only when a capture is written, not with every check
    from dataplane.kernel.sniff import CapturedPacket

Frames = Iterable[tuple[str, "CapturedPacket"]]
"""(namespace, frame) pairs, in any order: they are written sorted by time."""

MAX_FILES = 50
"""Per run: a matrix that fails everywhere needs a few examples, not hundreds of files."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_directory(root: str | os.PathLike[str], now: dt.datetime | None = None) -> Path:
    """A fresh directory for one verify run under ``root`` (made on the first failure)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    return Path(root, f"verify-{stamp}")


class Evidence:
    """Writes pcaps for failed results into ``directory`` (nothing when it is None)."""

    def __init__(self, directory: str | os.PathLike[str] | None):
        self.directory = None if directory is None else Path(directory)
        self.written: list[Path] = []

    @property
    def enabled(self) -> bool:
        return self.directory is not None and len(self.written) < MAX_FILES

    def wanted(self, result: CheckResult) -> bool:
        """Whether frames for ``result`` would be kept (so a check can skip gathering them)."""
        return self.enabled and not result.ok and not result.skipped

    def keep(self, result: CheckResult, frames: Frames, note: str = "") -> CheckResult:
        """``result`` with ``capture`` set to a new pcapng of ``frames`` (and ``note``
        appended to its evidence), or unchanged when it passed or evidence is off."""
        if not self.wanted(result):
            return result
        from dataplane.verify.pcap import PcapFile, placed

        assert self.directory is not None
        ordered = sorted(frames, key=lambda pair: pair[1].time)
        folder = self.directory / result.check
        folder.mkdir(parents=True, exist_ok=True)
        slug = _UNSAFE.sub("_", result.subject).strip("_")[:80]
        path = folder / f"{len(self.written) + 1:03d}-{slug}.pcapng"
        with PcapFile(str(path)) as out:
            out.write(placed(netns, frame) for netns, frame in ordered)
        self.written.append(path)
        text = "; ".join(part for part in (result.evidence, note, f"{len(ordered)} frames in {path}") if part)
        return dataclasses.replace(result, capture=str(path), evidence=text)


NO_EVIDENCE = Evidence(None)
