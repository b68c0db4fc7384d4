"""Topology input as users keep it: files, directories and standard input.

``dpctl up -f FILE_OR_DIR [-f ...]`` reads like ``kubectl apply -f``: a
directory contributes its ``*.yaml``, ``*.yml`` and ``*.json`` files in name
order (not its subdirectories), ``-`` is standard input, so ``helm template
... | dpctl up -f topology.yaml -f -`` works.  Each input keeps its own name,
so a problem is reported in the file it is in.  The limits apply to all the
inputs together, each read with a bounded ``read``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import Problem, TopologyError
from .limits import DEFAULT_LIMITS, Limits

STDIN = "-"
STDIN_NAME = "<stdin>"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Source:
    name: str  # the path as given, or <stdin>
    text: str


def read_sources(args: Sequence[str], stdin: BinaryIO | None = None, limits: Limits = DEFAULT_LIMITS) -> list[Source]:
    """Every input named by ``args`` (paths, directories, ``-``), in order."""
    sources: list[Source] = []
    budget = limits.file_bytes
    for arg in args:
        for name, data in _inputs(arg, stdin, budget, limits):
            budget -= len(data)
            if budget < 0:
                raise TopologyError([Problem(name, too_large(limits))])
            try:
                sources.append(Source(name, data.decode("utf-8")))
            except UnicodeDecodeError:
                raise TopologyError([Problem(name, "cannot read the file: it is not UTF-8 text")]) from None
    return sources


def _inputs(arg: str, stdin: BinaryIO | None, budget: int, limits: Limits) -> list[tuple[str, bytes]]:
    if arg == STDIN:
        if stdin is None:
            raise TopologyError([Problem(STDIN_NAME, "standard input is not available")])
        return [(STDIN_NAME, stdin.read(budget + 1))]
    if os.path.isdir(arg):
        names = sorted(n for n in os.listdir(arg) if n.endswith(MANIFEST_SUFFIXES))
        files = [os.path.join(arg, n) for n in names if os.path.isfile(os.path.join(arg, n))]
        if not files:
            raise TopologyError([Problem(arg, f"the directory holds no {', '.join(MANIFEST_SUFFIXES)} file")])
        return [(path, _read(path, budget)) for path in files]
    return [(arg, _read(arg, budget))]


def _read(path: str, budget: int) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read(budget + 1)  # never more: it may be a pipe or a device
    except OSError as exc:
        raise TopologyError([Problem(path, f"cannot read the file: {exc.strerror or exc}")]) from None


def too_large(limits: Limits) -> str:
    return (
        f"the input is larger than {limits.file_bytes:,} bytes, dpctl's limit for topology input "
        f"({limits.variable('file_bytes')})"
    )


def label(sources: Sequence[Source]) -> str:
    """How a plan made of ``sources`` names where it came from."""
    return ", ".join(s.name for s in sources)


def to_json(sources: Sequence[Source]) -> str:
    return json.dumps([{"name": s.name, "text": s.text} for s in sources], indent=1)


def from_json(text: str) -> list[Source]:
    return [Source(str(item["name"]), str(item["text"])) for item in json.loads(text)]
