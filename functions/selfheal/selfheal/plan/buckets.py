"""Plan a bucket: compare a BucketSpec with a BucketState, aspect by aspect. Pure.

Policy, CORS, lifecycle and tags are whole documents in S3: the planned write is the current document with the
declared parts merged in, so nothing someone else added is clobbered. What is there beyond the declaration is
classified (plan/findings.py): a harmless extra is kept and noted; a finding (it widens access or destroys data) is
removed from the merged document when the bucket's section is exclusive, and is a conflict otherwise. A section
is never deleted whole: a finding whose removal would leave its document empty is a conflict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ..model import FINDING, Change, ResourcePlan, Step
from ..spec import (
    BPA_FLAGS,
    MIN_NONCURRENT_DAYS,
    BucketSpec,
    CorsRule,
    LifecycleRule,
    canonical_json,
    partition_of,
)
from ..state.account import AccountFacts, KeyInfo
from ..state.buckets import BPA_KEYS, REFILL_TAG, BucketState, declared_aspects
from . import findings
from .findings import Extra

Item = TypeVar("Item")  # a policy statement, a CORS, lifecycle or routing rule as found

POLICY_VERSION = "2012-10-17"


def plan_bucket(
    spec: BucketSpec,
    state: BucketState,
    account: AccountFacts | None = None,
    declared_key: KeyInfo | None = None,
    restore_role: str | None = None,
) -> ResourcePlan:
    """What to do about one bucket. `account` carries the account-level public-access block; `restore_role`: the
    role AWS Backup assumes to restore a recovery point into it (None: such a restore is left to a person)."""
    if state.foreign:
        return ResourcePlan(
            "bucket",
            spec.name,
            False,
            error=(
                f"bucket name {spec.name} is owned by another AWS account (bucket names are global) — choose another "
                "name: --set / SELFHEAL_VAR_* for the bucket's var, or the stack's bucket-name parameter"
            ),
        )
    if declared_key is not None and not declared_key.usable:
        return ResourcePlan(
            "bucket",
            spec.name,
            state.exists,
            error=f"{declared_key.problem} — fix encryption.kms_key in the estate or the key itself",
        )
    refused = destructive_rules(spec)
    if refused:
        return ResourcePlan("bucket", spec.name, state.exists, error="; ".join(refused))
    copy_problem = _copy_problem(spec, state)
    if copy_problem:
        return ResourcePlan("bucket", spec.name, state.exists, error=copy_problem)
    conflicts = _account_conflicts(spec, account)
    review = _Review(spec.exclusive_sections, account.account_id if account else None)
    if not state.exists:
        params: dict[str, Any] = {"Bucket": spec.name, "ObjectOwnership": spec.object_ownership}
        if spec.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": spec.region}
        after = BucketState(
            spec.name,
            True,
            region=spec.region,
            aspects={a: None for a in declared_aspects(spec)} | {"object_ownership": spec.object_ownership},
        )
        followup = _aspect_steps(spec, after, declared_key, skip_policy=bool(conflicts), review=review)
        steps = [Step("s3", "create_bucket", params, (Change("bucket", "missing", "created"),), spec.region),
                 Step("s3", "wait_bucket", {"Bucket": spec.name}, region=spec.region)]
        refill, notes = _refill_from(spec, state, restore_role)
        predicted = [c for s in followup for c in s.changes]
        if refill is None and isinstance(notes, str):
            return ResourcePlan("bucket", spec.name, False, error=notes)
        if refill is not None:
            # Marked before anything else: a run cut short after the create still knows the bucket is to be refilled.
            tags = {**dict(spec.tags), REFILL_TAG: refill}
            steps.append(Step("s3", "put_bucket_tagging", {"Bucket": spec.name, "Tagging": _tag_set(tags)},
                              (Change("objects", "gone", f"to be copied back from {_source(refill)}"),), spec.region))
            predicted = [c for c in predicted if not c.path.startswith("tags.")]
        return ResourcePlan(
            "bucket",
            spec.name,
            False,
            tuple(steps),
            conflicts=tuple(conflicts),
            notes=tuple(notes),
            then_reconcile=True,
            predicted=tuple(predicted),
        )
    if state.region and state.region != spec.region:
        return ResourcePlan(
            "bucket",
            spec.name,
            True,
            conflicts=(
                f"bucket is in {state.region}, declared {spec.region}: a bucket cannot move — declare {state.region} "
                "or choose another name",
            ),
        )
    steps = _aspect_steps(spec, state, declared_key, skip_policy=bool(conflicts), review=review)
    notes = _notes(spec, state) + review.notes
    error = "; ".join(state.read_errors.values()) or None
    if state.refill and not error:
        return _refilling(spec, state, steps, conflicts + review.conflicts, notes, restore_role)
    return ResourcePlan("bucket", spec.name, True, tuple(steps), tuple(conflicts + review.conflicts), tuple(notes),
                        error=error)


def destructive_rules(spec: BucketSpec) -> list[str]:
    """The declared lifecycle rules that would delete data for good without the estate's explicit opt-in: an
    expiration of current objects on a versioned bucket, old versions kept under MIN_NONCURRENT_DAYS."""
    out = []
    for rule in spec.lifecycle:
        if rule.accept_data_loss:
            continue
        if rule.expiration_days and spec.versioning:
            out.append(f"lifecycle rule {rule.id} would expire every current object of versioned bucket {spec.name} "
                       f"after {rule.expiration_days} day(s) — selfheal refuses it: drop expiration_days, or set "
                       "accept_data_loss: true on the rule")
        days = rule.noncurrent_version_expiration_days
        if days and days < MIN_NONCURRENT_DAYS:
            out.append(f"lifecycle rule {rule.id} would delete old versions in {spec.name} after {days} day(s), under "
                       f"{MIN_NONCURRENT_DAYS} — selfheal refuses it: declare {MIN_NONCURRENT_DAYS} or more, or set "
                       "accept_data_loss: true on the rule")
    return out


@dataclass
class _Review:
    """What the bucket holds beyond its declaration: what the merged documents keep, the conflicts and notes."""

    exclusive: tuple[str, ...]
    account: str | None
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def keep(self, extra: Extra) -> bool:
        """Whether the merged document keeps it: a finding in an exclusive section goes; elsewhere it is a conflict."""
        if extra.finding is None:
            return True
        if extra.section in self.exclusive and extra.certain:
            return False
        self.conflicts.append(
            f"{FINDING}{extra} — kept, since {extra.section} is not exclusive: remove it by hand, or add "
            f"{extra.section} to the bucket's `exclusive:` so apply removes it")
        return True

    def removed(self, extra: Extra) -> Change:
        return Change(f"{extra.section}.{extra.label}", f"{FINDING}{extra.finding}", "removed")

    def note(self, extras: list[Extra]) -> None:
        self.notes += findings.noted(extras)

    def sift(self, have: Iterable[Item], classify: Callable[[Item], Extra],
             declared: Callable[[Item], bool] = lambda _: False) -> tuple[list[Item], list[Change]]:
        """A section's items as found, in order: what the merged document keeps (the declared ones, the harmless and
        the conflicting extras) and the removal of each finding it drops; the extras noted."""
        kept: list[Item] = []
        removed: list[Change] = []
        extras: list[Extra] = []
        for item in have:
            if declared(item):
                kept.append(item)
                continue
            extra = classify(item)
            extras.append(extra)
            if self.keep(extra):
                kept.append(item)
            else:
                removed.append(self.removed(extra))
        self.note(extras)
        return kept, removed

    def left_empty(self, section: str, removed: list[Change]) -> None:
        """Removing the findings would leave no document, and selfheal never deletes a whole one."""
        for change in removed:
            self.conflicts.append(
                f"{change.old} ({change.path}) — it is all the bucket's {section} holds and selfheal never deletes a "
                f"whole {section}: delete the bucket's {section} by hand")


# --- a recreated bucket refilled from its copy --------------------------------------------------------------------

GONE = ("recreated empty: the objects it held are gone — declare `copy_from: {bucket: REPLICA}` (a bucket S3 "
        "replication keeps a copy in) or `copy_from: aws-backup` (a backup plan for S3) to have them copied back")


def _copy_problem(spec: BucketSpec, state: BucketState) -> str | None:
    """The declared copy is a mistake of the estate (in another region) or could not be read."""
    copy = state.copy
    if copy is None or spec.copy_from is None:
        return None
    if copy.problem:
        return f"copy_from: {copy.problem}"
    if copy.region and copy.region != spec.region:
        return (f"copy_from: {copy.source} is in {copy.region}, this bucket in {spec.region} — name a copy in "
                f"{spec.region} (a refill copies within one region, as AWS Backup restores do)")
    return None


def _refill_from(spec: BucketSpec, state: BucketState, restore_role: str | None) -> tuple[str | None, list[str] | str]:
    """A missing bucket's refill marker (None: created empty) and its notes; a str instead of notes: why it must not
    be created at all (its copy can only be restored by a person)."""
    copy = state.copy
    if spec.copy_from is None:
        return None, [GONE]
    if copy is None or not copy.exists:
        what = copy.source if copy else "its copy"
        return None, [f"recreated empty: copy_from names {what}, which holds no copy (missing, or no completed "
                      "recovery point) — its objects are gone unless another copy exists"]
    if copy.recovery_point:
        if not restore_role:
            return None, (f"missing; its copy is AWS Backup recovery point {copy.recovery_point}, which only AWS "
                          "Backup can restore and this run has no restore role — pass --restore-role (or let the "
                          "deployed function do it); not created empty meanwhile")
        return f"point:{copy.recovery_point}", []
    return f"bucket:{spec.copy_from}", []


def _source(marker: str) -> str:
    kind, _, value = marker.partition(":")
    return {"bucket": f"bucket {value}", "point": f"AWS Backup recovery point {value}"}.get(kind, marker)


def _tag_set(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


def restore_job_params(bucket: str, point: str, role: str, encryption: str, kms_key: str | None) -> dict[str, Any]:
    """StartRestoreJob's request for a whole S3 recovery point into the existing (recreated) bucket, as AWS Backup
    documents S3's restore metadata; encrypted as the bucket declares."""
    metadata = {"DestinationBucketName": bucket, "NewBucket": "false", "Encrypted": "true",
                "EncryptionType": "SSE-KMS" if encryption == "aws:kms" else "SSE-S3"}
    if encryption == "aws:kms" and kms_key:
        metadata["KMSKey"] = kms_key
    return {"Bucket": bucket, "RecoveryPointArn": point, "IamRoleArn": role, "ResourceType": "S3",
            "IdempotencyToken": hashlib.sha256(f"{bucket} {point}".encode()).hexdigest()[:32], "Metadata": metadata}


