"""One drill run: every drilled resource checked first (its copy found, its scratch name allowed: reads only, and any
problem stops the run before a write), then each restored, waited for on AWS's clock, verified and removed, side by
side. The report is the report every run gives, action "drill", one DrillResult per resource."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..aws import AWS_ERRORS
from ..kinds import kind_of
from ..model import Outcome, ResourceResult, Trigger
from ..report import Report
from .base import Copy, DrillFailed, DrillProblem, KindDrill, scratch_name

if TYPE_CHECKING:
    from ..aws import Clients
    from ..spec import Estate


@dataclass
class DrillResult(ResourceResult):
    """A resource's drill: the copy used and how old it was, how long its restore took, whether it checked out."""

    copy: str | None = None  # where from: pitr, backup, aws-backup, versions
    copy_ref: str | None = None  # the backup or recovery point ARN, the table (PITR), the bucket (versions)
    copy_age_seconds: float | None = None
    restore_seconds: float | None = None  # None: nothing was restored (a bucket's own versions)
    verified: bool = False
    scratch: str | None = None
    rto_seconds: float | None = None  # the declared recovery time objective, if any
    removed: bool = False  # the scratch copy is gone

    @property
    def rto_exceeded(self) -> bool:
        return self.rto_seconds is not None and self.restore_seconds is not None \
            and self.restore_seconds > self.rto_seconds

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update({
            "copy": self.copy, "copy_ref": self.copy_ref,
            "copy_age_seconds": None if self.copy_age_seconds is None else round(self.copy_age_seconds, 1),
            "restore_seconds": None if self.restore_seconds is None else round(self.restore_seconds, 1),
            "verified": self.verified, "scratch": self.scratch, "removed": self.removed,
            "rto_seconds": self.rto_seconds, "rto_exceeded": self.rto_exceeded,
        })
        return out


@dataclass(frozen=True)
class _Planned:
    spec: Any
    drill: KindDrill[Any]
    copy: Copy
    scratch: str


def run_drill(
    estate: Estate,
    clients: Clients,
    only: Sequence[str] = (),
    restore_role: str | None = None,
    trigger: Trigger = "cli",
    poll_seconds: float | None = None,
    timeout_seconds: float | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    clock: Callable[[], float] = time.monotonic,
) -> Report:
    """Drill every table and bucket of the estate (or `only` those). Raises DrillProblem for bad input, before any
    write; AWS's own failures during a drill are that resource's error, never another's."""
    started = clock()
    try:
        chosen = estate.only(tuple(only))
    except ValueError as exc:
        raise DrillProblem(str(exc)) from None
    specs = [s for s in chosen.resources if kind_of(s).drill() is not None]
    if not specs:
        raise DrillProblem("--only: none of the named resources holds data to drill — name tables or buckets")
    declared = {r.name for r in estate.resources}
    stamp = now()
    planned = [_plan(clients, spec, scratch_name(spec.name, stamp), declared, restore_role) for spec in specs]
    settings = estate.settings
    poll = poll_seconds or settings.poll_seconds
    timeout = timeout_seconds or settings.wait_timeout_seconds
    report = Report("drill", trigger)
    with ThreadPoolExecutor(max_workers=min(len(planned), settings.pool_size), thread_name_prefix="drill") as pool:
        report.results = list(pool.map(lambda p: _drill(clients, p, restore_role, poll, timeout, now, clock),
                                       planned))
    report.duration_s = clock() - started
    report.api_calls = clients.call_counts()
    return report


