"""S3 buckets: created with every declared aspect, aspects repaired by merging into what is there."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from ..apply.executor import Deadline, Waits, wait_bucket
from ..model import ResourcePlan, ResourceResult, Step
from ..observe.account import AccountFacts, observe_account
from ..observe.buckets import BucketState, observe_bucket
from ..plan.buckets import plan_bucket
from ..spec import BucketSpec
from .base import Column, Kind

if TYPE_CHECKING:
    from ..context import RunContext
    from ..loader import EstateParser

log = logging.getLogger(__name__)
ACCOUNT = "account"  # the run's shared fact: the account-level public access block


class BucketKind(Kind[BucketSpec, BucketState]):
    name = "bucket"
    section = "buckets"
    title = "S3 buckets"
    spec_type = BucketSpec
    services = ("s3",)
    creates = ("create_bucket",)
    already_done: ClassVar[Mapping[str, frozenset[str]]] = {"create_bucket": frozenset({"BucketAlreadyOwnedByYou"})}
    columns = (
        Column("region", "region"),
        Column("public access block", "public_access_block"),
        Column("encryption", "encryption"),
        Column("versioning", "versioning"),
        Column("website", "website", "switch"),
        Column("policy", "policy", "names"),
        Column("CORS", "cors_rules"),
        Column("lifecycle", "lifecycle_rules"),
    )

    def load(self, parser: EstateParser, raw: Any, path: str, region: str) -> BucketSpec:
        return parser.bucket(raw, path, region)

    def prefetch(self, ctx: RunContext, specs: Sequence[BucketSpec]) -> None:
        # Read alongside the buckets, not before them: only a bucket's plan waits for it.
        public = any(b.is_public for b in specs)
        ctx.start(ACCOUNT, lambda: _account(ctx, public))

    def observe(self, ctx: RunContext, spec: BucketSpec) -> BucketState:
        return observe_bucket(ctx.clients.s3(spec.region), spec, ctx.owned_buckets, ctx.reads)

    def observe_again(self, ctx: RunContext, spec: BucketSpec) -> BucketState:
        return observe_bucket(ctx.clients.s3(spec.region), spec)

    def plan(self, ctx: RunContext, spec: BucketSpec, state: BucketState) -> ResourcePlan:
        account = ctx.fact(ACCOUNT, lambda: _account(ctx, spec.is_public))
        declared = ctx.key(spec.kms_key, spec.region) if spec.kms_key else None
        enc = state.aspects.get("encryption") if state.exists else None
        if declared and declared.arn and enc and enc.get("kms_key") not in (None, spec.kms_key, declared.arn):
            # S3 hands back the key as it was given (alias, alias ARN, key id): the same key spelled otherwise is
            # no drift, so compare key ARNs.
            if ctx.key(enc["kms_key"], spec.region).arn == declared.arn:
                state = replace(state, aspects={**state.aspects, "encryption": {**enc, "kms_key": declared.arn}})
        return plan_bucket(spec, state, account, declared)

    def finish(self, ctx: RunContext, results: Sequence[ResourceResult]) -> None:
        if not results:
            return
        account: AccountFacts = ctx.fact(ACCOUNT, AccountFacts)
        if account.problem:
            for result in results:
                result.notes.append(f"account public access block not checked: {account.problem}")

    def details(self, spec: BucketSpec, state: BucketState | None) -> dict[str, Any]:
        if state is None:
            return {}
        if not state.exists:
            return {"status": "FOREIGN" if state.foreign else "MISSING"}
        a = state.aspects
        bpa = a.get("public_access_block") or {}
        enc = a.get("encryption") or {}
        return {
            "status": "EXISTS",
            "region": state.region,
            "public_access_block": f"{sum(bool(v) for v in bpa.values())}/4 on",
            "encryption": {"AES256": "sse-s3", "aws:kms": "sse-kms"}.get(str(enc.get("algorithm")), "none"),
            "versioning": a.get("versioning"),
            "website": bool(a.get("website")),
            "policy": [s.get("Sid") for s in (a.get("policy") or {}).get("Statement", [])]
            if "policy" in a else None,
            "cors_rules": len(a.get("cors") or []) if "cors" in a else None,
            "lifecycle_rules": len((a.get("lifecycle") or {}).get("rules") or []) if "lifecycle" in a else None,
        }

    def wait(self, client: Any, step: Step, waits: Waits, deadline: Deadline) -> None:
        if step.operation == "wait_bucket":
            wait_bucket(client, step.params["Bucket"], waits, deadline)
        else:
            super().wait(client, step, waits, deadline)


def _account(ctx: RunContext, needs_public_bucket: bool) -> AccountFacts:
    try:
        return observe_account(ctx.clients, needs_public_bucket)
    except Exception as exc:  # noqa: BLE001 - reported on the buckets it concerns
        log.exception("observing the account failed")
        return AccountFacts(problem=f"{type(exc).__name__}: {exc}")
