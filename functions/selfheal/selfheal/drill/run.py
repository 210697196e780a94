"""One drill run: every drilled resource checked first (its copy found, its scratch name allowed: reads only, and any
problem stops the run before a write), then each restored, waited for on AWS's clock, verified and removed, side by
side. The report is the report every run gives, action "drill", one DrillResult per resource."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..aws import AWS_ERRORS
from ..kinds import kind_of
from ..model import Outcome, ResourceResult, Trigger, clip
from ..report import Report
from .base import SCRATCH, Copy, DrillFailed, DrillProblem, KindDrill, scratch_name

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
    resume: dict[str, Any] | None = None  # AWS still restoring when the run had to end: what a later run needs

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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DrillResult:
        """A finished drill as `to_dict` wrote it (carried from one invocation of the drill to the next)."""
        return cls(str(d["kind"]), str(d["name"]), Outcome(d["outcome"]), reason=str(d.get("reason", "")),
                   notes=[str(n) for n in d.get("notes") or []], duration_s=float(d.get("duration_s") or 0),
                   details=dict(d.get("details") or {}), copy=d.get("copy"), copy_ref=d.get("copy_ref"),
                   copy_age_seconds=d.get("copy_age_seconds"), restore_seconds=d.get("restore_seconds"),
                   verified=bool(d.get("verified")), scratch=d.get("scratch"), rto_seconds=d.get("rto_seconds"),
                   removed=bool(d.get("removed")))


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
    deadline: float | None = None,
) -> Report:
    """Drill every table and bucket of the estate (or `only` those). Raises DrillProblem for bad input, before any
    write; AWS's own failures during a drill are that resource's error, never another's. `deadline` (a `clock()`
    time): a restore AWS has not finished by then is reported `restoring` with what `resume_drill` needs."""
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
    until = min(t for t in (deadline, started + (timeout_seconds or settings.wait_timeout_seconds)) if t is not None)
    report = Report("drill", trigger)
    with ThreadPoolExecutor(max_workers=min(len(planned), settings.pool_size), thread_name_prefix="drill") as pool:
        report.results = list(pool.map(lambda p: _drill(clients, p, restore_role, poll, until, now, clock), planned))
    report.duration_s = clock() - started
    report.api_calls = clients.call_counts()
    return report


def resume_drill(
    estate: Estate,
    clients: Clients,
    pending: Sequence[Mapping[str, Any]],
    trigger: Trigger = "cli",
    poll_seconds: float | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> Report:
    """Carry on with restores an earlier run left to AWS (its results' `resume`): wait, verify, remove. A restore's
    time is then counted on the wall clock from when it was started. Raises DrillProblem for an entry that is not a
    scratch copy of a declared resource (nothing is written then)."""
    started = clock()
    by_name = {spec.name: spec for spec in estate.resources}
    planned = [(_resumed(entry, by_name), entry) for entry in pending]
    settings = estate.settings
    poll = poll_seconds or settings.poll_seconds
    until = min(t for t in (deadline, started + settings.wait_timeout_seconds) if t is not None)
    report = Report("drill", trigger)

    def carry_on(item: tuple[_Planned, Mapping[str, Any]]) -> DrillResult:
        p, entry = item
        result = _result(p, float(entry["copy_age_seconds"]) if entry.get("copy_age_seconds") is not None else None)
        began = float(entry["started_at"])
        return _finish(clients, p, result, str(entry.get("handle") or ""), poll, until, clock,
                       lambda: wall() - began, began)

    with ThreadPoolExecutor(max_workers=max(1, min(len(planned), settings.pool_size)),
                            thread_name_prefix="drill") as pool:
        report.results = list(pool.map(carry_on, planned))
    report.duration_s = clock() - started
    report.api_calls = clients.call_counts()
    return report


def _resumed(entry: Mapping[str, Any], by_name: Mapping[str, Any]) -> _Planned:
    """An earlier run's pending restore, checked against the estate: a declared resource's scratch copy only."""
    name, scratch = entry.get("name"), entry.get("scratch")
    spec = by_name.get(str(name))
    if spec is None or spec.kind != entry.get("kind") or not isinstance(scratch, str) \
            or not scratch.startswith(f"{name}{SCRATCH}") or kind_of(spec).drill() is None:
        raise DrillProblem(f"resume: {clip(repr(scratch), 80)} is not the scratch copy of a declared table or bucket "
                           "— resume only what a drill of this estate handed over")
    drill = kind_of(spec).drill()
    assert drill is not None
    copy = entry.get("copy") or {}
    taken = copy.get("taken")
    return _Planned(spec, drill, Copy(str(copy.get("source")), str(copy.get("ref")),
                                      None if taken is None else datetime.fromisoformat(str(taken)),
                                      str(copy.get("what", "")), needs_role=bool(copy.get("needs_role")),
                                      owner=copy.get("owner")), scratch)


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
        fix = {"table": "turn PITR on (`pitr: true`) or back it up", "bucket": "turn versioning on, select it in a "
               "`backups:` plan, or declare a replica that exists (`copy_from`)"}.get(kind.name, "give it a copy")
        raise DrillProblem(f"{what}: no copy to restore — {fix}, or leave it out with --only")
    if copy.needs_role and not restore_role:
        raise DrillProblem(f"{what}: its newest copy is an AWS Backup recovery point, which AWS Backup restores "
                           "under a role — pass --restore-role ARN (the stack's BackupRestoreRole)")
    return _Planned(spec, drill, copy, scratch)


def _result(p: _Planned, age: float | None) -> DrillResult:
    kind = kind_of(p.spec)
    return DrillResult(kind.name, p.spec.name, Outcome.ERROR, copy=p.copy.source, copy_ref=p.copy.ref,
                       copy_age_seconds=age, rto_seconds=getattr(p.spec, "rto_seconds", None))


def _drill(clients: Clients, p: _Planned, restore_role: str | None, poll: float, until: float,
           now: Callable[[], datetime], clock: Callable[[], float]) -> DrillResult:
    kind = kind_of(p.spec)
    began = clock()
    result = _result(p, p.copy.age_seconds(now()))
    if not p.copy.restorable:
        result.notes.append(f"{p.copy.what}: nothing to restore elsewhere — version coverage checked instead")
        try:
            _verify(clients, p, result, None)
        except AWS_ERRORS as exc:
            result.reason = kind.explain(exc, "drill", p.spec.name)
        result.duration_s = clock() - began
        return result
    try:
        handle = p.drill.restore(clients, p.spec, p.copy, p.scratch, restore_role)
    except AWS_ERRORS as exc:
        result.reason = kind.explain(exc, "drill (restore)", p.scratch)
        result.duration_s = clock() - began
        return result
    started_at = time.time()
    return _finish(clients, p, result, handle, poll, until, clock, lambda: clock() - began, started_at)


def _finish(clients: Clients, p: _Planned, result: DrillResult, handle: str, poll: float, until: float,
            clock: Callable[[], float], restoring_for: Callable[[], float], started_at: float) -> DrillResult:
    """Wait for AWS (until `until`), verify, remove the scratch copy. `restoring_for`: how long since the restore
    started; `started_at`: when, on the wall clock (for a later run to carry on)."""
    kind = kind_of(p.spec)
    began = clock()
    result.scratch = p.scratch
    made = True
    try:
        while not p.drill.restored(clients, p.scratch, handle):
            if clock() + poll > until:
                made = False  # a restore still running cannot be deleted: a later run carries on
                result.outcome = Outcome.RESTORING
                result.reason = (f"still restoring after {restoring_for():.0f}s: {p.scratch} is left to AWS (a restore "
                                 "cannot be stopped) — the scheduled drill carries on with it in its next invocation; "
                                 "after a CLI drill, delete it once AWS has finished")
                result.resume = {"kind": kind.name, "name": p.spec.name, "scratch": p.scratch, "handle": handle,
                                 "started_at": started_at, "copy_age_seconds": result.copy_age_seconds,
                                 "copy": {"source": p.copy.source, "ref": p.copy.ref, "what": p.copy.what,
                                          "taken": None if p.copy.taken is None else p.copy.taken.isoformat(),
                                          "needs_role": p.copy.needs_role, "owner": p.copy.owner}}
                return result
            time.sleep(poll)
        result.restore_seconds = restoring_for()
        _verify(clients, p, result, p.scratch)
    except DrillFailed as exc:
        result.reason = str(exc)
    except AWS_ERRORS as exc:
        result.reason = kind.explain(exc, "drill", p.scratch)
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


def _verify(clients: Clients, p: _Planned, result: DrillResult, scratch: str | None) -> None:
    found = p.drill.verify(clients, p.spec, p.copy, scratch)
    result.details.update(found.facts)
    result.verified = found.verified
    result.outcome = Outcome.OK if found.verified else Outcome.ERROR
    result.reason = "; ".join(found.problems) if found.problems else f"verified ({p.copy.what})"
