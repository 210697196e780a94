"""One log line per resource, one for the run, one for the follow-up: JSON through the handler's Logger."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..model import Outcome
from .base import Finished, Invocation

if TYPE_CHECKING:
    from ..report import Report

log = logging.getLogger(__name__)


def send(finished: Finished, invocation: Invocation) -> None:
    """Log the run: errors and conflicts at ERROR, the rest at INFO; the summary at ERROR when the run failed."""
    report, handed_over = finished.report, finished.handed_over
    for r in report.results:
        level = logging.ERROR if r.outcome in (Outcome.ERROR, Outcome.CONFLICT) else logging.INFO
        log.log(level, f"{r.kind} {r.name}: {r.outcome.value}", extra={"resource": {
            "kind": r.kind, "name": r.name, "outcome": r.outcome.value, "changes": [c.to_dict() for c in r.changes],
            "reason": r.reason, "duration_s": round(r.duration_s, 3)}})
    log.log(logging.ERROR if report.failed else logging.INFO, f"{report.action} run: {counts(report)}", extra={
        "summary": report.summary, "trigger": report.trigger, "action": report.action,
        "guard": {"message": report.guard, "tripped": report.guard_tripped} if report.guard else None,
        "exit_code": report.exit_code, "duration_s": round(report.duration_s, 3), "api_calls": report.api_calls})
    if handed_over is not None:
        level = logging.ERROR if handed_over.problem else logging.INFO
        log.log(level, "follow-up " + ("not scheduled" if handed_over.problem else "scheduled"),
                extra={"followup": handed_over.to_dict(),
                       "unfinished": [f"{r.kind} {r.name}: {r.outcome.value}" for r in report.unfinished]})


def counts(report: Report) -> str:
    return ", ".join(f"{k} {v}" for k, v in report.summary.items() if v) or "nothing declared"
