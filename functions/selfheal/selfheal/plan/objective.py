"""A resource's copies against its declared recovery objective (`recovery: {window, rpo}`). Pure: no AWS calls.

The same judgement serves twice: when the file is read, on the copies the estate declares (an rpo no declared copy can
meet, or no copy at all, is bad input); and in every run, on the copies found now and those apply would leave (a
shortfall apply repairs is a note beside its steps; one it cannot repair is a conflict naming what to change).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..model import OBJECTIVE, ResourcePlan
from ..spec import Copy, Objective, duration_text

# A copy's newest point is late by its own nature (PITR's LatestRestorableDateTime is "typically 5 minutes before the
# current time"; a scheduled backup job may start hours into its window): the newest point found falls short only
# when it is older than twice the rpo and this slack, i.e. a whole copy was missed.
SLACK = timedelta(minutes=10)


@dataclass(frozen=True)
class Shortfall:
    """One way the copies fall short: the objective's field it concerns ("" for no copy at all), what, and the fix."""

    field: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.problem} — {self.fix}"


def shortfalls(objective: Objective, copies: tuple[Copy, ...], fix: str) -> list[Shortfall]:
    """How these copies fall short of the objective (empty: they meet it). `fix`: how a copy of the resource is
    declared, for when none fits."""
    if not copies:
        return [Shortfall("", "no copy of it is kept", fix)]
    found: list[Shortfall] = []
    if objective.rpo is not None:
        best = min(copies, key=lambda c: c.every)
        if best.every > objective.rpo:
            found.append(Shortfall(
                "rpo", f"its newest copy can be {duration_text(best.every)} old ({best.what}), more than the rpo "
                f"{duration_text(objective.rpo)}",
                f"use rpo: {duration_text(best.every)} or more: no copy of it can be newer" if best.finest
                else f"{fix}, or rpo: {duration_text(best.every)}"))
    if objective.window is not None:
        reach = [c for c in copies if c.every <= objective.window]  # a copy made less often than the window misses it
        longest = max(reach or copies, key=lambda c: timedelta.max if c.keeps is None else c.keeps)
        if longest.keeps is not None and longest.keeps < objective.window:
            found.append(Shortfall(
                "window", f"its copies reach back {duration_text(longest.keeps)} ({longest.what}), less than the "
                f"window {duration_text(objective.window)}",
                f"{longest.lengthen or fix}, or window: {duration_text(longest.keeps)}"))
    return found


def unmeetable(objective: Objective, declared: tuple[Copy, ...], fix: str) -> Shortfall | None:
    """What makes an objective impossible with the copies the estate declares: no copy at all, or none made often
    enough for the rpo. (A declared copy kept too short for the window is the estate contradicting itself: a conflict
    in every plan, so the rest of the estate is still healed.)"""
    return next((s for s in shortfalls(objective, declared, fix) if s.field != "window"), None)


def judge(plan: ResourcePlan, objective: Objective, now: tuple[Copy, ...], after: tuple[Copy, ...], fix: str,
          newest: datetime | None, at: datetime, repair: str) -> ResourcePlan:
    """The plan with what the objective asks of it: a conflict for each shortfall apply would leave (with what to
    change), else a note for what apply repairs (`repair` says how). `newest`: the latest restorable point found;
    a point older than twice the rpo is a shortfall apply cannot repair (AWS has missed a copy)."""
    said = f"{OBJECTIVE}({objective}) not met"
    left = shortfalls(objective, after, fix)
    if newest is not None and objective.rpo is not None and at - newest > 2 * objective.rpo + SLACK:
        left.append(Shortfall("rpo", f"its newest copy is from {newest:%Y-%m-%d %H:%M} UTC, "
                              f"{duration_text(timedelta(seconds=int((at - newest).total_seconds())))} ago, more "
                              f"than the rpo {duration_text(objective.rpo)}",
                              "AWS has missed a copy since: check the jobs of the backup plan that makes them"))
    if left:
        conflicts = tuple(f"{said}: {s}" for s in left)
        return replace(plan, conflicts=(*plan.conflicts, *(c for c in conflicts if c not in plan.conflicts)))
    repaired = shortfalls(objective, now, fix)
    if repaired:
        notes = tuple(f"{said} until apply: {s.problem} — {repair}" for s in repaired)
        return replace(plan, notes=(*plan.notes, *notes))
    return plan