def _refilling(spec: BucketSpec, state: BucketState, steps: list[Step], conflicts: list[str], notes: list[str],
               restore_role: str | None) -> ResourcePlan:
    """A bucket still being refilled (marked): its settings first, then the copy carries on (objects are encrypted
    as the bucket says only once its encryption is set)."""
    marker = str(state.refill)
    if marker.startswith("point:") and not restore_role:
        return ResourcePlan("bucket", spec.name, True, tuple(steps), tuple(conflicts), tuple(notes), error=(
            f"being refilled from {_source(marker)}, which only AWS Backup can restore and this run has no restore "
            "role — pass --restore-role (or let the deployed function carry on)"))
    kind, _, source = marker.partition(":")
    change = Change("objects", "being copied back", f"copied back from {_source(marker)}")
    if kind == "bucket":
        # The replica's declared owner (a backup account); a marker naming another bucket is this account's.
        owner = spec.copy_account if source == spec.copy_from else None
        copy = {"Bucket": spec.name, "Source": source, **({"SourceOwner": owner} if owner else {})}
        refill = Step("s3", "wait_refill", copy, (change,), spec.region)
    else:
        params = restore_job_params(spec.name, source, restore_role or "", spec.encryption, spec.kms_key)
        refill = Step("backup", "wait_refill", params, (change,), spec.region)
    # The objects are back: the marker goes, the bucket's other tags (declared or not) stay.
    tags = {**(state.aspects.get("tags") or {}), **dict(spec.tags)}
    tags.pop(REFILL_TAG, None)
    unmark = (Step("s3", "put_bucket_tagging", {"Bucket": spec.name, "Tagging": _tag_set(tags)}, region=spec.region)
              if tags else Step("s3", "delete_bucket_tagging", {"Bucket": spec.name}, region=spec.region))
    return ResourcePlan(
        "bucket", spec.name, True, (*steps, refill, unmark),
        tuple(conflicts), tuple(notes), progress=(f"objects being copied back from {_source(marker)}",),
        restoring=True, then_reconcile=True,
    )


