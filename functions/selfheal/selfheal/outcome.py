"""Which outcome a resource gets, from what was planned and what applying it came to. Pure: no AWS, no threads."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from .model import Change, Outcome, ResourcePlan


@dataclass
class Attempt:
    """What applying one resource's plan came to, before it is classified."""

    changes: list[Change] = field(default_factory=list)  # what was done
    failures: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    deferred: str | None = None  # the run's own time ran out
    progress: list[str] = field(default_factory=list)  # AWS's slow work still going on
    restoring: bool = False
    waited: bool = False  # a wait for ACTIVE finished in this run
    restored: bool = False  # the data of a resource created in this run was brought back from its copy in this run


def classify(
    plan: ResourcePlan,
    attempt: Attempt | None = None,
    held: bool = False,
    creates: Collection[str] = (),
    restores: Collection[str] = (),
) -> tuple[Outcome, str]:
    """One precedence for every run: failures, conflicts, lateness (the run's own, or the guard's hold), AWS's slow
    work, then what was (or would be) changed. (A resource only looked at: a plan that could not be read at all is
    an error before its conflicts.)

    attempt: None for a resource only looked at (status, plan, a run the guard held); else what applying it came to.
    creates / restores: the operations that bring a missing resource into being / bring its data back.
    """
    if attempt is None:
        return _looked_at(plan, held)
    done = attempt.changes
    if attempt.failures:
        return Outcome.ERROR, "; ".join(attempt.failures) + (f" (done before that: {listed(done)})" if done else "")
    if attempt.conflicts:
        return Outcome.CONFLICT, "; ".join(attempt.conflicts)
    if attempt.deferred:
        return Outcome.DEFERRED, attempt.deferred
    if attempt.progress:
        return (Outcome.RESTORING if attempt.restoring else Outcome.IN_PROGRESS), "; ".join(attempt.progress)
    main = next((s for s in plan.steps if not s.is_wait), None)
    if plan.then_reconcile and not plan.exists and main is not None and main.operation in creates and done:
        if attempt.restored:
            return Outcome.RESTORED, f"{done[0].new}; {done[-1].new}" if len(done) > 1 else str(done[0].new)
        return (Outcome.RESTORED if main.operation in restores else Outcome.CREATED), str(done[0].new)
    if (plan.then_reconcile and plan.restoring) or (plan.restored_from and done):
        return Outcome.RESTORED, f"restore finished; {len(done)} setting(s) set" if done else "restore finished"
    if done:
        return Outcome.REPAIRED, f"{len(done)} setting(s) repaired"
    return Outcome.OK, ""


def _looked_at(plan: ResourcePlan, held: bool) -> tuple[Outcome, str]:
    # A resource that cannot be read at all is an error; one with a conflict beside a lesser read problem (one of its
    # settings could not be read) is the conflict: that is what a person must decide.
    if plan.error and not plan.steps:
        return Outcome.ERROR, plan.error
    if plan.conflicts:
        return Outcome.CONFLICT, "; ".join(plan.conflicts)
    if plan.error:
        return Outcome.ERROR, plan.error
    if held and not plan.in_sync:
        return Outcome.DEFERRED, "held by the blast-radius guard"
    if plan.progress and all(s.is_wait for s in plan.steps):
        return (Outcome.RESTORING if plan.restoring else Outcome.IN_PROGRESS), "; ".join(plan.progress)
    if not plan.in_sync:
        first = plan.steps[0].changes[0] if plan.steps and plan.steps[0].changes else None
        if first and first.path == plan.kind:
            return Outcome.PENDING, f"would be {first.new}"
        return Outcome.PENDING, f"{len(plan.changes)} change(s) pending"
    return Outcome.OK, ""


def listed(changes: list[Change]) -> str:
    """What was done, as one line ("nothing" when nothing)."""
    return ", ".join(str(c) for c in changes) or "nothing"
