"""The engine: observe every declared resource, plan, guard, apply. Resources run in parallel, steps in order."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from .apply import Deadline, Deferred, StepFailed, Waits, run_step
from .apply.executor import wait_active
from .aws import AWS_ERRORS, Clients, explain
from .model import Outcome, ResourcePlan, ResourceResult, Step
from .observe import BucketState, KeyResolver, TableState, observe_account, observe_bucket, observe_table
from .observe.account import AWS_MANAGED_DYNAMODB_KEY, AccountFacts, OwnedBuckets
from .plan import plan_bucket, plan_table
from .report import Report
from .spec import BucketSpec, Estate, TableSpec

log = logging.getLogger(__name__)

TRIGGERS = ("cli", "deploy", "schedule", "manual")
Progress = Callable[[str, str, str], None]  # (event, kind, name)


@dataclass(frozen=True)
class Options:
    """How one run behaves. Every field has a safe default; the faces set what their trigger needs."""

    trigger: str = "cli"
    only: tuple[str, ...] = ()
    time_budget_seconds: float | None = None  # after this, resources not yet started are deferred
    deadline: float | None = None  # absolute time.monotonic() deadline (the Lambda's), wins if earlier
    guard: bool | None = None  # blast-radius guard: None means on for scheduled runs only
    restore: bool = True  # False: a missing table is created empty even if a backup exists (--no-restore)
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
                state: Any = observe_table(self.clients.client("dynamodb", spec.region), spec, self._reads)
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

    def _plan_table(self, spec: TableSpec, state: TableState) -> ResourcePlan:
        declared = self.keys.resolve(spec.kms_key, spec.region) if spec.kms_key else None
        managed = None
        if state.exists and state.sse_type == "KMS" and not spec.kms_key:
            managed = self.keys.resolve(AWS_MANAGED_DYNAMODB_KEY, spec.region)
        return plan_table(spec, state, managed, declared)

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
        on = self.options.guard if self.options.guard is not None else self.options.trigger == "schedule"
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
        if plan.error and not plan.steps:
            result.outcome, result.reason = Outcome.ERROR, plan.error
        elif plan.conflicts:
            result.outcome, result.reason = Outcome.CONFLICT, "; ".join(plan.conflicts)
        elif plan.error:
            result.outcome, result.reason = Outcome.ERROR, plan.error
        elif held and not plan.in_sync:
            result.outcome, result.reason = Outcome.DEFERRED, "held by the blast-radius guard"
        elif not plan.in_sync:
            result.outcome = Outcome.PENDING
            first = plan.steps[0].changes[0] if plan.steps and plan.steps[0].changes else None
            result.reason = (
                f"would be {first.new}"
                if first and first.path in ("table", "bucket")
                else (f"{len(result.changes)} change(s) pending")
            )
        return result

    # --- apply one resource ---------------------------------------------------------------------------------------

    def _apply(self, spec: Any, plan: ResourcePlan, account: AccountFacts, deadline: Deadline) -> ResourceResult:
        started = time.monotonic()
        result = ResourceResult(spec.kind, spec.name, Outcome.OK, notes=list(plan.notes))
        try:
            self._apply_plan(spec, plan, account, deadline, result)
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
        if deadline.expired:
            result.outcome = Outcome.DEFERRED
            result.reason = "time budget ran out before this resource was started: the next run carries on"
            return
        self._progress("apply", spec)
        failures = self._steps(plan.steps, deadline, result)
        conflicts = list(plan.conflicts)
        if plan.then_reconcile and not failures and result.outcome is not Outcome.DEFERRED:
            # Created or restored: observe it again and repair what CreateTable/RestoreTableFromBackup cannot carry.
            try:
                if isinstance(spec, TableSpec):
                    wait_active(self.clients.client("dynamodb", spec.region), spec.name, self.waits, deadline)
                    state: Any = observe_table(self.clients.client("dynamodb", spec.region), spec)
                    again = self._plan_table(spec, state)
                else:
                    state = observe_bucket(self.clients.client("s3", spec.region), spec)
                    again = self._plan_bucket(spec, state, account)
            except Deferred as exc:
                result.outcome, result.reason = Outcome.DEFERRED, f"{_done(result)}; {exc}"
                return
            except (StepFailed, *AWS_ERRORS) as exc:
                failures.append(getattr(exc, "reason", None) or explain(exc, "reading it back", spec.name))
                again = None
            if again is not None:
                conflicts += [c for c in again.conflicts if c not in conflicts]
                result.notes += [n for n in again.notes if n not in result.notes]
                if again.exists:
                    failures += self._steps(again.steps, deadline, result)
                if again.error:
                    failures.append(again.error)
        if result.outcome is Outcome.DEFERRED:
            return
        if plan.error:
            failures.insert(0, plan.error)
        if failures:
            result.outcome = Outcome.ERROR
            result.reason = "; ".join(failures) + (f" (done before that: {_done(result)})" if result.changes else "")
        elif conflicts:
            result.outcome, result.reason = Outcome.CONFLICT, "; ".join(conflicts)
        elif plan.then_reconcile:
            restored = plan.steps[0].operation == "restore_table_from_backup"
            result.outcome = Outcome.RESTORED if restored else Outcome.CREATED
            result.reason = str(plan.steps[0].changes[0].new)
        elif result.changes:
            result.outcome, result.reason = Outcome.REPAIRED, f"{len(result.changes)} setting(s) repaired"

    def _steps(self, steps: tuple[Step, ...], deadline: Deadline, result: ResourceResult) -> list[str]:
        """Run steps in order; record what changed. A failed write does not stop the independent ones after it."""
        failures: list[str] = []
        for i, step in enumerate(steps):
            if deadline.expired:
                left = [str(c) for s in steps[i:] for c in s.changes]
                result.outcome = Outcome.DEFERRED
                result.reason = (
                    f"time budget ran out after {i} of {len(steps)} steps; done: {_done(result)}; "
                    f"not done: {', '.join(left) or 'waits only'} — the next run carries on"
                )
                return failures
            try:
                if step.is_wait:
                    self._progress("wait", result)
                note = run_step(self.clients, step, self.waits, deadline)
            except Deferred as exc:
                result.outcome = Outcome.DEFERRED
                result.reason = f"{exc}; done: {_done(result)}"
                return failures
            except StepFailed as exc:
                failures.append(exc.reason)
                if step.is_wait or step.operation in ("create_table", "restore_table_from_backup", "create_bucket"):
                    return failures  # what follows depends on this step
                continue
            if note:
                result.notes.append(note)
            result.changes += step.changes
        return failures

    # --- bookkeeping ----------------------------------------------------------------------------------------------

    def _progress(self, event: str, spec: Any) -> None:
        if self.options.progress:
            self.options.progress(event, spec.kind, spec.name)


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