def _account_conflicts(spec: BucketSpec, account: AccountFacts | None) -> list[str]:
    if not spec.is_public or account is None or not account.public_access_block:
        return []
    blocking = [f for f in ("block_public_policy", "restrict_public_buckets") if account.public_access_block.get(f)]
    if not blocking:
        return []
    return [
        f"the account's public access block ({', '.join(BPA_KEYS[f] for f in blocking)}) overrides this bucket, so "
        "its public policy cannot apply — turn those off in S3 > Block Public Access settings for this account "
        f"{account.account_id or ''}, or serve the site through CloudFront with origin access control"
    ]


def _aspect_steps(spec: BucketSpec, state: BucketState, key: KeyInfo | None, skip_policy: bool,
                  review: _Review) -> list[Step]:
    a = state.aspects
    steps: list[Step] = []

    def put(aspect: str, operation: str, changes: list[Change], **params: Any) -> None:
        if changes and aspect not in state.read_errors:
            steps.append(Step("s3", operation, {"Bucket": spec.name, **params}, tuple(changes), spec.region))

    # No ownership controls is how every bucket made before April 2023 is: it acts as ObjectWriter (ACLs on).
    ownership = a.get("object_ownership") or "ObjectWriter"
    if "object_ownership" in a and ownership != spec.object_ownership:
        put(
            "object_ownership",
            "put_bucket_ownership_controls",
            [Change("object_ownership", a["object_ownership"], spec.object_ownership)],
            OwnershipControls={"Rules": [{"ObjectOwnership": spec.object_ownership}]},
        )
    if "public_access_block" in a:
        have = a["public_access_block"] or dict.fromkeys(BPA_FLAGS, False)
        want = spec.bpa
        put(
            "public_access_block",
            "put_public_access_block",
            [Change(f"public_access_block.{f}", have.get(f), want[f]) for f in BPA_FLAGS if have.get(f) != want[f]],
            PublicAccessBlockConfiguration={BPA_KEYS[f]: want[f] for f in BPA_FLAGS},
        )
    if "encryption" in a and not _encryption_ok(spec, a["encryption"], key):
        rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": spec.encryption}}
        if spec.encryption == "aws:kms":
            if spec.kms_key:
                rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = spec.kms_key
            rule["BucketKeyEnabled"] = spec.bucket_key
        put(
            "encryption",
            "put_bucket_encryption",
            [
                Change(
                    "encryption",
                    _enc_text(a["encryption"]),
                    _enc_text({"algorithm": spec.encryption, "kms_key": spec.kms_key, "bucket_key": spec.bucket_key}),
                )
            ],
            ServerSideEncryptionConfiguration={"Rules": [rule]},
        )
    if "versioning" in a and spec.versioning and a["versioning"] != "Enabled":
        put(
            "versioning",
            "put_bucket_versioning",
            [Change("versioning", a["versioning"] or "never enabled", "Enabled")],
            VersioningConfiguration={"Status": "Enabled"},
        )
    if "website" in a and spec.website:
        steps += _website(spec, a["website"], state, review)
    if "policy" in a and not skip_policy:
        # S3 applies a newly written access block with a delay: meanwhile it refuses a public policy (AccessDenied).
        just_set = spec.is_public and any(s.operation == "put_public_access_block" for s in steps)
        retry = ("AccessDenied",) if just_set else ()
        steps += [replace(s, retry_codes=retry) for s in _policy(spec, a["policy"], state, review)]
    if "cors" in a:
        steps += _cors(spec, a["cors"] or [], state, review)
    if "lifecycle" in a:
        steps += _lifecycle(spec, a["lifecycle"] or {}, state, review)
    if "notifications" in a and spec.mass_delete and "EventBridgeConfiguration" not in (a["notifications"] or {}):
        # Its deletions go to EventBridge, where the function counts them (the topic, queue and function
        # configurations someone else set are sent back: the PUT replaces the whole document).
        put(
            "notifications",
            "put_bucket_notification_configuration",
            [Change("notifications.eventbridge", "off", "on")],
            NotificationConfiguration={**(a["notifications"] or {}), "EventBridgeConfiguration": {}},
        )
    if "tags" in a and spec.tags:
        have = a["tags"] or {}
        missing = [(k, v) for k, v in spec.tags if have.get(k) != v]
        merged = {**have, **dict(spec.tags)}
        put(
            "tags",
            "put_bucket_tagging",
            [Change(f"tags.{k}", have.get(k), v) for k, v in missing],
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(merged.items())]},
        )
    return steps


