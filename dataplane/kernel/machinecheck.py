"""One line of ``dpctl doctor``: what was checked, what was found, how to fix it.

Shared by the machine checks (``preflight``) and the kernel feature probes
(``featureprobes``), and read by the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

OK, WARNING, MISSING, SKIPPED = "ok", "warning", "missing", "skipped"


@dataclass(frozen=True)
class Check:
    """One line of ``dpctl doctor``; ``required`` items that are ``missing`` stop ``dpctl up``."""

    name: str
    status: str  # "ok" | "warning" | "missing" | "skipped"
    found: str
    remedy: str = ""
    required: bool = True


def needs_tools(check: str, tools: str) -> Check:
    """A probe that could not run because the commands it runs are missing (reported above it)."""
    return Check(check, SKIPPED, f"needs {tools} on PATH", "install them (see above)")


def module_remedy(*modules: str) -> str:
    """``modprobe -a`` for several (without ``-a`` every word after the first is a module parameter)."""
    command = f"modprobe {modules[0]}" if len(modules) == 1 else f"modprobe -a {' '.join(modules)}"
    return f"{command} (if modprobe finds no such module, this kernel was built without it)"
