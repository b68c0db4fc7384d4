"""How many requests a share needs, and which counts of them are consistent with it.

A route's weights and fault percentages are probabilities drawn per request,
so a count can only be judged against a bound that depends on the sample:
a fixed tolerance is either too loose for 2,000 requests or flaky for 50.

* **The test** (``bounds``) is the exact two-sided binomial test: a count
  ``k`` of ``n`` is consistent with share ``p`` when neither tail beyond it
  (``P(X <= k)`` and ``P(X >= k)``) is at most ``ALPHA / 2``.  With
  ``ALPHA = 1e-4`` a correct data plane fails one share in 10,000 runs.
* **The sample size** (``sample_size``) makes that test see a share that is
  off by ``SHIFT`` (10 percentage points): the acceptance band's half-width,
  ``z * sqrt(p (1 - p) / n)`` with ``z`` the normal quantile of ``1 - ALPHA /
  2`` (3.89), must be at most ``SHIFT / 2``, so a share off by ``SHIFT``
  lies about ``SHIFT / 2`` outside it; for ``p = 0.1`` that is 545 requests,
  and a true share of 0.2 is then caught with probability 99.6 % (the exact
  band is a little wider than the normal one).
  An outcome that must always (or never) happen needs ``ln(BETA) / ln(1 -
  SHIFT)`` requests (44) to see a 10 % leak with probability ``1 - BETA`` (99 %).
"""

from __future__ import annotations

import math
from statistics import NormalDist

ALPHA = 1e-4
SHIFT = 0.10
BETA = 0.01
MAX_REQUESTS = 2000
"""A cap per rule: many near-even shares (p = 0.5 needs 1,514) stay under it; past it the band is wider than SHIFT/2."""

Z = NormalDist().inv_cdf(1 - ALPHA / 2)
CERTAIN = math.ceil(math.log(BETA) / math.log(1 - SHIFT))


def sample_size(shares: list[float]) -> int:
    """Requests enough for every share in ``shares`` (probabilities, 0 to 1), at most ``MAX_REQUESTS``."""
    needed = [math.ceil((2 * Z / SHIFT) ** 2 * p * (1 - p)) for p in shares if 0 < p < 1]
    return min(max([CERTAIN, *needed]), MAX_REQUESTS)


def _log_pmf(n: int, p: float, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)


def bounds(n: int, p: float, alpha: float = ALPHA) -> tuple[int, int]:
    """The counts ``lo..hi`` of ``n`` draws consistent with share ``p`` (exact two-sided test at ``alpha``)."""
    if p <= 0:
        return 0, 0
    if p >= 1:
        return n, n
    pmf = [math.exp(_log_pmf(n, p, k)) for k in range(n + 1)]
    lo, tail = 0, pmf[0]
    while tail <= alpha / 2:
        lo += 1
        tail += pmf[lo]
    hi, tail = n, pmf[n]
    while tail <= alpha / 2:
        hi -= 1
        tail += pmf[hi]
    return lo, hi
