"""Results of ``dpctl verify`` checks: one ``CheckResult`` per subject (a
source/destination pair, a pod pair, ...), gathered in a ``Report``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class CheckResult:
    """What one check found for one subject, e.g. ``ui/ui-0 -> svc catalog/catalog:80``."""

    check: str
    subject: str
    ok: bool
    reason: str = ""
    evidence: str = ""  # interface / packet summary, the answer seen, ...
    skipped: bool = False
    seconds: float = 0.0
    # for matrix tables: the row and column this result belongs to
    source: str = ""
    destination: str = ""
    capture: str = ""  # the pcapng of the frames behind a failure (``verify --evidence``)

    @property
    def status(self) -> str:
        return SKIPPED if self.skipped else PASSED if self.ok else FAILED

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data


@dataclass
class Report:
    results: list[CheckResult] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per check

    def extend(self, results: list[CheckResult]) -> None:
        self.results.extend(results)

    def of(self, check: str) -> list[CheckResult]:
        return [r for r in self.results if r.check == check]

    @property
    def checks(self) -> list[str]:
        return list(dict.fromkeys(r.check for r in self.results))

    def totals(self, check: str | None = None) -> dict[str, int]:
        chosen = self.results if check is None else self.of(check)
        counts = {PASSED: 0, FAILED: 0, SKIPPED: 0}
        for r in chosen:
            counts[r.status] += 1
        counts["total"] = len(chosen)
        return counts

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "totals": self.totals(),
            "checks": {
                name: {"totals": self.totals(name), "seconds": round(self.seconds.get(name, 0.0), 3)}
                for name in self.checks
            },
            "results": [r.as_dict() for r in self.results],
        }
