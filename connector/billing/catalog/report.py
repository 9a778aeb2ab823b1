"""What one sync-plans run did, plan by plan: outcomes, messages, Caspio write count."""

from __future__ import annotations

from dataclasses import dataclass, field

CREATED, UPDATED, ARCHIVED, UNCHANGED, ERROR = (
    "created",
    "updated",
    "archived",
    "unchanged",
    "error",
)
OUTCOMES = (CREATED, UPDATED, ARCHIVED, UNCHANGED, ERROR)


@dataclass(frozen=True)
class PlanResult:
    label: str  # "Billing_Plans PlanKey=gold" in the builder's names
    outcome: str
    error: str | None = None
    product_id: str | None = None
    price_id: str | None = None


@dataclass
class SyncReport:
    results: list[PlanResult] = field(default_factory=list)
    caspio_writes: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def errors(self) -> list[PlanResult]:
        return [r for r in self.results if r.outcome == ERROR]

    def summary(self) -> str:
        """`created 1, updated 0, archived 0, unchanged 3, errors 0` (every outcome)."""
        label = {ERROR: "errors"}
        return ", ".join(f"{label.get(o, o)} {self.count(o)}" for o in OUTCOMES)
