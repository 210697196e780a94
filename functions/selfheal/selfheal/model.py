"""Plain data shared by observe, plan, apply and report: changes, steps and outcomes."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .spec import Copy

Action = Literal["status", "plan", "apply", "drill"]  # drill: selfheal/drill, not the engine
Trigger = Literal["cli", "deploy", "schedule", "manual", "followup", "change"]
Progress = Callable[[str, str, str], None]  # (event, kind, name): what a run is at, for a progress display


class Outcome(enum.StrEnum):
    """What happened to one resource in one run."""

    OK = "ok"
    CREATED = "created"
    RESTORED = "restored"
    REPAIRED = "repaired"
    CONFLICT = "conflict"
    ERROR = "error"
    DEFERRED = "deferred"  # the run's time ran out before this resource was done: the follow-up carries on
    RESTORING = "restoring"  # a restore is running on AWS's clock (20 minutes to hours): the follow-up finishes it
    IN_PROGRESS = "in_progress"  # AWS is still at other slow work (an index built, a copy being made)
    PENDING = "pending"  # plan only: apply would change it


HEALED = (Outcome.CREATED, Outcome.RESTORED, Outcome.REPAIRED)
FAILED = (Outcome.CONFLICT, Outcome.ERROR)
UNFINISHED = (Outcome.DEFERRED, Outcome.RESTORING, Outcome.IN_PROGRESS)  # nothing failed; a later run carries on


# What a change's `old` starts with when it is a finding (it widened access or destroyed data): its message says so.
FINDING = "finding: "
# What a note or conflict starts with when a resource's copies fall short of its recovery objective: messages show it.
OBJECTIVE = "recovery objective "


@dataclass(frozen=True)
class Change:
    """One difference between what exists and what is declared: a field path, its value now, its declared value."""

    path: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "from": self.old, "to": self.new}

    def __str__(self) -> str:
        return f"{self.path}: {clip(self.old)} -> {clip(self.new)}"


@dataclass(frozen=True)
class Step:
    """One AWS write (or wait) that carries out some changes: `service.operation(**params)`.

    Steps are plain data so a plan can be printed, tested and checked against IAM without touching AWS.
    """

    service: str  # the boto3 service ("sqs")
    operation: str  # boto3 client method name, e.g. "set_queue_attributes"; "wait_*": a wait its kind carries out
    params: dict[str, Any]
    changes: tuple[Change, ...] = ()
    region: str | None = None
    retry_codes: tuple[str, ...] = ()  # error codes that mean "not yet" for this step only

    @property
    def is_wait(self) -> bool:
        return self.operation.startswith("wait_")


@dataclass(frozen=True)
class Recovery:
    """What a deletion now would lose: the latest point a restore could bring back (None: nothing to restore from),
    where from (pitr, backup, aws-backup, versions, replica), and the same in words for `status`."""

    recoverable_to: datetime | None
    sources: tuple[str, ...]
    loses: str  # "nothing: any second of the last 35 days", "data since 02:00 (nightly backup)", "everything"
    copies: tuple[Copy, ...] = ()  # the kinds of copy found (how far apart, how far back): judged by the objective

    def to_dict(self) -> dict[str, Any]:
        when = self.recoverable_to
        iso = None if when is None else when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {"recoverable_to": iso, "sources": list(self.sources)}


@dataclass(frozen=True)
class ResourcePlan:
    """What differs for one resource, and what apply will (steps) and will not (conflicts) do about it."""

    kind: str  # the name of its kind (selfheal.kinds)
    name: str
    exists: bool
    steps: tuple[Step, ...] = ()
    conflicts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None  # the resource could not be observed or cannot be healed at all
    then_reconcile: bool = False  # after creating/restoring, observe again and repair what remains
    predicted: tuple[Change, ...] = ()  # for a missing resource: what the follow-up repair is expected to change
    progress: tuple[str, ...] = ()  # slow work AWS is still doing on it (a restore, an index backfill): not errors
    restoring: bool = False  # that slow work is a restore of the whole resource
    restored_from: str | None = None  # restored lately (by an earlier run), its settings still to set: the source
    recovery: Recovery | None = None  # what a deletion now would lose (None: the kind holds no data of its own)

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for s in self.steps for c in s.changes) + self.predicted

    @property
    def in_sync(self) -> bool:
        return self.exists and not self.steps and not self.conflicts and self.error is None and not self.progress


@dataclass
class ResourceResult:
    """The outcome of one resource in one run, as every face reports it."""

    kind: str
    name: str
    outcome: Outcome
    changes: list[Change] = field(default_factory=list)
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # status facts (items, billing, ...) for `status`
    recovery: Recovery | None = None  # as observed this run (Kind.recovery)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "outcome": self.outcome.value,
            "changes": [c.to_dict() for c in self.changes],
            "reason": self.reason,
            "notes": list(self.notes),
            "duration_s": round(self.duration_s, 3),
            "recovery": None if self.recovery is None else self.recovery.to_dict(),
        }
        if self.details:
            out["details"] = self.details
        return out


def clip(value: Any, limit: int = 120) -> str:
    """A value as text of at most `limit` characters ("-" for None; "..." marks a cut). The one truncation rule
    of every report line, message subject and CloudFormation reason."""
    text = "-" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
