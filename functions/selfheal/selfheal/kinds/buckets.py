"""S3 buckets: created with every declared aspect, aspects repaired by merging into what is there."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, cast

from botocore.exceptions import WaiterError

from ..apply.executor import Deadline, Deferred, Waits
from ..apply.refill import refill
from ..apply.wait import aws_waiter, budget
from ..aws import AWS_ERRORS, error_code
from ..fields import (
    RECOVERY,
    TAGS,
    VAR,
    Anything,
    Bool,
    Checker,
    Choice,
    Const,
    Falsy,
    Field,
    Int,
    Listing,
    MapOf,
    Null,
    Obj,
    OneOrList,
    PlainString,
    Problem,
    Ref,
    Strings,
    Text,
    Types,
    Union,
    kms_key,
    objective,
    present,
    region_field,
    rto_seconds,
    split_commas,
    tag_pairs,
)
from ..model import Outcome, Recovery, ResourcePlan, ResourceResult, Step
from ..observe.account import OwnedBuckets, observe_account
from ..observe.buckets import observe_bucket, observe_copy
from ..observe.tables import find_recovery_points, newest_first
from ..plan.buckets import destructive_rules, plan_bucket
from ..spec import (
    AWS_BACKUP,
    BPA_FLAGS,
    CORS_METHODS,
    EXCLUSIVE_SECTIONS,
    LIFECYCLE_ACTIONS,
    MIN_NONCURRENT_DAYS,
    OWNERSHIP,
    POLICY_PRESETS,
    BucketSpec,
    Copy,
    CorsRule,
    LifecycleRule,
    Objective,
    Website,
    canonical_json,
    partition_of,
    preset_statement,
)
from ..state.account import AccountFacts
from ..state.buckets import BucketState
from ..state.tables import copies_recovery, newest_copy
from .base import FUNCTION_ROLE, RESTORE_ROLE, Column, Kind, Permissions, Placed, Routed, allow

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

    from ..aws import Clients
    from ..context import RunContext
    from ..drill.buckets import BucketDrill
    from ..importing import Section, Selection

# --- the estate section: `buckets:`, each field declared once -------------------------------------------------------

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ACCOUNT_ID = re.compile(r"^\d{12}$")  # an AWS account id: exactly 12 digits
_PRINCIPAL_FIX = 'write "*" or {AWS: ARN or [ARNs]} (also Service, Federated, CanonicalUser)'


class _PrincipalType(Choice):
    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, "unknown principal type", _PRINCIPAL_FIX


class _PrincipalId(Text):
    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"{value!r} is not a principal id", _PRINCIPAL_FIX


def _not_principal(value: Any, path: str) -> Problem:
    return path, f"{value!r} is not a principal", _PRINCIPAL_FIX


class _Json(Union):
    """What a JSON policy can carry (no dates, no binary)."""

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        if self.accepts(value):
            return super().problem(rule, value, path)
        return (path, f"holds a value JSON cannot carry ({type(value).__name__})",
                "quote dates and other values as strings")


_JSON_REF: Field = Ref("json", lambda: _JSON)
_JSON: Field = _Json(Types("string", "number", "boolean", "null"), Listing(_JSON_REF), MapOf(Anything(), _JSON_REF))
_PRINCIPAL = Union(
    Const("*"),
    MapOf(_PrincipalType(("AWS", "Service", "Federated", "CanonicalUser")),
          OneOrList(_PrincipalId(numbers=False), nullable=False), min_size=1,
          problems=("{value!r} is not a principal", _PRINCIPAL_FIX)),
    Null(),
    otherwise=_not_principal,
)
_ACTIONS = OneOrList(Text(r"s3:[A-Za-z*]+|\*", "an S3 action", fix="write s3:ActionName"))
_RESOURCE = rf"^arn:aws[a-z-]*:s3:::.|{VAR}"
_RESOURCES = Anything(editor={"anyOf": [  # the bucket's own ARNs: checked by `_statement`, which knows the bucket
    {"type": "string", "pattern": _RESOURCE}, {"type": "array", "items": {"type": "string", "pattern": _RESOURCE}},
    {"type": "null"}]})
_PAIRS = (("Principal", "NotPrincipal"), ("Action", "NotAction"), ("Resource", "NotResource"))
STATEMENT = Obj(
    "statement",
    {
        "Sid": Text(r"[A-Za-z0-9]+", "a Sid of letters and digits", description="letters and digits"),
        "Effect": Choice(("Allow", "Deny")),
        "Principal": _PRINCIPAL,
        "NotPrincipal": _PRINCIPAL,
        "Action": _ACTIONS,
        "NotAction": _ACTIONS,
        "Resource": Anything(editor={**_RESOURCES.editor, "description": "this bucket's ARN or ARN/* only"}),
        "NotResource": _RESOURCES,
        "Condition": Union(
            MapOf(Anything(), _JSON_REF), Null(),
            otherwise=lambda value, path: (path, "expected a mapping of operators",
                                           "write e.g. {Bool: {aws:SecureTransport: 'false'}}"),
            description="{operator: {key: value}}, e.g. {Bool: {aws:SecureTransport: 'false'}}",
        ),
    },
    required=("Sid", "Effect"),
    description="a bucket policy statement (the bucket's own ARNs only)",
    hints={"allOf": [{"oneOf": [present(a), present(b)]} for a, b in _PAIRS]},  # exactly one: checked by `statement`
)
STATEMENTS = Listing(STATEMENT)
_POLICY = Obj(
    "policy",
    {
        "presets": Listing(Choice(POLICY_PRESETS),
                           description="public-read (GetObject for everyone), tls-only (deny plain HTTP)"),
        "statements": Union(Text(numbers=False, description="the statements as JSON"), STATEMENTS, otherwise=1),
    },
    description="bucket policy statements, merged into the bucket's policy",
)
_HEADERS = Union(Falsy(), Strings(), otherwise=1)
CORS = Obj(
    "cors",
    {
        "id": Union(Null(), Text(), otherwise=1),
        "allowed_origins": Strings(Text(r"\*|https?://[^\s/]+", "an origin",
                                        fix="write scheme://host[:port], e.g. https://galerly.com"),
                                   commas=r"\*|https?://[^\s/,]+", description="scheme://host[:port] or *"),
        "allowed_methods": Strings(Choice(CORS_METHODS)),
        "allowed_headers": _HEADERS,
        "expose_headers": _HEADERS,
        "max_age_seconds": Union(Null(), Int(0, 2_147_483_647), otherwise=1),
    },
    required=("allowed_origins", "allowed_methods"),
    description="a CORS rule",
)
LIFECYCLE = Obj(
    "lifecycle",
    {"id": Text(), "prefix": PlainString("quote the prefix", default=""),
     **{action: Union(Null(), Int(1, 36500), otherwise=1) for action in LIFECYCLE_ACTIONS},
     "accept_data_loss": Bool(default=False, description=(
         "true: the rule may delete data for good (expire current objects of a versioned bucket, or old versions "
         f"within {MIN_NONCURRENT_DAYS} days); without it selfheal refuses such a rule"))},
    required=("id",),
    description="a lifecycle rule",
    hints={"anyOf": [present(action) for action in LIFECYCLE_ACTIONS]},  # at least one action: checked by `_lifecycle`
)
BUCKET = Obj(
    "bucket",
    {
        "name": Text(BUCKET_NAME, "a bucket name of 3-63 lowercase letters, digits, . -",
                     forbid=(r"\.\.|^\d+\.\d+\.\d+\.\d+$|^xn--|-s3alias$", "{value!r} is not a valid bucket name",
                             "use lowercase letters, digits and single hyphens"),
                     description="bucket name: 3-63 lowercase letters, digits, . - (names are global)"),
        "region": region_field("AWS region; a bucket in another region is a conflict (buckets cannot move)"),
        "public_access_block": Union(
            Obj("public_access_block", {flag: Bool(default=True) for flag in BPA_FLAGS},
                description="the bucket's public access block: every flag defaults to true"),
            Falsy(), otherwise=0),
        "object_ownership": Choice(OWNERSHIP, default="BucketOwnerEnforced"),
        "encryption": Union(
            Const("sse-s3"),
            Obj("bucket_encryption", {
                "kms_key": Union(Null(), Const("aws-managed"), kms_key(),
                                 description="aws-managed (alias/aws/s3), alias/NAME, key ARN or key id"),
                "bucket_key": Bool(default=True)}, description="SSE-KMS"),
            otherwise=lambda value, path: (path, f"{value!r} is not an encryption setting",
                                           "use sse-s3 or {kms_key: alias/NAME, bucket_key: true}"),
            description="sse-s3 (default) or {kms_key: ..., bucket_key: true}", default="sse-s3",
        ),
        "versioning": Bool(default=False, description="true enables it; selfheal never suspends it"),
        "website": Union(
            Obj("website", {"index_document": Text(r"[^/]+", "a file name without /", default="index.html",
                                                   description="a file name without /"),
                            "error_document": Union(Null(), Text(), otherwise=1)},
                description="static website hosting"),
            Null(), otherwise=0),
        "policy": Union(_POLICY, Null(), otherwise=0),
        "cors": Listing(CORS),
        "lifecycle": Listing(LIFECYCLE),
        "tags": TAGS,
        "exclusive": Union(
            Bool(), Listing(Choice(EXCLUSIVE_SECTIONS)),
            otherwise=lambda value, path: (path, f"{value!r} is not a list of sections",
                                           f"write true, false or a list of: {', '.join(EXCLUSIVE_SECTIONS)}"),
            description=("sections whose findings (what widens access or destroys data beyond the declaration) "
                         "apply removes: true (all), false (none) or a list of policy, cors, lifecycle, website; "
                         "default all on a public or versioned bucket, none otherwise (a finding is then a conflict)")),
        "mass_delete": Union(
            Const(False),
            Obj("mass_delete", {"objects": Int(1, 100_000_000, default=1000, description="more than this many"),
                                "minutes": Int(1, 1440, default=5, description="within this many minutes")},
                description="report more than `objects` deleted within `minutes`"),
            Null(),
            otherwise=lambda value, path: (path, f"{value!r} is not a mass-delete warning",
                                           "use {objects: 1000, minutes: 5} or false"),
            description="a message to the alarm topic when more than `objects` are deleted within `minutes` (on by "
            "default for versioned buckets: {objects: 1000, minutes: 5}; false: off); never a recovery by itself",
        ),
        "copy_from": Union(
            Const(AWS_BACKUP),
            Obj("copy_from", {"bucket": Text(BUCKET_NAME, "a bucket name", fix="give the replica's or backup "
                                             "bucket's name (3-63 of a-z 0-9 . -)",
                                             description="a replica or backup bucket in the same region"),
                              "account": Text(ACCOUNT_ID, "a 12-digit account id", numbers=True,
                                              fix="give the replica's owner as 12 digits, quoted ('012345678901')",
                                              description="the account that owns the replica (default: this one)")},
                required=("bucket",), description="a bucket holding a copy of the objects"),
            Null(),
            otherwise=lambda value, path: (path, f"{value!r} is not a copy of the bucket",
                                           "use {bucket: REPLICA} or aws-backup"),
            description="where a recreated bucket's objects are copied back from: {bucket: REPLICA} or aws-backup "
            "(its newest AWS Backup recovery point); without it a recreated bucket comes back empty",
        ),
        "recovery": RECOVERY,
    },
    required=("name",),
    description="an S3 bucket",
)


def _bucket(checker: Checker, raw: dict[str, Any], path: str, default_region: str) -> BucketSpec:
    """A bucket entry that passed BUCKET, as a spec: the rules across its fields checked here."""
    name = str(raw["name"])
    bucket_region = str(raw.get("region", default_region))
    bpa_raw = raw.get("public_access_block") or {}
    bpa = tuple((flag, bool(bpa_raw.get(flag, True))) for flag in BPA_FLAGS)
    encryption = raw.get("encryption", "sse-s3")
    if encryption == "sse-s3":
        algorithm, key, bucket_key = "AES256", None, False
    else:
        key = None if encryption.get("kms_key") in (None, "aws-managed") else str(encryption["kms_key"])
        algorithm, bucket_key = "aws:kms", bool(encryption.get("bucket_key", True))
    website = None
    if raw.get("website") is not None:
        w = raw["website"]
        error = w.get("error_document")
        website = Website(str(w.get("index_document", "index.html")), None if error is None else str(error))
    statements = _policy(checker, raw.get("policy"), f"{path}.policy", name, dict(bpa), website is not None,
                         partition_of(bucket_region))
    cors = tuple(cors_rule(r) for r in raw.get("cors") or [])
    copy_from, copy_account = raw.get("copy_from"), None
    if isinstance(copy_from, dict):
        if copy_from.get("account") is not None:  # YAML reads an unquoted id as a number (losing a leading 0)
            copy_account = str(copy_from["account"])
            if not re.fullmatch(ACCOUNT_ID, copy_account):
                checker.fail(f"{path}.copy_from.account", f"{copy_account!r} is not a 12-digit account id",
                             "give the replica's owner as 12 digits, quoted ('012345678901')")
        copy_from = str(copy_from["bucket"])
        if copy_from == name:
            checker.fail(f"{path}.copy_from.bucket", "names the bucket itself, which is what would be lost",
                         "name the replica or backup bucket that holds a copy of its objects")
    warn = raw.get("mass_delete")
    versioning = bool(raw.get("versioning", False))
    if warn is False or (warn is None and not versioning):
        mass_delete = None
    else:
        warn = warn or {}
        mass_delete = (int(warn.get("objects", 1000)), int(warn.get("minutes", 5)))
    rules = raw.get("lifecycle") or []
    lifecycle = tuple(_lifecycle(checker, r, f"{path}.lifecycle[{i}]") for i, r in enumerate(rules))
    checker.unique([r.id for r in lifecycle], f"{path}.lifecycle", "lifecycle rule id")
    exclusive = raw.get("exclusive")
    spec = BucketSpec(
        name=name,
        region=bucket_region,
        public_access_block=bpa,
        object_ownership=str(raw.get("object_ownership", "BucketOwnerEnforced")),
        encryption=algorithm,
        kms_key=key,
        bucket_key=bucket_key,
        versioning=bool(raw.get("versioning", False)),
        website=website,
        policy_statements=statements,
        cors=cors,
        lifecycle=lifecycle,
        tags=tag_pairs(raw.get("tags")),
        exclusive=None if exclusive is None else EXCLUSIVE_SECTIONS if exclusive is True else ()
        if exclusive is False else tuple(dict.fromkeys(exclusive)),
        copy_from=copy_from,
        copy_account=copy_account,
        mass_delete=mass_delete,
        rto_seconds=rto_seconds(raw),
        objective=objective(checker, raw.get("recovery"), f"{path}.recovery", timedelta(days=LONGEST_RULE_DAYS),
                            "a lifecycle rule can keep old versions"),
    )
    for i, rule in enumerate(lifecycle):
        for problem in destructive_rules(replace(spec, lifecycle=(rule,))):
            what, fix = problem.split(" — ", 1)
            checker.fail(f"{path}.lifecycle[{i}]", what, fix)
    return spec


def _policy(checker: Checker, value: Any, path: str, bucket: str, bpa: dict[str, bool], website: bool,
            partition: str) -> tuple[str, ...]:
    if value is None:
        return ()
    statements: list[dict[str, Any]] = []
    for i, preset in enumerate(value.get("presets") or []):
        if preset == "public-read" and (bpa["block_public_policy"] or bpa["restrict_public_buckets"]):
            checker.fail(f"{path}.presets[{i}]",
                         "public-read cannot work while block_public_policy or restrict_public_buckets is on",
                         "set both to false under public_access_block, or drop the preset")
        if preset == "tls-only" and website:
            checker.fail(f"{path}.presets[{i}]", "tls-only would block the website endpoint, which serves HTTP only",
                         "put tls-only on a bucket without website, or serve the site through CloudFront")
        statements.append(preset_statement(preset, bucket, partition))
    extra = value.get("statements")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            checker.fail(f"{path}.statements", f"not valid JSON ({exc.msg} at line {exc.lineno})",
                         "write the statements as YAML or valid JSON")
        if isinstance(extra, dict):
            extra = extra.get("Statement", extra)
        if isinstance(extra, dict):
            extra = [extra]
        checker.check(extra, STATEMENTS, f"{path}.statements")
    for i, stmt in enumerate(extra or []):
        statements.append(statement(checker, stmt, f"{path}.statements[{i}]", bucket, partition))
    checker.unique([s["Sid"] for s in statements], f"{path}.statements", "statement Sid")
    return tuple(canonical_json(s) for s in statements)


def statement(checker: Checker, raw: dict[str, Any], path: str, bucket: str, partition: str = "aws") -> dict[str, Any]:
    """A policy statement that passed STATEMENT, checked against its bucket (`checker.check` it first when it comes
    from elsewhere)."""
    for a, b in _PAIRS:
        if (raw.get(a) is None) == (raw.get(b) is None):
            checker.fail(path, f"a policy statement needs exactly one of {a} / {b}", f"add `{a}:`")
    arn = f"arn:{partition}:s3:::{bucket}"
    for field_name in ("Resource", "NotResource"):
        resources = raw.get(field_name)
        for i, res in enumerate([] if resources is None else resources if isinstance(resources, list) else [resources]):
            if not isinstance(res, str) or not (res == arn or res.startswith(arn + "/")):
                checker.fail(f"{path}.{field_name}[{i}]", f"{res!r} is not this bucket",
                             f"use {arn} or {arn}/* (a bucket policy covers only its own bucket)")
    try:  # NaN or mixed-type keys, which no JSON policy can carry either
        json.dumps(raw, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        checker.fail(path, f"holds a value JSON cannot carry ({exc})", "quote dates and other values as strings")
    return dict(raw)


def cors_rule(raw: dict[str, Any]) -> CorsRule:
    """A CORS rule that passed CORS, as a spec."""
    origins = raw["allowed_origins"]
    max_age = raw.get("max_age_seconds")
    return CorsRule(
        allowed_origins=tuple(split_commas(origins) if isinstance(origins, str) else map(str, origins)),
        allowed_methods=tuple(raw["allowed_methods"]),
        allowed_headers=tuple(map(str, raw.get("allowed_headers") or ())),
        expose_headers=tuple(map(str, raw.get("expose_headers") or ())),
        max_age_seconds=None if max_age is None else int(max_age),
        id=None if raw.get("id") is None else str(raw["id"]),
    )


def _lifecycle(checker: Checker, raw: dict[str, Any], path: str) -> LifecycleRule:
    if not any(raw.get(a) is not None for a in LIFECYCLE_ACTIONS):
        checker.fail(path, "a lifecycle rule needs an action", f"add one of: {', '.join(LIFECYCLE_ACTIONS)}")
    days = {a: None if raw.get(a) is None else int(raw[a]) for a in LIFECYCLE_ACTIONS}
    return LifecycleRule(id=str(raw["id"]), prefix=raw.get("prefix", ""), **days,
                         accept_data_loss=bool(raw.get("accept_data_loss", False)))


LONGEST_RULE_DAYS = 36500  # a lifecycle rule's days (the estate's bound, as S3's own examples go)
# S3 Replication Time Control "replicates 99.99 percent of new objects within 15 minutes" (S3 User Guide): a replica's
# newest object is counted that late, with or without RTC.
REPLICA_LAG = timedelta(minutes=15)


def versions_copy(rules: Sequence[tuple[str, int]], lock_days: int | None = None) -> Copy:
    """Versioning as a copy: every write kept as a version, old versions kept as long as the shortest of these
    lifecycle rules ((id, NoncurrentDays)) says, never less than an Object Lock's default retention."""
    if not rules:
        return Copy("versions", timedelta(0), None, "old versions, kept until deleted", locked_days=lock_days)
    rule, days = min(rules, key=lambda r: r[1])
    kept = max(days, lock_days or 0)
    locked = f", Object Lock keeps them {lock_days} days" if lock_days and lock_days > days else ""
    return Copy("versions", timedelta(0), timedelta(days=kept),
                f"old versions, expired after {days} days by lifecycle rule {rule}{locked}",
                f"declare noncurrent_version_expiration_days: N or more on lifecycle rule {rule}",
                locked_days=lock_days)


