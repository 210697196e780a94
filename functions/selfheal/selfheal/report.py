"""The result of one run: one line per resource plus a summary. Each face (CLI, Lambda) prints it its own way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import FAILED, HEALED, UNFINISHED, Action, Outcome, ResourceResult, Trigger, clip

OUTCOMES = tuple(o for o in Outcome)


@dataclass
class Report:
    """What one run found and did, resource by resource: every face prints it its own way."""

    action: Action
    trigger: Trigger
    results: list[ResourceResult] = field(default_factory=list)
    guard: str | None = None  # the blast-radius guard's message, when it tripped or would trip
    guard_tripped: bool = False
    duration_s: float = 0.0
    api_calls: dict[str, int] = field(default_factory=dict)

    def count(self, *outcomes: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome in outcomes)

    @property
    def summary(self) -> dict[str, int]:
        counts = {o.value: self.count(o) for o in OUTCOMES}
        counts["checked"] = len(self.results)
        counts["healed"] = self.count(*HEALED)
        counts["failed"] = self.count(*FAILED)
        counts["unfinished"] = self.count(*UNFINISHED)
        return counts

    @property
    def unfinished(self) -> list[ResourceResult]:
        """Resources a later run must carry on with: AWS's slow work under way, or this run's time ran out."""
        return [r for r in self.results if r.outcome in UNFINISHED]

    @property
    def failed(self) -> bool:
        return self.count(*FAILED) > 0 or self.guard_tripped

    @property
    def exit_code(self) -> int:
        """plan: 0 in sync, 2 changes pending, 1 conflicts or errors. apply/status: 0 all healthy, 1 otherwise."""
        if self.failed:
            return 1
        if self.action == "plan":
            return 2 if self.count(Outcome.PENDING, *UNFINISHED) else 0
        if self.action == "status":
            return 0
        return 1 if self.count(Outcome.PENDING, *UNFINISHED) else 0

    def failures(self) -> list[ResourceResult]:
        return [r for r in self.results if r.outcome in FAILED]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action,
            "trigger": self.trigger,
            "summary": self.summary,
            "resources": [r.to_dict() for r in self.results],
            "duration_s": round(self.duration_s, 3),
        }
        if self.guard:
            out["guard"] = {"message": self.guard, "tripped": self.guard_tripped}
        if self.api_calls:
            out["api_calls"] = dict(self.api_calls)
        return out

    def failure_reason(self, limit: int = 250) -> str:
        """A short reason naming the resources that did not end healthy (CloudFormation cuts Reason at 256)."""
        if self.guard_tripped and self.guard:
            text = self.guard
        elif self.failures():
            parts = [f"{r.kind} {r.name}: {r.outcome.value}" for r in self.failures()]
            first = self.failures()[0]
            text = f"{len(parts)} resource(s) not healed: " + "; ".join(parts) + f" — {first.name}: {first.reason}"
        else:
            late = [f"{r.kind} {r.name} ({r.outcome.value})" for r in self.results
                    if r.outcome in (Outcome.PENDING, *UNFINISHED)]
            text = f"{len(late)} resource(s) not finished yet (a follow-up run carries on): " + ", ".join(late)
        return clip(text, limit)
