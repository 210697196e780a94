"""The engine: observe every declared resource, plan, guard, apply. Resources run in parallel, steps in order.

It orchestrates only — pools, the deadline, the guard, the order of steps. What a resource is and how it is read,
planned and created belongs to its kind (selfheal/kinds); which outcome it gets, to `outcome.classify`; what one run
shares (clients, keys, account facts, the read pool), to its `RunContext`. An Engine keeps no per-run state: two runs
of one Engine do not meet.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, get_args

from .apply import Deadline, Deferred, StepFailed, Waits, run_step
from .aws import AWS_ERRORS, Clients, count_run_calls
from .context import RunContext
from .kinds import Kind, kind_of, kinds
from .model import Action, Outcome, Progress, ResourcePlan, ResourceResult, Step, Trigger
from .outcome import Attempt, classify, listed
from .plan.objective import judge
from .report import Report
from .spec import Estate

log = logging.getLogger(__name__)

TRIGGERS: tuple[Trigger, ...] = get_args(Trigger)
UNATTENDED: tuple[Trigger, ...] = ("schedule", "followup")  # no person started these: the guard is on by default


@dataclass(frozen=True)
class Options:
    """How one run behaves. Every field has a safe default; the faces set what their trigger needs."""

    trigger: Trigger = "cli"
    only: tuple[str, ...] = ()
    time_budget_seconds: float | None = None  # after this, resources not yet started are deferred
    deadline: float | None = None  # absolute time.monotonic() deadline (the Lambda's), wins if earlier
    guard: bool | None = None  # blast-radius guard: None means on for unattended (scheduled, follow-up) runs only
    restore: bool = True  # False: a missing resource is created empty even if a copy exists (--no-restore)
    # Restores take 20 minutes to hours. True: wait for them within the budget (the CLI: an operator is watching).
    # False: start them and move on; the run reports them `restoring` and a follow-up run finishes (the Lambda).
    wait_for_restores: bool = True
    restore_role: str | None = None  # the role AWS Backup assumes for StartRestoreJob (None: left to a person)
    pool_size: int | None = None
    poll_seconds: float | None = None
    retry_base_seconds: float = 1.0
    progress: Progress | None = None


Observed = tuple[Any, ResourcePlan]  # a resource's state (None when it could not be read) and its plan


class Engine:
    """One engine behind every face: `run(action)` returns a Report; `status()`, `plan()` and `apply()` name one."""

    def __init__(self, estate: Estate, clients: Clients | None = None, options: Options | None = None) -> None:
        self.options = options or Options()
        if self.options.trigger not in TRIGGERS:
            raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}")
        self.estate = estate.only(self.options.only)
        self.clients = clients or Clients()
        settings = self.estate.settings
        self.waits = Waits(
            poll_seconds=self.options.poll_seconds or settings.poll_seconds,
            timeout_seconds=settings.wait_timeout_seconds,
            retry_base_seconds=self.options.retry_base_seconds,
            restores=self.options.wait_for_restores,
        )
        self.pool_size = self.options.pool_size or settings.pool_size

    # --- the three actions ----------------------------------------------------------------------------------------

    def status(self) -> Report:
        return self.run("status")

    def plan(self) -> Report:
        return self.run("plan")

    def apply(self) -> Report:
        return self.run("apply")

    # --- the run --------------------------------------------------------------------------------------------------

    def run(self, action: Action) -> Report:
        """Read every declared resource and plan it; `apply` also carries the plans out (unless the guard holds)."""
        started = time.monotonic()
        budget = self.options.time_budget_seconds or self.estate.settings.time_budget_seconds
        ends = [t for t in (self.options.deadline, started + budget if budget else None) if t is not None]
        report = Report(action, self.options.trigger)
        calls = {"reads": 0, "writes": 0}  # this run's own, counted by its pools' threads
        resources = self.estate.resources

        with (
            ThreadPoolExecutor(max_workers=self.pool_size, thread_name_prefix="selfheal",
                               initializer=count_run_calls, initargs=(calls,)) as pool,
            ThreadPoolExecutor(max_workers=self.pool_size * 2, thread_name_prefix="selfheal-read",
                               initializer=count_run_calls, initargs=(calls,)) as reads,
        ):
            ctx = RunContext(self.clients, self.waits, Deadline(min(ends) if ends else None),
                             restore=self.options.restore, restore_role=self.options.restore_role,
                             copies=self.estate.copies, reads=reads.map, submit=reads.submit)
            for kind in kinds():  # shared reads (account facts, key ARNs) start alongside the resources
                kind.prefetch(ctx, [r for r in resources if r.kind == kind.name])
            observed = list(pool.map(lambda spec: self._observe(ctx, spec), resources))
            report.guard, report.guard_tripped = self._guard([plan for _, plan in observed], action)
            if action == "apply" and not report.guard_tripped:
                results = list(pool.map(lambda so: self._apply(ctx, so[0], so[1][1]),
                                        zip(resources, observed, strict=True)))
            else:
                results = [self._describe(spec, state, plan, action, report.guard_tripped)
                           for spec, (state, plan) in zip(resources, observed, strict=True)]
            for kind in kinds():
                kind.finish(ctx, [r for r in results if r.kind == kind.name])
        report.results = results
        report.duration_s = time.monotonic() - started
        report.api_calls = dict(calls)
        return report

    def _observe(self, ctx: RunContext, spec: Any) -> Observed:
        self._progress("observe", spec)
        kind = kind_of(spec)
        try:
            state = kind.observe(ctx, spec)
            plan = kind.plan(ctx, spec, state)
        except AWS_ERRORS as exc:
            reason = kind.explain(exc, f"reading {spec.kind}", spec.name)
            return None, ResourcePlan(spec.kind, spec.name, exists=True, error=reason)
        except Exception as exc:  # noqa: BLE001 - one resource's surprise must not abort the others
            log.exception("observing %s %s failed", spec.kind, spec.name)
            reason = f"reading {spec.kind} {spec.name} failed unexpectedly: {type(exc).__name__}: {exc}"
            return None, ResourcePlan(spec.kind, spec.name, exists=True, error=reason)
        try:  # what a deletion now would lose: told, never a reason to fail the resource
            recovery = kind.recovery(ctx, spec, state)
            plan = replace(plan, recovery=recovery)
            goal = kind.objective(spec)
            if goal is not None and recovery is not None and state.exists and not plan.restoring:
                after, repair = kind.after_apply(ctx, spec, state, plan, recovery.copies)
                plan = judge(plan, goal, recovery.copies, after, kind.copy_fix, recovery.recoverable_to, ctx.now(),
                             repair)
            elif goal is not None:  # missing or being restored, it comes back as declared: only what the estate
                # itself contradicts
                declared = ctx.copies_of(spec)
                plan = judge(plan, goal, declared, declared, kind.copy_fix, None, ctx.now(), "")
            return state, plan
        except Exception as exc:  # noqa: BLE001 - the plan stands without it
            log.warning("reading what a deletion of %s %s would lose failed: %s", spec.kind, spec.name, exc)
            return state, replace(plan, notes=(*plan.notes, f"recoverability not read: {type(exc).__name__}: {exc}"))

    def _guard(self, plans: list[ResourcePlan], action: Action) -> tuple[str | None, bool]:
        """Scheduled runs that find too much missing stop: the likely cause is the wrong account or region."""
        total = len(plans)
        missing = sum(1 for p in plans if not p.exists and p.error is None)
        limit = self.estate.settings.max_missing_percent
        if not total or missing * 100 <= limit * total:
            return None, False
        on = self.options.guard if self.options.guard is not None else self.options.trigger in UNATTENDED
        share = f"{missing} of {total} declared resources are missing ({missing * 100 // total}% > {limit:g}%)"
        if on and action == "apply":
            return (
                f"blast-radius guard: {share} — wrong account or region? Nothing was changed; heal on purpose "
                "with `selfheal apply` or a deploy, or raise settings.max_missing_percent"
            ), True
        return (
            f"blast-radius guard: {share}; a scheduled run would stop here, this {self.options.trigger} run goes ahead",
            False,
        )

    # --- results without writes (status, plan, a tripped guard) ---------------------------------------------------

    @staticmethod
    def _describe(spec: Any, state: Any, plan: ResourcePlan, action: Action, held: bool) -> ResourceResult:
        outcome, reason = classify(plan, held=held)
        details = kind_of(spec).details(spec, state) if action == "status" else {}
        return ResourceResult(spec.kind, spec.name, outcome, list(plan.changes), reason, list(plan.notes),
                              details=details, recovery=plan.recovery)

    # --- apply one resource ---------------------------------------------------------------------------------------

    def _apply(self, ctx: RunContext, spec: Any, plan: ResourcePlan) -> ResourceResult:
        started = time.monotonic()
        kind = kind_of(spec)
        result = ResourceResult(spec.kind, spec.name, Outcome.OK, notes=list(plan.notes), recovery=plan.recovery)
        try:
            attempt = self._apply_plan(ctx, kind, spec, plan, result)
            if attempt is not None:
                result.changes = attempt.changes
                result.outcome, result.reason = classify(plan, attempt, creates=kind.creates, restores=kind.restores)
                result.details.update(kind.applied_details(ctx, spec, result.outcome))
        except Exception as exc:  # noqa: BLE001 - one resource's surprise must not abort the others
            log.exception("applying %s %s failed", spec.kind, spec.name)
            result.outcome = Outcome.ERROR
            result.reason = (f"failed unexpectedly: {type(exc).__name__}: {exc}"
                             + (f" (done before that: {listed(result.changes)})" if result.changes else ""))
        finally:
            result.duration_s = time.monotonic() - started
            self._progress("done", spec)
        return result

    def _apply_plan(self, ctx: RunContext, kind: Kind[Any, Any], spec: Any, plan: ResourcePlan,
                    result: ResourceResult) -> Attempt | None:
        """Carry out a plan; None when there was nothing to do (in sync) or it cannot be healed (result set)."""
        if plan.in_sync:
            return None
        if plan.error and not plan.steps:
            result.outcome, result.reason = Outcome.ERROR, plan.error
            return None
        # Only AWS's slow work left (a restore under way) and not waiting for it: a follow-up run waits, not this one.
        starts = not plan.exists or any(not s.is_wait for s in plan.steps) or self.options.wait_for_restores
        if starts and ctx.deadline.expired:  # not started: what it would meet (conflicts included) is the next run's
            return Attempt(deferred="time budget ran out before this resource was started: the next run carries on")
        attempt = Attempt(changes=result.changes, conflicts=list(plan.conflicts), progress=list(plan.progress),
                          restoring=plan.restoring)
        if starts:
            self._progress("apply", spec)
            self._steps(ctx, kind, plan.steps, result, attempt)
        if plan.exists and plan.progress and not plan.then_reconcile:
            self._follow_progress(ctx, kind, spec, result, attempt)  # e.g. an index being built on a live resource
        started_restore = any(s.operation in kind.restores for s in plan.steps) and bool(attempt.changes)
        if started_restore:
            attempt.restoring = True
            attempt.progress.append(kind.restore_started(attempt.changes))
        resumed = plan.exists and plan.then_reconcile  # a resource AWS was still creating when observed
        # A restore this run waited out (a bucket's objects copied back) is over: its resource is read again.
        may_reconcile = not attempt.failures and attempt.deferred is None and (self.options.wait_for_restores
                                                                               or not attempt.restoring
                                                                               or attempt.waited)
        if plan.then_reconcile and may_reconcile and (not resumed or attempt.waited):
            # Created or restored: observe it again and repair what the create or restore cannot carry.
            again = self._reconcile(ctx, kind, spec, attempt)
            if again is not None:
                attempt.conflicts += [c for c in again.conflicts if c not in attempt.conflicts]
                result.notes += [n for n in again.notes if n not in result.notes]
                # Its restore is carried on by this plan (a recreated bucket refilled): a wait that runs out is the
                # restore's slow work, and one that finishes ends it.
                carried = again.restoring and again.then_reconcile and again.exists
                if carried:
                    attempt.progress, attempt.restoring, attempt.waited = list(again.progress), True, False
                if again.exists:
                    self._steps(ctx, kind, again.steps, result, attempt)
                if again.error:
                    attempt.failures.append(again.error)
                if carried and attempt.waited and not attempt.failures and attempt.deferred is None:
                    attempt.progress, attempt.restoring, attempt.restored = [], False, True
                else:
                    attempt.progress = list(again.progress) if not carried else attempt.progress
                    attempt.restoring = again.restoring
        elif (plan.exists and not plan.then_reconcile and attempt.changes
              and not (attempt.failures or attempt.deferred or attempt.progress or attempt.conflicts)):
            self._read_back(ctx, kind, spec, attempt)
        if plan.error:
            attempt.failures.insert(0, plan.error)
        return attempt

    def _read_back(self, ctx: RunContext, kind: Kind[Any, Any], spec: Any, attempt: Attempt) -> None:
        """A repair counts once a read shows AWS has it: what a read still shows otherwise is in progress (the next
        run looks again), never reported repaired on the strength of a write's 200 alone."""
        try:
            again = kind.plan(ctx, spec, kind.observe_again(ctx, spec))
        except Deferred as exc:
            attempt.progress.append(str(exc))
            return
        except (StepFailed, *AWS_ERRORS) as exc:
            attempt.failures.append(getattr(exc, "reason", None) or kind.explain(exc, "reading it back", spec.name))
            return
        done = {c.path for c in attempt.changes}
        unseen = [c for c in again.changes if c.path in done]
        if unseen:
            attempt.progress.append(f"written but not yet shown by AWS: {listed(unseen)} — the next run reads it again")

    def _follow_progress(self, ctx: RunContext, kind: Kind[Any, Any], spec: Any, result: ResourceResult,
                         attempt: Attempt) -> None:
        """After AWS's slow work started (or was found), look again: it may be done (a small index built), and then the
        next piece can start in this run. Never waits for it."""
        for _ in range(kind.progress_rounds(spec)):
            if attempt.failures or attempt.deferred or ctx.deadline.expired:
                return
            try:
                again = kind.plan(ctx, spec, kind.observe(ctx, spec))
            except AWS_ERRORS as exc:
                attempt.failures.append(kind.explain(exc, "reading it back", spec.name))
                return
            attempt.progress = list(again.progress)
            if not again.progress or not again.steps or again.then_reconcile:
                return
            self._steps(ctx, kind, again.steps, result, attempt)

    def _reconcile(self, ctx: RunContext, kind: Kind[Any, Any], spec: Any, attempt: Attempt) -> ResourcePlan | None:
        """Observe a resource just created or restored once AWS is done with it, and plan what is left."""
        try:
            return kind.plan(ctx, spec, kind.observe_again(ctx, spec))
        except Deferred as exc:
            if attempt.restoring or attempt.progress:
                attempt.progress.append(str(exc))
            else:
                attempt.deferred = f"{listed(attempt.changes)}; {exc}"
        except (StepFailed, *AWS_ERRORS) as exc:
            attempt.failures.append(getattr(exc, "reason", None) or kind.explain(exc, "reading it back", spec.name))
        return None

    def _steps(self, ctx: RunContext, kind: Kind[Any, Any], steps: tuple[Step, ...], result: ResourceResult,
               attempt: Attempt) -> None:
        """Run steps in order; record what changed. A failed write does not stop the independent ones after it."""
        for i, step in enumerate(steps):
            if ctx.deadline.expired:
                left = [str(c) for s in steps[i:] for c in s.changes]
                attempt.deferred = (
                    f"time budget ran out after {i} of {len(steps)} steps; done: {listed(attempt.changes)}; "
                    f"not done: {', '.join(left) or 'waits only'} — the next run carries on"
                )
                return
            try:
                if step.is_wait:
                    self._progress("wait", result)
                note = run_step(ctx.clients, step, ctx.waits, ctx.deadline, kind)
            except Deferred as exc:
                if step.operation in kind.aws_waits and attempt.progress:
                    attempt.progress.append(str(exc))  # AWS's own slow work (a restore), not this run's lateness
                else:
                    attempt.deferred = f"{exc}; done: {listed(attempt.changes)}"
                return
            except StepFailed as exc:
                attempt.failures.append(exc.reason)
                if step.is_wait or step.operation in kind.creates:
                    return  # what follows depends on this step
                continue
            if step.operation in kind.aws_waits:
                attempt.waited = True
            if note:
                result.notes.append(note)
            attempt.changes += step.changes

    # --- bookkeeping ----------------------------------------------------------------------------------------------

    def _progress(self, event: str, resource: Any) -> None:
        if self.options.progress:
            self.options.progress(event, resource.kind, resource.name)


__all__ = ["TRIGGERS", "UNATTENDED", "Engine", "Options", "Report"]
