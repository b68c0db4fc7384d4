"""Capturing on every interface of several namespaces at once.

A check opens one ``Sniffer`` per namespace a flow may cross before it sends
anything and stops them all afterwards, so every frame of the probe is
caught wherever it went, including namespaces it should never have entered.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Self

from dataplane.kernel.sniff import CapturedPacket, Sniffer


class Captures:
    """Sniffers on ``namespaces`` (all interfaces, through ``bpf``) from
    ``__enter__`` to ``stop``; every sniffer is stopped even when one fails."""

    def __init__(self, namespaces: Iterable[str], bpf: str):
        self.sniffers = [Sniffer(ns, bpf=bpf) for ns in dict.fromkeys(namespaces)]
        self.packets: dict[str, list[CapturedPacket]] = {}

    def __enter__(self) -> Self:
        try:
            for s in self.sniffers:
                s.start()
        except BaseException:
            self.stop()
            raise
        return self

    def snapshot(self) -> dict[str, list[CapturedPacket]]:
        """What every sniffer has seen so far, without stopping."""
        return {s.netns: s.wait(0, timeout=0) for s in self.sniffers}

    def stop(self) -> dict[str, list[CapturedPacket]]:
        error: BaseException | None = None
        for s in self.sniffers:
            try:
                self.packets[s.netns] = s.stop()
            except BaseException as exc:  # noqa: BLE001  stop the others first, then re-raise
                error = error or exc
        if error is not None:
            raise error
        return self.packets

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