def _plan(clients: Clients, spec: Any, scratch: str, declared: set[str], restore_role: str | None) -> _Planned:
    """The drill of one resource, or DrillProblem naming what stops it (reads only)."""
    kind = kind_of(spec)
    drill = kind.drill()
    assert drill is not None
    what = f"{kind.name} {spec.name}"
    if len(scratch) > drill.name_limit:
        raise DrillProblem(f"{what}: its scratch copy's name {scratch} is {len(scratch)} characters, over AWS's "
                           f"{drill.name_limit} for a {kind.name} — drill it by hand under a shorter name, or leave "
                           "it out with --only")
    if scratch in declared:
        raise DrillProblem(f"{what}: its scratch copy's name {scratch} is a resource the estate declares — rename "
                           "that resource (a name with -drill- is the drill's), or leave this one out with --only")
    try:
        if drill.missing(clients, spec):
            raise DrillProblem(f"{what}: it does not exist, so there is nothing to compare a restore with — run "
                               "`selfheal apply` first, or leave it out with --only")
        copy = drill.newest_copy(clients, spec)
        if copy is not None and copy.restorable and drill.taken(clients, scratch):
            raise DrillProblem(f"{what}: its scratch copy {scratch} exists already (a drill this minute?) — wait a "
                               f"minute, or delete {scratch} if a drill left it")
    except AWS_ERRORS as exc:
        raise DrillProblem(kind.explain(exc, "drill (reading its copies)", spec.name)) from None
    if copy is None:
        fix = {"table": "turn PITR on (`pitr: true`) or back it up", "bucket": "turn versioning on or select it in "
               "a `backups:` plan"}.get(kind.name, "give it a copy")
        raise DrillProblem(f"{what}: no copy to restore — {fix}, or leave it out with --only")
    if copy.needs_role and not restore_role:
        raise DrillProblem(f"{what}: its newest copy is an AWS Backup recovery point, which AWS Backup restores "
                           "under a role — pass --restore-role ARN (the stack's BackupRestoreRole)")
    return _Planned(spec, drill, copy, scratch)


def _drill(clients: Clients, p: _Planned, restore_role: str | None, poll: float, timeout: float,
           now: Callable[[], datetime], clock: Callable[[], float]) -> DrillResult:
    kind = kind_of(p.spec)
    began = clock()
    result = DrillResult(kind.name, p.spec.name, Outcome.ERROR, copy=p.copy.source, copy_ref=p.copy.ref,
                         copy_age_seconds=p.copy.age_seconds(now()), rto_seconds=getattr(p.spec, "rto_seconds", None))
    made = False
    try:
        if p.copy.restorable:
            result.scratch = p.scratch
            started = clock()
            handle = p.drill.restore(clients, p.spec, p.copy, p.scratch, restore_role)
            made = True
            while not p.drill.restored(clients, p.scratch, handle):
                if clock() - started > timeout:
                    result.outcome = Outcome.RESTORING
                    result.reason = (f"not restored within {timeout:.0f}s: the scratch copy {p.scratch} is left to "
                                     "AWS — delete it once AWS has finished")
                    made = False  # a restore still running cannot be deleted
                    return result
                time.sleep(poll)
            result.restore_seconds = clock() - started
        else:
            result.notes.append(f"{p.copy.what}: nothing to restore elsewhere — version coverage checked instead")
        found = p.drill.verify(clients, p.spec, p.copy, p.scratch if p.copy.restorable else None)
        result.details.update(found.facts)
        result.verified = found.verified
        result.outcome = Outcome.OK if found.verified else Outcome.ERROR
        result.reason = "; ".join(found.problems) if found.problems else f"verified ({p.copy.what})"
    except DrillFailed as exc:
        result.reason = str(exc)
    except AWS_ERRORS as exc:
        result.reason = kind.explain(exc, "drill", p.scratch if made else p.spec.name)
    finally:
        if made:
            try:
                p.drill.remove(clients, p.scratch)
                result.removed = True
            except (*AWS_ERRORS, DrillFailed) as exc:
                why = str(exc) if isinstance(exc, DrillFailed) else kind.explain(exc, "remove", p.scratch)
                result.notes.append(f"the scratch copy {p.scratch} was not removed: {why} — delete it by hand")
        result.duration_s = clock() - began
    if result.rto_exceeded:
        result.notes.append(f"restore took {result.restore_seconds:.0f}s, over the declared rto "
                            f"of {result.rto_seconds:.0f}s")
    return result