def _notes(spec: BucketSpec, state: BucketState) -> list[str]:
    a = state.aspects
    notes = []
    if a.get("versioning") == "Enabled" and not spec.versioning:
        notes.append("versioning is on though not declared: kept (selfheal never suspends versioning)")
    extra = sorted(set(a.get("tags") or {}) - {k for k, _ in spec.tags} - {REFILL_TAG})
    if extra:
        notes.append(f"tags not declared: {', '.join(extra)} (kept)")
    return notes


# --- encryption -------------------------------------------------------------------------------------------------


def _encryption_ok(spec: BucketSpec, have: dict[str, Any] | None, key: KeyInfo | None) -> bool:
    if not have:  # no configuration: S3 encrypts every new object with SSE-S3 all the same (since January 2023)
        return spec.encryption == "AES256"
    if have.get("algorithm") != spec.encryption:
        return False
    if spec.encryption != "aws:kms":
        return True
    if bool(have.get("bucket_key")) != spec.bucket_key:
        return False
    actual = have.get("kms_key")
    if spec.kms_key is None:
        return actual in (None, "alias/aws/s3") or str(actual).endswith(":alias/aws/s3")
    return actual in (spec.kms_key, key.arn if key else None)


def _enc_text(enc: dict[str, Any] | None) -> str:
    if not enc:
        return "none"
    if enc.get("algorithm") == "AES256":
        return "sse-s3"
    return f"sse-kms {enc.get('kms_key') or 'aws-managed'}{' + bucket key' if enc.get('bucket_key') else ''}"


