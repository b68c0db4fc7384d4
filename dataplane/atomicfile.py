"""Replacing a file atomically: a reader sees the old content or the new, never half.

Used for every file that another process may read while it is rewritten (the
plan the agents reload, their ready files, certificates, a pod's resolv.conf).
The scratch file has a unique name in the same directory, so two writers
never share one and ``os.replace`` stays a rename within one filesystem.
"""

from __future__ import annotations

import os
import tempfile


def write_atomic(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``; ``mode`` is set before any byte is written, whatever the umask."""
    target = os.fspath(path)
    directory, name = os.path.split(target)
    fd, scratch = tempfile.mkstemp(dir=directory or ".", prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(scratch, target)
    except BaseException:
        try:
            os.unlink(scratch)
        except FileNotFoundError:
            pass
        raise