log = logging.getLogger(__name__)
ACCOUNT_EVENTS = frozenset({"PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock"})
# The IAM actions of a bucket's reads and repairs (HeadBucket is s3:ListBucket; each Get/Put of a configuration is
# authorized as its own action, DeleteBucket* as the Put of the same configuration; replication and Object Lock are
# read for what a deletion would lose).
_READS = ("s3:ListBucket", "s3:GetBucketPublicAccessBlock", "s3:GetBucketOwnershipControls",
          "s3:GetEncryptionConfiguration", "s3:GetBucketVersioning", "s3:GetBucketWebsite", "s3:GetBucketPolicy",
          "s3:GetBucketCORS", "s3:GetLifecycleConfiguration", "s3:GetBucketTagging", "s3:GetBucketNotification",
          "s3:GetReplicationConfiguration", "s3:GetBucketObjectLockConfiguration")
_REPAIRS = ("s3:PutBucketPublicAccessBlock", "s3:PutBucketOwnershipControls", "s3:PutEncryptionConfiguration",
            "s3:PutBucketVersioning", "s3:PutBucketWebsite", "s3:PutBucketPolicy", "s3:PutBucketCORS",
            "s3:PutLifecycleConfiguration", "s3:PutBucketTagging", "s3:PutBucketNotification")
