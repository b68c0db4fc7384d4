"""A range of integers handed out one at a time: addresses (as ints) or port numbers.

Node and pod addresses are taken in order (``next``) so a small file reads
naturally (.4, .5, .6); ClusterIPs, NodePorts and LoadBalancer VIPs are taken
by a stable hash of the object's name (``hashed``) so adding a Service never
moves another one.
Both need the same bookkeeping of who holds what, which lives here.
"""

from __future__ import annotations

import hashlib


class Pool:
    """The integers ``first..last``; each can be held by one owner."""

    def __init__(self, first: int, last: int, reserved: dict[int, str] | None = None):
        self.first = first
        self.last = last
        self.holders: dict[int, str] = dict(reserved or {})
        self._cursor = first
        self._last_resort: set[int] = set()
        # how many values the pool can hand out at all, reserved ones excluded
        self.size = max(0, last - first + 1 - sum(1 for v in self.holders if v in self))

    def __contains__(self, value: int) -> bool:
        return self.first <= value <= self.last

    def claim(self, value: int, owner: str) -> str | None:
        """Take ``value`` for ``owner``; on failure, who holds it (None means success).

        The caller checks ``value in pool`` first: a value outside is nobody's.
        """
        holder = self.holders.get(value)
        if holder is None:
            self.holders[value] = owner
        return holder

    def keep(self, value: int, owner: str) -> bool:
        """Take ``value`` again for its previous owner, if it is still in range and free."""
        return value in self and self.claim(value, owner) is None

    def set_aside(self, value: int) -> None:
        """Let ``next`` hand ``value`` out only when nothing else is free.

        For an address just released: its old holder may still be there
        while a live change rolls out, and a reused address would confuse
        conntrack and anyone reading the before and after plans.
        """
        self._last_resort.add(value)

    def next(self, owner: str) -> int | None:
        """The lowest free value not set aside, else the lowest set aside (None if the pool is full)."""
        while self._cursor <= self.last and self._cursor in self.holders:
            self._cursor += 1
        free = (v for v in range(self._cursor, self.last + 1) if v not in self.holders)
        value = next((v for v in free if v not in self._last_resort), None)
        if value is None:
            value = min((v for v in self._last_resort if v in self and v not in self.holders), default=None)
        if value is not None:
            self.holders[value] = owner
        return value

    def hashed(self, key: str, owner: str) -> int | None:
        """A free value chosen by a stable hash of ``key``, probing upward on collision."""
        span = self.last - self.first + 1
        start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % span
        for step in range(span):
            value = self.first + (start + step) % span
            if value not in self.holders:
                self.holders[value] = owner
                return value
        return None
