"""What this machine has to give: free memory, read from ``/proc/meminfo``."""

from __future__ import annotations


def available_memory() -> int | None:
    """``MemAvailable`` in bytes (the kernel's estimate of what can be used
    without swapping), or None when it cannot be read."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key == "MemAvailable":
                    return int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