# AWSBackupServiceRolePolicyForS3Restore's parts a restore into an existing bucket uses (no CreateBucket, no delete).
_RESTORE_BUCKET = ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:GetBucketLocation",
                   "s3:GetBucketOwnershipControls")
_RESTORE_OBJECTS = ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAcl", "s3:GetObjectVersionAcl",
                    "s3:GetObjectTagging", "s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectVersionAcl",
                    "s3:PutObjectTagging", "s3:ListMultipartUploadParts")


def _bucket_arn(name: str) -> str:
    return f"arn:${{AWS::Partition}}:s3:::{name}"


def _copy_name(placed: Placed) -> str:
    """The replica's name as the stack knows it (a deploy-time var as its parameter), else as loaded."""
    written = placed.written.get("copy_from")
    return str(written["bucket"]) if isinstance(written, dict) else str(placed.spec.copy_from)


ACCOUNT = "account"  # the run's shared fact: the account-level public access block
OWNED = "owned buckets"  # the run's shared fact: the buckets this account owns (listed only when a 403 asks)


class BucketKind(Kind[BucketSpec, BucketState]):
    name = "bucket"
    section = "buckets"
    title = "S3 buckets"
    spec_type = BucketSpec
    creates = ("create_bucket",)
    aws_waits = ("wait_refill",)  # a recreated bucket's objects copied back: slow work that outlives a run
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
        "DeleteBucketOwnershipControls", "PutBucketTagging", "DeleteBucketTagging", "PutBucketNotification",
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

    fields = BUCKET

    def load(self, parser: Checker, raw: Any, path: str, region: str) -> BucketSpec:
        return _bucket(parser, raw, path, region)

    def permissions(self, resources: Sequence[Placed]) -> Permissions:
        buckets = [_bucket_arn(r.name) for r in resources]
        if not buckets:
            return {}
        # S3 ARNs carry no account: a squatted name whose policy lets us in is never read or written.
        ours = {"Condition": {"StringEquals": {"s3:ResourceAccount": "${AWS::AccountId}"}}}
        function: list[dict[str, Any]] = [
            {**allow("ObserveBuckets", list(_READS), buckets), **ours},
            # Asked only when HeadBucket answers 403, to tell "another account's" from "ours, but denied".
            allow("ListOwnBuckets", "s3:ListAllMyBuckets", "*"),
            # Makes this account's bucket or fails (BucketAlreadyExists): it cannot reach another account's.
            allow("CreateBuckets", "s3:CreateBucket", buckets),
            {**allow("RepairOwnBuckets", list(_REPAIRS), buckets), **ours},
        ]
        restore: list[dict[str, Any]] = []
        declared = [p for r in resources for p in r.each]
        # A recreated bucket refilled from its replica: read the copy (CopyObject and UploadPartCopy authorize
        # s3:GetObject on the source), put objects into the bucket only; one statement per account owning copies.
        copies: dict[str, list[Placed]] = {}
        for p in declared:
            if p.spec is not None and p.spec.copy_from not in (None, AWS_BACKUP):
                copies.setdefault(p.spec.copy_account or "${AWS::AccountId}", []).append(p)
        for i, (account, refilled) in enumerate(copies.items()):
            number = str(i + 1) if len(copies) > 1 else ""
            replicas = [_bucket_arn(_copy_name(p)) for p in refilled]
            function.append({**allow(f"ReadThePhotosCopy{number}", ["s3:ListBucket", "s3:GetObject",
                                                                     "s3:GetObjectTagging"],
                                     [a for r in replicas for a in (r, f"{r}/*")]),
                             "Condition": {"StringEquals": {"s3:ResourceAccount": account}}})
            function.append({**allow(f"RefillThePhotosBucketFromItsCopy{number}",
                                     ["s3:PutObject", "s3:AbortMultipartUpload"],
                                     [f"{_bucket_arn(p.name)}/*" for p in refilled]), **ours})
        # A recreated bucket refilled from its newest AWS Backup recovery point, by AWS Backup with the restore role.
        backed = [p for p in declared if p.spec is not None and p.spec.copy_from == AWS_BACKUP]
        if backed:
            function += [
                allow("FindAwsBackupRecoveryPointsNoResourceType", "backup:ListRecoveryPointsByResource", "*"),
                allow("RestoreAwsBackupRecoveryPoints", "backup:StartRestoreJob",
                      "arn:${AWS::Partition}:backup:${AWS::Region}:${AWS::AccountId}:recovery-point:*"),
                allow("WatchRestoreJobsNoResourceType", "backup:DescribeRestoreJob", "*"),
                {**allow("PassOnlyTheRestoreRoleToAwsBackup", "iam:PassRole", "${BackupRestoreRole.Arn}"),
                 "Condition": {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}},
            ]
            restore += [
                {**allow("RestoreIntoThePhotosBucket", list(_RESTORE_BUCKET), [_bucket_arn(p.name) for p in backed]),
                 **ours},
                {**allow("RestoreThePhotosObjects", list(_RESTORE_OBJECTS),
                         [f"{_bucket_arn(p.name)}/*" for p in backed]), **ours},
            ]
            keys = sorted({p.written.get("encryption", {}).get("kms_key") for p in backed
                           if isinstance(p.written.get("encryption"), dict)} - {None, "aws-managed"})
            if keys:  # the objects restored encrypted with the key the estate declares, through S3 only
                restore.append({**allow("UseThePhotosKeyOnlyThroughS3",
                                        ["kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"],
                                        [k if k.startswith("arn:") else
                                         "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"
                                         for k in keys]),
                                "Condition": {"StringEquals": {"kms:ViaService": "s3.${AWS::Region}.amazonaws.com"}}})
        return {FUNCTION_ROLE: function, RESTORE_ROLE: restore}

    def event_filters(self, resources: Sequence[Placed]) -> list[dict[str, Any]]:
        names = [{"prefix": r.prefix} if r.prefix is not None else r.name for r in resources]
        return [{"requestParameters": {"bucketName": names}}, {"eventName": sorted(ACCOUNT_EVENTS)}] if names else []

    def rules(self, resources: Sequence[Placed]) -> Mapping[str, Mapping[str, Any]]:
        # S3's own Object Deleted events of the buckets that warn of a mass delete (they send them to EventBridge).
        warned = [r for r in resources if any(p.spec is None or p.spec.mass_delete for p in r.each)]
        if not warned:
            return {}
        names = [{"prefix": r.prefix} if r.prefix is not None else r.name for r in warned]
        return {"Deletions": {"source": ["aws.s3"], "detail-type": ["Object Deleted"],
                              "detail": {"bucket": {"name": names}}}}

    def prefetch(self, ctx: RunContext, specs: Sequence[BucketSpec]) -> None:
        # Read alongside the buckets, not before them: only a bucket's plan waits for it.
        public = any(b.is_public for b in specs)
        ctx.start(ACCOUNT, lambda: _account(ctx, public))

    def observe(self, ctx: RunContext, spec: BucketSpec) -> BucketState:
        owned = ctx.fact(OWNED, lambda: OwnedBuckets(ctx.clients))
        return self._with_copy(ctx, spec, observe_bucket(_s3(ctx.clients, spec.region), spec, owned, ctx.reads))

    def observe_again(self, ctx: RunContext, spec: BucketSpec) -> BucketState:
        return self._with_copy(ctx, spec, observe_bucket(_s3(ctx.clients, spec.region), spec))

    @staticmethod
    def _with_copy(ctx: RunContext, spec: BucketSpec, state: BucketState) -> BucketState:
        """The declared copy read beside the bucket (a replica on every run: one HeadBucket; AWS Backup only while
        the bucket is missing)."""
        if spec.copy_from is None or state.foreign:
            return state
        arn = f"arn:{partition_of(spec.region)}:s3:::{spec.name}"
        backup = ctx.clients.client("backup", spec.region) if spec.copy_from == AWS_BACKUP else None
        return replace(state, copy=observe_copy(_s3(ctx.clients, spec.region), backup, spec, state, arn))

    def plan(self, ctx: RunContext, spec: BucketSpec, state: BucketState) -> ResourcePlan:
        account = ctx.fact(ACCOUNT, lambda: _account(ctx, spec.is_public))
        declared = ctx.key(spec.kms_key, spec.region) if spec.kms_key else None
        enc = state.aspects.get("encryption") if state.exists else None
        if declared and declared.arn and enc and enc.get("kms_key") not in (None, spec.kms_key, declared.arn):
            # S3 hands back the key as it was given (alias, alias ARN, key id): the same key spelled otherwise is
            # no drift, so compare key ARNs.
            if ctx.key(enc["kms_key"], spec.region).arn == declared.arn:
                state = replace(state, aspects={**state.aspects, "encryption": {**enc, "kms_key": declared.arn}})
        return plan_bucket(spec, state, account, declared, ctx.restore_role if ctx.restore else None)

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

    def recovery(self, ctx: RunContext, spec: BucketSpec, state: BucketState) -> Recovery | None:
        """Versioning (and how long lifecycle rules keep old versions), from the aspects observe read (versioning is
        read once more only where the estate does not declare it); on a bucket versioned now or before (suspended),
        its replication and Object Lock (a read each: a replica survives a delete, a lock keeps versions from it); a
        declared `copy_from: {bucket}` that exists (observe's HeadBucket) is a `replica` source; AWS Backup's recovery
        points where a declared selection names the bucket, `copy_from: aws-backup` says so or nothing else keeps a
        copy (one list read)."""
        if not state.exists:
            return Recovery(None, (), "everything")
        s3 = _s3(ctx.clients, spec.region)
        status = state.aspects["versioning"] if "versioning" in state.aspects else \
            s3.get_bucket_versioning(Bucket=spec.name).get("Status")
        declared = tuple(c for c in ctx.copies_of(spec) if c.source == "aws-backup")  # a backups selection names it
        copy = state.copy
        refill = spec.copy_from not in (None, AWS_BACKUP) and copy is not None and copy.exists and not copy.problem
        arn = f"arn:{partition_of(spec.region)}:s3:::{spec.name}"
        # Suspended, the versions, replica and lock made while it was on remain: read for both
        lock, replicas = (_object_lock(s3, spec.name), _replicas(s3, spec.name)) if status else (None, [])
        replica = tuple(Copy("replica", REPLICA_LAG, None, f"replica in {name}") for name in replicas)
        if refill:  # the declared copy a recreated bucket is refilled from
            replica += (Copy("replica", REPLICA_LAG, None, f"copy in bucket {spec.copy_from}"),)
        if status != "Enabled":
            if refill:  # AWS Backup is not read: the declared copy is what a deletion is refilled from
                return Recovery(ctx.now(), ("replica",), f"what bucket {spec.copy_from} does not hold yet (it is "
                                "copied back from there)", (*replica, *declared))
            points = find_recovery_points(cast("Any", ctx.clients.client("backup", spec.region)), arn)
            found = copies_recovery(newest_first(points), ctx.now())
            if not replicas:
                return replace(found, copies=declared)
            return Recovery(ctx.now() - REPLICA_LAG, tuple(sorted({*found.sources, "replica"})),
                            f"data since {REPLICA_LAG.seconds // 60} minutes ago (replica in {', '.join(replicas)})",
                            (*replica, *declared))
        rules = _noncurrent_rules(state)
        versions = versions_copy(rules, lock[1] if lock else None)
        kept = (f"for {versions.keeps.days} days" if versions.keeps else "until deleted") \
            if "lifecycle" in state.aspects else "as long as its lifecycle keeps them"
        text = [f"nothing: deleted objects stay as old versions {kept}"]
        if lock:
            text.append(f"Object Lock ({lock[0]}, {lock[1]} days) keeps each version from deletion")
        sources = ["versions", *(["replica"] if replica else [])]
        copies = [versions, *replica, *declared]
        if replicas:
            text.append(f"replicated to {', '.join(replicas)}")
        if declared or spec.copy_from == AWS_BACKUP:
            point = newest_copy(newest_first(find_recovery_points(
                cast("Any", ctx.clients.client("backup", spec.region)), arn)), ctx.now())
            if point:
                sources.append("aws-backup")
                text.append(f"newest AWS Backup point {point[2]}")
        return Recovery(ctx.now(), tuple(sources), "; ".join(text), tuple(copies))

    copy_fix = "declare versioning: true, or name the bucket in a backups selection"

    def objective(self, spec: BucketSpec) -> Objective | None:
        return spec.objective

    def copies(self, spec: BucketSpec, target: Any) -> tuple[Copy, ...]:
        if target is not spec or not spec.versioning:
            return ()
        return (versions_copy([(r.id, r.noncurrent_version_expiration_days) for r in spec.lifecycle
                               if r.noncurrent_version_expiration_days]),)

    def after_apply(self, ctx: RunContext, spec: BucketSpec, state: BucketState, plan: ResourcePlan,
                    found: tuple[Copy, ...]) -> tuple[tuple[Copy, ...], str]:
        paths = {c.path.split(".")[0].split("[")[0] for c in plan.changes}
        if not spec.versioning or not paths & {"versioning", "lifecycle"}:
            return found, ""
        # Apply writes the declared rules and keeps undeclared ones (those it removes as findings aside): a declared
        # rule never lengthened, an undeclared one never shortened.
        declared = {r.id: r.noncurrent_version_expiration_days for r in spec.lifecycle}
        kept = [(rule, days) for rule, days in _noncurrent_rules(state) if rule not in declared
                and not (days < MIN_NONCURRENT_DAYS and "lifecycle" in spec.exclusive_sections)]
        rules = [(rule, days) for rule, days in declared.items() if days] + kept
        lock = next((c.locked_days for c in found if c.source == "versions"), None)  # no rule shortens a lock
        after = (versions_copy(rules, lock), *(c for c in found if c.source != "versions"))
        return after, "apply switches versioning on, as the estate declares" if "versioning" in paths else \
            "apply writes the declared lifecycle rules"

    def facts(self, result: ResourceResult) -> str:
        if result.outcome is Outcome.CREATED and any(n.startswith("recreated empty") for n in result.notes):
            return " (empty: its objects are gone)"
        return ""

    def drill(self) -> BucketDrill:
        from ..drill.buckets import BucketDrill  # noqa: PLC0415 - only a drill loads it

        return BucketDrill()

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
        elif step.operation == "wait_refill":
            refill(client, step, waits, deadline)
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


