"""Errors a user can act on.

Anything raised as a ``DpctlError`` is printed by the CLI as its message alone
(no traceback) with the error's exit code.  ``TopologyError`` carries every
problem found in a topology file at once, so a user fixes a file in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass


class DpctlError(Exception):
    """A failure explained to the user; ``exit_code`` is what dpctl exits with."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One fault in a topology file, located as precisely as we can."""

    file: str
    message: str
    document: int | None = None  # 1-based index of the YAML document
    kind: str | None = None
    name: str | None = None  # "namespace/name" or "name"
    path: str | None = None  # field path, e.g. "spec.template.spec.containers[0].ports[1].containerPort"
    line: int | None = None  # 1-based line in the file

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.document is not None:
            label = f"document {self.document}"
            if self.kind or self.name:
                label += f" ({' '.join(x for x in (self.kind, self.name) if x)})"
            parts.append(label)
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


class TopologyError(DpctlError):
    """The topology file is invalid; nothing was created."""

    exit_code = 2

    SHOWN = 50  # a file with 14,000 broken Services needs its first problems, not 14,000 lines

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in topology"
        lines = [head, *(f"  {p}" for p in self.problems[: self.SHOWN])]
        if count > self.SHOWN:
            lines.append(f"  ... and {count - self.SHOWN} more")
        super().__init__("\n".join(lines))


class InputError(DpctlError):
    """A command-line argument, option or environment value is not acceptable; nothing was done."""

    exit_code = 2


class StateError(DpctlError):
    """The requested emulation, pod or node does not exist or is not running."""

    exit_code = 1


class BuildError(DpctlError):
    """Building failed part-way; what was built has been rolled back."""

    exit_code = 1
