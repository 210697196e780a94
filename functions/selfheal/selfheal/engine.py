"""The engine: observe every declared resource, plan, guard, apply. Resources run in parallel, steps in order."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .apply import Deadline, Deferred, StepFailed, Waits, run_step
from .apply.executor import wait_active
from .aws import AWS_ERRORS, Clients, explain
from .model import Outcome, ResourcePlan, ResourceResult, Step
from .observe import (
    Backup,
    BucketState,
    KeyResolver,
    TableState,
    find_recovery_points,
    observe_account,
    observe_bucket,
    observe_table,
)
from .observe.account import AWS_MANAGED_DYNAMODB_KEY, AccountFacts, OwnedBuckets
from .plan import plan_bucket, plan_table
from .report import Report
from .spec import BucketSpec, Estate, TableSpec, partition_of

log = logging.getLogger(__name__)

TRIGGERS = ("cli", "deploy", "schedule", "manual", "followup", "change")
UNATTENDED = ("schedule", "followup")  # no person started these: the blast-radius guard is on by default
Progress = Callable[[str, str, str], None]  # (event, kind, name)


@dataclass(frozen=True)
class Options:
    """How one run behaves. Every field has a safe default; the faces set what their trigger needs."""

    trigger: str = "cli"
    only: tuple[str, ...] = ()
    time_budget_seconds: float | None = None  # after this, resources not yet started are deferred
    deadline: float | None = None  # absolute time.monotonic() deadline (the Lambda's), wins if earlier
    guard: bool | None = None  # blast-radius guard: None means on for unattended (scheduled, follow-up) runs only
    restore: bool = True  # False: a missing table is created empty even if a backup exists (--no-restore)
    # Restores take 20 minutes to hours. True: wait for them within the budget (the CLI: an operator is watching).
    # False: start them and move on; the run reports them `restoring` and a follow-up run finishes (the Lambda).
    wait_for_restores: bool = True
    restore_role: str | None = None  # the role AWS Backup assumes for StartRestoreJob (None: left to a person)
    pool_size: int | None = None
    poll_seconds: float | None = None
    retry_base_seconds: float = 1.0
    progress: Progress | None = None


class Engine:
    """One engine behind every face: `status()`, `plan()` and `apply()` each return a Report."""

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
        )
        self.pool_size = self.options.pool_size or settings.pool_size
        self.keys = KeyResolver(self.clients)
        self.owned = OwnedBuckets(self.clients)
        self._reads: Any = map  # a run's read pool: one resource's independent reads side by side

    # --- the three actions ----------------------------------------------------------------------------------------

    def status(self) -> Report:
        return self._run("status")

    def plan(self) -> Report:
        return self._run("plan")

    def apply(self) -> Report:
        return self._run("apply")

    # --- the run --------------------------------------------------------------------------------------------------

    def _run(self, action: str) -> Report:
        started = time.monotonic()
        budget = self.options.time_budget_seconds or self.estate.settings.time_budget_seconds
        ends = [t for t in (self.options.deadline, started + budget if budget else None) if t is not None]
        deadline = Deadline(min(ends) if ends else None)
        report = Report(action, self.options.trigger)
        calls_before = self.clients.call_counts()

        with (
            ThreadPoolExecutor(max_workers=self.pool_size, thread_name_prefix="selfheal") as pool,
            ThreadPoolExecutor(max_workers=self.pool_size * 2, thread_name_prefix="selfheal-read") as reads,
        ):
            self._reads = reads.map
            # Account-wide facts are fetched alongside the resources, not before them: only bucket plans wait.
            account_facts = reads.submit(self._observe_account)
            for region in sorted({t.region for t in self.estate.tables if not t.kms_key}):
                reads.submit(self.keys.resolve, AWS_MANAGED_DYNAMODB_KEY, region)
            observed = list(pool.map(lambda spec: self._observe(spec, account_facts), self.estate.resources))
            account = account_facts.result()
            plans = [plan for _, plan in observed]
            report.guard, report.guard_tripped = self._guard(plans, action)
            if action == "apply" and not report.guard_tripped:
                results = list(
                    pool.map(
                        lambda sp: self._apply(sp[0], sp[1][1], account, deadline),
                        zip(self.estate.resources, observed, strict=True),
                    )
                )
            else:
                results = [
                    self._describe(spec, state, plan, action, report.guard_tripped)
                    for spec, (state, plan) in zip(self.estate.resources, observed, strict=True)
                ]
        if account.problem:
            for r in results:
                if r.kind == "bucket":
                    r.notes.append(f"account public access block not checked: {account.problem}")
        report.results = results
        report.duration_s = time.monotonic() - started
        report.api_calls = {k: v - calls_before[k] for k, v in self.clients.call_counts().items()}
        return report

    def _observe_account(self) -> AccountFacts:
        try:
            return observe_account(self.clients, any(b.is_public for b in self.estate.buckets))
        except Exception as exc:  # noqa: BLE001 - reported on the buckets it concerns
            log.exception("observing the account failed")
            return AccountFacts(problem=f"{type(exc).__name__}: {exc}")

    def _observe(self, spec: TableSpec | BucketSpec, account_facts: Future[AccountFacts]) -> tuple[Any, ResourcePlan]:
        self._progress("observe", spec)
        try:
            if isinstance(spec, TableSpec):
                if not self.options.restore:
                    spec = replace(spec, restore=False)
                state: Any = observe_table(self.clients.client("dynamodb", spec.region), spec, self._reads,
                                           recovery_points=lambda: self._recovery_points(spec))
                return state, self._plan_table(spec, state)
            state = observe_bucket(self.clients.client("s3", spec.region), spec, self.owned, self._reads)
            return state, self._plan_bucket(spec, state, account_facts.result())
        except AWS_ERRORS as exc:
            reason = explain(exc, f"reading {spec.kind}", spec.name)
            return None, ResourcePlan(spec.kind, spec.name, exists=True, error=reason)
        except Exception as exc:  # noqa: BLE001 - one resource's surprise must not abort the others
            log.exception("observing %s %s failed", spec.kind, spec.name)
            reason = f"reading {spec.kind} {spec.name} failed unexpectedly: {type(exc).__name__}: {exc}"
            return None, ResourcePlan(spec.kind, spec.name, exists=True, error=reason)

    def _recovery_points(self, spec: TableSpec) -> tuple[Backup, ...]:
        """A missing table's AWS Backup recovery points (its ARN outlives it; ListBackups does not show them)."""
        arn = (f"arn:{partition_of(spec.region)}:dynamodb:{spec.region}:{self.clients.account_id()}"
               f":table/{spec.name}")
        return find_recovery_points(self.clients.client("backup", spec.region), arn)

    def _plan_table(self, spec: TableSpec, state: TableState) -> ResourcePlan:
        declared = self.keys.resolve(spec.kms_key, spec.region) if spec.kms_key else None
        managed = None
        if state.exists and state.sse_type == "KMS" and not spec.kms_key:
            managed = self.keys.resolve(AWS_MANAGED_DYNAMODB_KEY, spec.region)
        return plan_table(spec, state, managed, declared, self.options.restore_role, datetime.now(UTC))

    def _plan_bucket(self, spec: BucketSpec, state: BucketState, account: AccountFacts) -> ResourcePlan:
        declared = self.keys.resolve(spec.kms_key, spec.region) if spec.kms_key else None
        enc = state.aspects.get("encryption") if state.exists else None
        if declared and declared.arn and enc and enc.get("kms_key") not in (None, spec.kms_key, declared.arn):
            # S3 hands back the key as it was given (alias, alias ARN, key id): the same key spelled otherwise is
            # no drift, so compare key ARNs.
            if self.keys.resolve(enc["kms_key"], spec.region).arn == declared.arn:
                state = replace(state, aspects={**state.aspects, "encryption": {**enc, "kms_key": declared.arn}})
        return plan_bucket(spec, state, account, declared)

    def _guard(self, plans: list[ResourcePlan], action: str) -> tuple[str | None, bool]:
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

    def _describe(self, spec: Any, state: Any, plan: ResourcePlan, action: str, held: bool) -> ResourceResult:
        result = ResourceResult(
            spec.kind,
            spec.name,
            Outcome.OK,
            list(plan.changes),
            notes=list(plan.notes),
            details=_details(spec, state) if action == "status" else {},
        )
        result.outcome, result.reason = classify_plan(plan, held)
        return result

    # --- apply one resource ---------------------------------------------------------------------------------------

    def _apply(self, spec: Any, plan: ResourcePlan, account: AccountFacts, deadline: Deadline) -> ResourceResult:
        started = time.monotonic()
        result = ResourceResult(spec.kind, spec.name, Outcome.OK, notes=list(plan.notes))
        try:
            self._apply_plan(spec, plan, account, deadline, result)
            if result.outcome is Outcome.RESTORED and isinstance(spec, TableSpec):
                result.details["items"] = self._item_count(spec)  # for the message: what came back
        except Exception as exc:  # noqa: BLE001 - one resource's surprise must not abort the others
            log.exception("applying %s %s failed", spec.kind, spec.name)
            result.outcome = Outcome.ERROR
            result.reason = (f"failed unexpectedly: {type(exc).__name__}: {exc}"
                             + (f" (done before that: {_done(result)})" if result.changes else ""))
        finally:
            result.duration_s = time.monotonic() - started
            self._progress("done", spec)
        return result

    def _apply_plan(
        self, spec: Any, plan: ResourcePlan, account: AccountFacts, deadline: Deadline, result: ResourceResult
    ) -> None:
        if plan.in_sync:
            return
        if plan.error and not plan.steps:
            result.outcome, result.reason = Outcome.ERROR, plan.error
            return
        run = Run(progress=list(plan.progress), restoring=plan.restoring)
        if not plan.exists or any(not s.is_wait for s in plan.steps) or self.options.wait_for_restores:
            if deadline.expired:
                result.outcome = Outcome.DEFERRED
                result.reason = "time budget ran out before this resource was started: the next run carries on"
                return
            self._progress("apply", spec)
            self._steps(plan.steps, deadline, result, run)
        # else: only AWS's slow work (a restore under way) is left: a follow-up run waits for it, not this one.
        if plan.exists and plan.progress and not plan.then_reconcile and isinstance(spec, TableSpec):
            self._follow_index_builds(spec, deadline, result, run)  # an ACTIVE table with an index being built
        conflicts = list(plan.conflicts)
        started_restore = any(s.operation in RESTORES for s in plan.steps) and bool(result.changes)
        if started_restore:
            run.restoring = True
            source = str(result.changes[0].new).removeprefix("restored from ")
            run.progress.append(f"restoring from {source}, started now: AWS takes 20 minutes to hours — PITR, "
                                "deletion protection, TTL, stream and tags follow once it is ACTIVE")
        resumed = plan.exists and plan.then_reconcile  # a table AWS was still creating when observed
        may_reconcile = not run.failures and run.deferred is None and (self.options.wait_for_restores
                                                                       or not run.restoring)
        if plan.then_reconcile and may_reconcile and (not resumed or run.waited):
            # Created or restored: observe it again and repair what CreateTable/RestoreTableFromBackup cannot carry.
            again = self._reconcile(spec, account, deadline, result, run)
            if again is not None:
                conflicts += [c for c in again.conflicts if c not in conflicts]
                result.notes += [n for n in again.notes if n not in result.notes]
                if again.exists:
                    self._steps(again.steps, deadline, result, run)
                if again.error:
                    run.failures.append(again.error)
                run.progress = list(again.progress)
                run.restoring = again.restoring
        if plan.error:
            run.failures.insert(0, plan.error)
        result.outcome, result.reason = classify_run(plan, run, conflicts, result.changes)

    def _item_count(self, spec: TableSpec) -> int | None:
        """DynamoDB's item count of a table (AWS refreshes it about every six hours; a restore sets it)."""
        try:
            desc = self.clients.client("dynamodb", spec.region).describe_table(TableName=spec.name)["Table"]
        except AWS_ERRORS:
            return None
        count = desc.get("ItemCount")
        return int(count) if isinstance(count, int) else None

    def _follow_index_builds(self, spec: TableSpec, deadline: Deadline, result: ResourceResult, run: Run) -> None:
        """After an index build started (or was found), look again: the build may be done (a small table), and then
        the next declared index can start in this run. Never waits for a backfill."""
        for _ in range(len(spec.gsis)):
            if run.failures or run.deferred or deadline.expired:
                return
            try:
                again = self._plan_table(spec, observe_table(self.clients.client("dynamodb", spec.region), spec))
            except AWS_ERRORS as exc:
                run.failures.append(explain(exc, "reading it back", spec.name))
                return
            run.progress = list(again.progress)
            if not again.progress or not again.steps or again.then_reconcile:
                return
            self._steps(again.steps, deadline, result, run)

    def _reconcile(
        self, spec: Any, account: AccountFacts, deadline: Deadline, result: ResourceResult, run: Run
    ) -> ResourcePlan | None:
        """Observe a resource just created or restored once AWS is done with it, and plan what is left."""
        try:
            if isinstance(spec, TableSpec):
                client = self.clients.client("dynamodb", spec.region)
                wait_active(client, spec.name, self.waits, deadline)
                return self._plan_table(spec, observe_table(client, spec))
            state = observe_bucket(self.clients.client("s3", spec.region), spec)
            return self._plan_bucket(spec, state, account)
        except Deferred as exc:
            if run.restoring or run.progress:
                run.progress.append(str(exc))
            else:
                run.deferred = f"{_done(result)}; {exc}"
        except (StepFailed, *AWS_ERRORS) as exc:
            run.failures.append(getattr(exc, "reason", None) or explain(exc, "reading it back", spec.name))
        return None

    def _steps(self, steps: tuple[Step, ...], deadline: Deadline, result: ResourceResult, run: Run) -> None:
        """Run steps in order; record what changed. A failed write does not stop the independent ones after it."""
        for i, step in enumerate(steps):
            if deadline.expired:
                left = [str(c) for s in steps[i:] for c in s.changes]
                run.deferred = (
                    f"time budget ran out after {i} of {len(steps)} steps; done: {_done(result)}; "
                    f"not done: {', '.join(left) or 'waits only'} — the next run carries on"
                )
                return
            try:
                if step.is_wait:
                    self._progress("wait", result)
                note = run_step(self.clients, step, self.waits, deadline)
            except Deferred as exc:
                if step.operation == "wait_active" and run.progress:
                    run.progress.append(str(exc))  # AWS's own slow work (a restore), not this run's lateness
                else:
                    run.deferred = f"{exc}; done: {_done(result)}"
                return
            except StepFailed as exc:
                run.failures.append(exc.reason)
                if step.is_wait or step.operation in CREATES:
                    return  # what follows depends on this step
                continue
            if step.operation == "wait_active":
                run.waited = True
            if note:
                result.notes.append(note)
            result.changes += step.changes

    # --- bookkeeping ----------------------------------------------------------------------------------------------

    def _progress(self, event: str, spec: Any) -> None:
        if self.options.progress:
            self.options.progress(event, spec.kind, spec.name)