def _noncurrent_rules(state: BucketState) -> list[tuple[str, int]]:
    """The bucket's enabled lifecycle rules that expire old versions, as (id, NoncurrentDays)."""
    lifecycle = state.aspects.get("lifecycle")
    return [(str(r.get("ID", "?")), int(r["NoncurrentVersionExpiration"]["NoncurrentDays"]))
            for r in (lifecycle or {}).get("rules") or [] if r.get("Status") == "Enabled"
            and (r.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")]


def _object_lock(s3: Any, bucket: str) -> tuple[str, int] | None:
    """The bucket's default Object Lock retention, (mode, days); None without one."""
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration") or {}
    except AWS_ERRORS as exc:
        if error_code(exc) == "ObjectLockConfigurationNotFoundError":
            return None
        raise
    retention = (config.get("Rule") or {}).get("DefaultRetention") or {}
    if config.get("ObjectLockEnabled") != "Enabled" or not retention:
        return None
    days = int(retention.get("Days") or 0) or int(retention.get("Years") or 0) * 365
    return str(retention.get("Mode", "GOVERNANCE")), days


def _replicas(s3: Any, bucket: str) -> list[str]:
    """The buckets the bucket's enabled replication rules copy to (none without a configuration)."""
    try:
        config = s3.get_bucket_replication(Bucket=bucket).get("ReplicationConfiguration") or {}
    except AWS_ERRORS as exc:
        if error_code(exc) == "ReplicationConfigurationNotFoundError":
            return []
        raise
    return sorted({str((r.get("Destination") or {}).get("Bucket", "?")).rsplit(":", 1)[-1]
                   for r in config.get("Rules") or [] if r.get("Status") == "Enabled"})


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
