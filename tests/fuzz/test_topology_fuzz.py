"""Fuzzed topology input: every file is accepted or refused with a problem
report -- never an exception, never over the time and memory budget.

CI runs a few hundred examples; ``scripts/fuzz`` runs 10,000
(``DPCTL_FUZZ_EXAMPLES``) and prints the figures collected here.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from tests.fuzz.strategies import mutated_topologies, raw_texts, yaml_tricks

TOTAL = int(os.environ.get("DPCTL_FUZZ_EXAMPLES", "600"))
PER_FAMILY = max(1, TOTAL // 3)
TIME_BUDGET_S = 2.0
MEMORY_BUDGET_BYTES = 256 << 20

FUZZ = settings(
    max_examples=PER_FAMILY,
    deadline=None,  # the budget below is checked with its own message; hypothesis's deadline is flaky under load
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


class Figures:
    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.slowest = 0.0
        self.largest = 0
        self.total_seconds = 0.0

    def report(self) -> str:
        count = sum(self.outcomes.values())
        return (
            f"fuzz: {count} files: {self.outcomes['accepted']} accepted, {self.outcomes['refused']} refused "
            f"with a problem report, 0 exceptions; slowest {self.slowest * 1000:.0f} ms, "
            f"mean {self.total_seconds / max(count, 1) * 1000:.1f} ms, peak memory {self.largest / (1 << 20):.1f} MiB "
            f"(budgets {TIME_BUDGET_S:.0f} s, {MEMORY_BUDGET_BYTES >> 20} MiB)"
        )


FIGURES = Figures()


@pytest.fixture(scope="module", autouse=True)
def _print_figures() -> Iterator[None]:
    yield
    print(f"\n{FIGURES.report()}")


def check(text: str) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        plan = plan_from_text(text, "fuzz.yaml")
    except TopologyError as error:
        assert error.problems and str(error), "a refusal must say why"
        outcome = "refused"
    else:
        assert Plan.from_json(plan.to_json()) == plan, "an accepted plan must survive its own JSON"
        outcome = "accepted"
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    FIGURES.outcomes[outcome] += 1
    FIGURES.slowest = max(FIGURES.slowest, elapsed)
    FIGURES.largest = max(FIGURES.largest, peak)
    FIGURES.total_seconds += elapsed
    assert elapsed < TIME_BUDGET_S, f"{elapsed:.2f} s for a {len(text)}-character file"
    assert peak < MEMORY_BUDGET_BYTES, f"{peak >> 20} MiB for a {len(text)}-character file"


@FUZZ
@given(mutated_topologies())
def test_mutated_topologies(text: str) -> None:
    check(text)


@FUZZ
@given(raw_texts)
def test_raw_text(text: str) -> None:
    check(text)


@FUZZ
@given(yaml_tricks())
def test_yaml_tricks(text: str) -> None:
    check(text)
