"""Per-namespace /etc files: ``/etc/netns/<netns>/{resolv.conf,hosts}``.

``ip netns exec`` bind-mounts every file of ``/etc/netns/<name>/`` over its
``/etc`` twin, which is how a pod's own resolver configuration and hosts file
reach commands run with ``dpctl exec`` -- the kubelet writes the same two files.
"""

from __future__ import annotations

import os
import shutil

ETC_NETNS = "/etc/netns"


def directory(netns: str) -> str:
    return os.path.join(ETC_NETNS, netns)


def write(netns: str, files: dict[str, str]) -> None:
    """Write ``files`` (name -> content) for ``netns``, replacing old ones."""
    target = directory(netns)
    os.makedirs(target, mode=0o755, exist_ok=True)
    for name, content in files.items():
        tmp = os.path.join(target, f".{name}.tmp")
        with open(tmp, "w") as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(target, name))


def write_file(netns: str, relative: str, content: bytes) -> None:
    """Write ``/etc/netns/<netns>/<relative>`` (a path under it, e.g. ``ssl/certs/x``), atomically."""
    path = os.path.join(directory(netns), relative)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def remove_entry(netns: str, name: str) -> None:
    """Remove one entry (file or directory) of ``/etc/netns/<netns>/``, if there."""
    path = os.path.join(directory(netns), name)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def remove(netns: str) -> None:
    shutil.rmtree(directory(netns), ignore_errors=True)


def remove_prefix(prefix: str) -> list[str]:
    """Remove every ``/etc/netns/<prefix>*`` directory; returns what it removed."""
    try:
        names = sorted(n for n in os.listdir(ETC_NETNS) if n.startswith(prefix))
    except FileNotFoundError:
        return []
    for name in names:
        shutil.rmtree(directory(name), ignore_errors=True)
    return names
