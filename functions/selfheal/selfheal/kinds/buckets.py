"""S3 buckets: created with every declared aspect, aspects repaired by merging into what is there."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, cast

from botocore.exceptions import WaiterError

from ..apply.executor import Deadline, Deferred, Waits
from ..apply.wait import aws_waiter, budget
from ..model import ResourcePlan, ResourceResult, Step
from ..observe.account import OwnedBuckets, observe_account
from ..observe.buckets import observe_bucket
from ..plan.buckets import plan_bucket
from ..spec import BucketSpec
from ..state.account import AccountFacts
from ..state.buckets import BucketState
from .base import Column, Kind, Routed

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

    from ..aws import Clients
    from ..context import RunContext
    from ..importing import Section, Selection
    from ..loader import EstateParser

log = logging.getLogger(__name__)
ACCOUNT_EVENTS = frozenset({"PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock"})
ACCOUNT = "account"  # the run's shared fact: the account-level public access block
OWNED = "owned buckets"  # the run's shared fact: the buckets this account owns (listed only when a 403 asks)


class BucketKind(Kind[BucketSpec, BucketState]):
    name = "bucket"
    section = "buckets"
    title = "S3 buckets"
    spec_type = BucketSpec
    creates = ("create_bucket",)
    already_done: ClassVar[Mapping[str, frozenset[str]]] = {"create_bucket": frozenset({"BucketAlreadyOwnedByYou"})}
    retry_later = frozenset({
        "OperationAborted",  # a conflicting operation on the bucket is in progress
        "NoSuchBucket",  # a bucket just created is not visible to every endpoint for a few seconds
    })
    event_sources = ("aws.s3",)
    events = frozenset({
        "DeleteBucket", "PutBucketPolicy", "DeleteBucketPolicy", "PutBucketPublicAccessBlock",
        "DeleteBucketPublicAccessBlock", "PutBucketAcl", "PutBucketCors", "DeleteBucketCors", "PutBucketVersioning",
        "PutBucketEncryption", "DeleteBucketEncryption", "PutBucketLifecycle", "PutBucketLifecycleConfiguration",
        "DeleteBucketLifecycle", "PutBucketWebsite", "DeleteBucketWebsite", "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls", "PutBucketTagging", "DeleteBucketTagging",
        *ACCOUNT_EVENTS,
    })
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
        owned = ctx.fact(OWNED, lambda: OwnedBuckets(ctx.clients))
        return observe_bucket(_s3(ctx.clients, spec.region), spec, owned, ctx.reads)

    def observe_again(self, ctx: RunContext, spec: BucketSpec) -> BucketState:
        return observe_bucket(_s3(ctx.clients, spec.region), spec)

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

    def changed(self, event: str, params: Mapping[str, Any], specs: Sequence[BucketSpec]) -> Routed:
        if event in ACCOUNT_EVENTS:
            public = tuple(b.name for b in specs if b.is_public)  # only they depend on the account's block
            return public or f"{event}: the estate declares no public bucket"
        if event not in self.events:
            return None
        bucket = params.get("bucketName")
        if bucket not in {b.name for b in specs}:
            return f"{event} on bucket {bucket!r}, which the estate does not declare"
        return (str(bucket),)

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
            _wait_bucket(client, step.params["Bucket"], waits, deadline)
        else:
            super().wait(client, step, waits, deadline)

    def fix(self, code: str, operation: str, exc: BaseException) -> str | None:
        if code == "BucketAlreadyExists":
            return "another AWS account owns this bucket name: choose another name (bucket names are global)"
        return None

    # --- `selfheal import` (importing/buckets.py) ----------------------------------------------------------------

    importable = True
    import_permissions = ("s3:GetBucketNotification", "s3:GetReplicationConfiguration", "s3:GetBucketLogging",
                          "s3:GetBucketObjectLockConfiguration")

    def import_entries(self, clients: Any, selection: Selection, names: Sequence[str]) -> Section:
        from ..importing.buckets import import_buckets  # noqa: PLC0415 - only the CLI imports; the Lambda never does

        return import_buckets(clients, selection, names)


def _wait_bucket(client: Any, bucket: str, waits: Waits, deadline: Deadline) -> None:
    """Until a bucket just created answers HeadBucket (S3 is eventually consistent right after CreateBucket), with
    botocore's own `bucket_exists` waiter, asked at least once a second."""
    within = budget(waits, deadline)
    try:
        aws_waiter(client, "bucket_exists", waits, deadline, delay=min(1.0, waits.poll_seconds), Bucket=bucket)
    except WaiterError as exc:
        raise Deferred(f"bucket {bucket} was created but S3 did not show it within {within:.0f}s: "
                       "the next run configures it") from exc


def _s3(clients: Clients, region: str) -> S3Client:
    return cast("S3Client", clients.client("s3", region))  # typed (the stubs only matter to mypy)


def _account(ctx: RunContext, needs_public_bucket: bool) -> AccountFacts:
    try:
        return observe_account(ctx.clients, needs_public_bucket)
    except Exception as exc:  # noqa: BLE001 - reported on the buckets it concerns
        log.exception("observing the account failed")
        return AccountFacts(problem=f"{type(exc).__name__}: {exc}")