# --- website ----------------------------------------------------------------------------------------------------


def _website(spec: BucketSpec, have: dict[str, Any] | None, state: BucketState, review: _Review) -> list[Step]:
    assert spec.website is not None
    have = have or {}
    index = (have.get("IndexDocument") or {}).get("Suffix")
    error = (have.get("ErrorDocument") or {}).get("Key")
    # someone else's redirects within the site are kept
    found = list(enumerate(have.get("RoutingRules") or []))
    kept, changes = review.sift(found, lambda pair: findings.routing_rule(pair[1], pair[0]))
    routing = [rule for _, rule in kept]
    if index != spec.website.index_document:
        changes.append(Change("website.index_document", index, spec.website.index_document))
    if spec.website.error_document and error != spec.website.error_document:
        changes.append(Change("website.error_document", error, spec.website.error_document))
    if not changes or "website" in state.read_errors:
        return []
    config: dict[str, Any] = {"IndexDocument": {"Suffix": spec.website.index_document}}
    if spec.website.error_document:
        config["ErrorDocument"] = {"Key": spec.website.error_document}
    if routing:
        config["RoutingRules"] = routing
    return [
        Step(
            "s3",
            "put_bucket_website",
            {"Bucket": spec.name, "WebsiteConfiguration": config},
            tuple(changes),
            spec.region,
        )
    ]


# --- policy -----------------------------------------------------------------------------------------------------


def canonical_statement(stmt: dict[str, Any], partition: str = "aws") -> str:
    """A statement in one spelling: lists sorted, one-element lists as lists, Principal {"AWS": "*"} as "*"."""
    out: dict[str, Any] = {}
    for k, v in stmt.items():
        if k in ("Action", "NotAction", "Resource", "NotResource"):
            v = sorted(v if isinstance(v, list) else [v])
        elif k in ("Principal", "NotPrincipal"):
            if isinstance(v, dict) and set(v) == {"AWS"} and v["AWS"] in ("*", ["*"]):
                v = "*"
            elif isinstance(v, dict):
                v = {pk: sorted(_principal_id(pk, x, partition) for x in (pv if isinstance(pv, list) else [pv]))
                     for pk, pv in v.items()}
        elif k == "Condition" and isinstance(v, dict):
            v = {
                op: {
                    ck: sorted(str(x) for x in (cv if isinstance(cv, list) else [cv]))
                    for ck, cv in (body or {}).items()
                }
                for op, body in v.items()
            }
        out[k] = v
    return canonical_json(out)