RESTORES = ("restore_table_from_backup", "start_restore_job")
CREATES = ("create_table", "create_bucket", *RESTORES)


@dataclass
class Run:
    """What applying one resource's plan came to, before it is classified."""

    failures: list[str] = field(default_factory=list)
    deferred: str | None = None  # the run's own time ran out
    progress: list[str] = field(default_factory=list)  # AWS's slow work still going on
    restoring: bool = False
    waited: bool = False  # a wait for ACTIVE finished in this run


def classify_plan(plan: ResourcePlan, held: bool = False) -> tuple[Outcome, str]:
    """The outcome of a resource that is looked at, not changed (status, plan, a run the guard held)."""
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
        if first and first.path in ("table", "bucket"):
            return Outcome.PENDING, f"would be {first.new}"
        return Outcome.PENDING, f"{len(plan.changes)} change(s) pending"
    return Outcome.OK, ""


def classify_run(plan: ResourcePlan, run: Run, conflicts: list[str], changes: list[Any]) -> tuple[Outcome, str]:
    """The outcome of applying a plan: failures first, then conflicts, lateness, AWS's slow work, then the heal."""
    done = ", ".join(str(c) for c in changes) or "nothing"
    if run.failures:
        return Outcome.ERROR, "; ".join(run.failures) + (f" (done before that: {done})" if changes else "")
    if conflicts:
        return Outcome.CONFLICT, "; ".join(conflicts)
    if run.deferred:
        return Outcome.DEFERRED, run.deferred
    if run.progress:
        return (Outcome.RESTORING if run.restoring else Outcome.IN_PROGRESS), "; ".join(run.progress)
    main = next((s for s in plan.steps if not s.is_wait), None)
    if plan.then_reconcile and not plan.exists and main is not None and main.operation in CREATES and changes:
        return (Outcome.RESTORED if main.operation in RESTORES else Outcome.CREATED), str(changes[0].new)
    if (plan.then_reconcile and plan.restoring) or (plan.restored_from and changes):
        return Outcome.RESTORED, f"restore finished; {len(changes)} setting(s) set" if changes else "restore finished"
    if changes:
        return Outcome.REPAIRED, f"{len(changes)} setting(s) repaired"
    return Outcome.OK, ""


