"""A range of integers handed out one at a time: addresses (as ints) or port numbers.

Node and pod addresses are taken in order (``next``) so a small file reads
naturally (.4, .5, .6); ClusterIPs, NodePorts and LoadBalancer VIPs are taken
by a stable hash of the object's name (``hashed``) so adding a Service never
moves another one.
Both need the same bookkeeping of who holds what, which lives here.

Values are never given back within one plan, so the pool keeps "skip"
pointers past runs of held values (a union-find with path compression): a
nearly full pool still finds its next free value in near-constant time, and
a full one answers at once, so 80,000 Services in a /16 are refused in
milliseconds rather than by rescanning 65,000 addresses each.
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
        self._skip: dict[int, int] = {}  # held value -> a later value that may be free
        # how many values the pool can hand out at all, reserved ones excluded
        self.size = max(0, last - first + 1 - sum(1 for v in self.holders if v in self))
        self._free = self.size

    def __contains__(self, value: int) -> bool:
        return self.first <= value <= self.last

    def claim(self, value: int, owner: str) -> str | None:
        """Take ``value`` for ``owner``; on failure, who holds it (None means success).

        The caller checks ``value in pool`` first: a value outside is nobody's.
        """
        holder = self.holders.get(value)
        if holder is None:
            self._hold(value, owner)
        return holder

    def _hold(self, value: int, owner: str) -> None:
        self.holders[value] = owner
        if value in self:
            self._free -= 1

    def _free_from(self, value: int) -> int | None:
        """The lowest free value at or after ``value`` (None past ``last``)."""
        passed = []
        while value <= self.last and value in self.holders:
            passed.append(value)
            value = self._skip.get(value, value + 1)
        for held in passed:
            self._skip[held] = value
        return value if value <= self.last else None

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
            self._hold(value, owner)
        return value

    def hashed(self, key: str, owner: str) -> int | None:
        """A free value chosen by a stable hash of ``key``, probing upward on collision."""
        if self._free <= 0:
            return None
        span = self.last - self.first + 1
        start = self.first + int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % span
        value = self._free_from(start)
        if value is None:
            value = self._free_from(self.first)
        if value is not None:
            self._hold(value, owner)
        return value