def _principal_id(kind: str, value: Any, partition: str) -> Any:
    """S3 stores an account id principal as the account's root ARN: compare them as one."""
    if kind == "AWS" and isinstance(value, str) and value.isdigit() and len(value) == 12:
        return f"arn:{partition}:iam::{value}:root"
    return value


# Condition keys S3 accepts as narrowing a "*" principal to a fixed set of callers (a statement using only
# others, e.g. aws:SecureTransport or aws:Referer, is still public and refused under BlockPublicPolicy).
NARROWING_KEYS = {"aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceaccount",
                  "aws:sourceowner", "aws:principalaccount", "aws:principalarn", "aws:principalorgid",
                  "aws:userid", "s3:dataaccesspointarn", "s3:dataaccesspointaccount"}


def is_public_statement(stmt: dict[str, Any]) -> bool:
    """An Allow to everyone that no condition narrows to a fixed set of callers."""
    if stmt.get("Effect") != "Allow":
        return False
    principal = stmt.get("Principal")
    everyone = principal == "*" or (
        isinstance(principal, dict) and any(v == "*" or v == ["*"] for v in principal.values()))
    if not everyone:
        return False
    keys = {k.lower() for body in (stmt.get("Condition") or {}).values() if isinstance(body, dict) for k in body}
    return not keys & NARROWING_KEYS


def _policy(spec: BucketSpec, have: dict[str, Any] | None, state: BucketState, review: _Review) -> list[Step]:
    have = have or {}
    current = have.get("Statement") or []
    current = [current] if isinstance(current, dict) else list(current)
    declared = spec.statements
    by_sid = {s["Sid"]: s for s in declared}
    partition = partition_of(spec.region)
    present = {canonical_statement(s, partition) for s in current}
    public_actions = {str(a).lower() for s in declared if is_public_statement(s)
                      for a in findings.listed(s.get("Action"))}
    changes: list[Change] = []
    removed: list[Change] = []
    kept: list[dict[str, Any]] = []
    extras: list[Extra] = []
    for stmt in current:
        sid = stmt.get("Sid")
        if sid in by_sid:
            continue  # replaced by the declared statement below
        if not spec.is_public and is_public_statement(stmt):
            removed.append(Change(f"policy.{sid or 'statement'}", f"{FINDING}public Allow to * on a private bucket",
                                  "removed"))
            continue
        extra = findings.policy_statement(stmt, review.account, public_actions, not is_public_statement(stmt))
        extras.append(extra)
        if review.keep(extra):
            kept.append(stmt)
        else:
            removed.append(review.removed(extra))
    review.note(extras)
    if removed and not kept and not declared:
        review.left_empty("policy", removed)
        return []
    changes += removed
    for stmt in declared:
        if canonical_statement(stmt, partition) not in present:
            old = next((s for s in current if s.get("Sid") == stmt["Sid"]), None)
            changes.append(Change(f"policy.{stmt['Sid']}", "differs" if old else None, "as declared"))
    if not changes or "policy" in state.read_errors:
        return []
    document: dict[str, Any] = {"Version": have.get("Version") or POLICY_VERSION}
    if have.get("Id"):
        document["Id"] = have["Id"]
    document["Statement"] = kept + declared
    return [
        Step(
            "s3",
            "put_bucket_policy",
            {"Bucket": spec.name, "Policy": json.dumps(document)},
            tuple(changes),
            spec.region,
        )
    ]


# --- CORS -------------------------------------------------------------------------------------------------------


def cors_rule(rule: CorsRule, index: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ID": rule.id or f"selfheal-{index + 1}",
        "AllowedOrigins": list(rule.allowed_origins),
        "AllowedMethods": list(rule.allowed_methods),
    }
    if rule.allowed_headers:
        out["AllowedHeaders"] = list(rule.allowed_headers)
    if rule.expose_headers:
        out["ExposeHeaders"] = list(rule.expose_headers)
    if rule.max_age_seconds is not None:
        out["MaxAgeSeconds"] = rule.max_age_seconds
    return out