def _done(result: ResourceResult) -> str:
    return ", ".join(str(c) for c in result.changes) or "nothing"


def _details(spec: Any, state: Any) -> dict[str, Any]:
    """Facts for `status`: what a person looks at first."""
    if state is None:
        return {}
    if isinstance(state, TableState):
        if not state.exists:
            return {"status": "MISSING", "backups": len(state.backups)}
        return {
            "status": state.status,
            "items": state.item_count,
            "billing": "on-demand"
            if state.billing == "PAY_PER_REQUEST"
            else f"provisioned {state.read_capacity}/{state.write_capacity}",
            "encryption": "aws-owned"
            if state.sse_type is None
            else ("kms" if state.sse_type == "KMS" else state.sse_type),
            "pitr": state.pitr,
            "deletion_protection": state.deletion_protection,
            "indexes": len(state.gsis) + len(state.lsis),
            "ttl": state.ttl_attribute if state.ttl_status == "ENABLED" else None,
        }
    if not state.exists:
        return {"status": "FOREIGN" if state.foreign else "MISSING"}
    a = state.aspects
    bpa = a.get("public_access_block") or {}
    enc = a.get("encryption") or {}
    return {
        "status": "EXISTS",
        "region": state.region,
        "public_access_block": f"{sum(bool(v) for v in bpa.values())}/4 on",
        "encryption": {"AES256": "sse-s3", "aws:kms": "sse-kms"}.get(enc.get("algorithm"), "none"),
        "versioning": a.get("versioning"),
        "website": bool(a.get("website")),
        "policy": [s.get("Sid") for s in (a.get("policy") or {}).get("Statement", [])] if "policy" in a else None,
        "cors_rules": len(a.get("cors") or []) if "cors" in a else None,
        "lifecycle_rules": len((a.get("lifecycle") or {}).get("rules") or []) if "lifecycle" in a else None,
    }


__all__ = ["Engine", "Options", "Report"]