def _cors_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    return (
        tuple(sorted(rule.get("AllowedOrigins", []))),
        tuple(sorted(rule.get("AllowedMethods", []))),
        tuple(sorted(rule.get("AllowedHeaders", []))),
        tuple(sorted(rule.get("ExposeHeaders", []))),
        rule.get("MaxAgeSeconds"),
    )


def _cors(spec: BucketSpec, have: list[dict[str, Any]], state: BucketState, review: _Review) -> list[Step]:
    wants = [cors_rule(declared, i) for i, declared in enumerate(spec.cors)]
    declared_keys = {_cors_key(w) for w in wants}
    declared_ids = {w["ID"] for w in wants}
    rules, changes = review.sift(
        have, findings.cors_rule, lambda rule: _cors_key(rule) in declared_keys or rule.get("ID") in declared_ids)
    if changes and not rules and not wants:
        review.left_empty("CORS configuration", changes)
        return []
    for i, declared in enumerate(spec.cors):
        want = cors_rule(declared, i)
        if any(_cors_key(r) == _cors_key(want) for r in rules):
            continue
        same_id = next((j for j, r in enumerate(rules) if r.get("ID") == want["ID"]), None)
        if same_id is None:
            rules.append(want)
            changes.append(Change(f"cors.{want['ID']}", None, _cors_text(want)))
        else:
            changes.append(Change(f"cors.{want['ID']}", _cors_text(rules[same_id]), _cors_text(want)))
            rules[same_id] = want
    if not changes or "cors" in state.read_errors:
        return []
    return [
        Step(
            "s3",
            "put_bucket_cors",
            {"Bucket": spec.name, "CORSConfiguration": {"CORSRules": rules}},
            tuple(changes),
            spec.region,
        )
    ]


def _cors_text(rule: dict[str, Any]) -> str:
    return f"{','.join(rule.get('AllowedMethods', []))} from {','.join(rule.get('AllowedOrigins', []))}"


# --- lifecycle --------------------------------------------------------------------------------------------------


def lifecycle_rule(rule: LifecycleRule) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": rule.id, "Status": "Enabled", "Filter": {"Prefix": rule.prefix}}
    if rule.abort_incomplete_multipart_upload_days:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule.abort_incomplete_multipart_upload_days}
    if rule.expiration_days:
        out["Expiration"] = {"Days": rule.expiration_days}
    if rule.noncurrent_version_expiration_days:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule.noncurrent_version_expiration_days}
    return out


def _lifecycle_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", "")) or ""
    return (
        rule.get("ID"),
        rule.get("Status"),
        prefix,
        (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"),
        (rule.get("Expiration") or {}).get("Days"),
        (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
    )


def _lifecycle(spec: BucketSpec, have: dict[str, Any], state: BucketState, review: _Review) -> list[Step]:
    declared_ids = {r.id for r in spec.lifecycle}
    rules, changes = review.sift(have.get("rules") or [], findings.lifecycle_rule,
                                 lambda rule: rule.get("ID") in declared_ids)
    if changes and not rules and not spec.lifecycle:
        review.left_empty("lifecycle configuration", changes)
        return []
    for declared in spec.lifecycle:
        want = lifecycle_rule(declared)
        same_id = next((j for j, r in enumerate(rules) if r.get("ID") == declared.id), None)
        if same_id is None:
            rules.append(want)
            changes.append(Change(f"lifecycle.{declared.id}", None, "as declared"))
        elif _lifecycle_key(rules[same_id]) != _lifecycle_key(want):
            rules[same_id] = want
            changes.append(Change(f"lifecycle.{declared.id}", "differs", "as declared"))
    if not changes or "lifecycle" in state.read_errors:
        return []
    return [
        Step(
            "s3",
            "put_bucket_lifecycle_configuration",
            {"Bucket": spec.name, "LifecycleConfiguration": {"Rules": rules}}
            | ({"TransitionDefaultMinimumObjectSize": have["transition_default_minimum_object_size"]}
               if have.get("transition_default_minimum_object_size") else {}),
            tuple(changes),
            spec.region,
        )
    ]
