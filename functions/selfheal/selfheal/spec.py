"""The declared estate as frozen specs: what each table and bucket must be. Nothing here touches AWS or reads a file.

The estate file's loader (selfheal/loader.py) builds these from YAML; the planners compare them with what exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any, ClassVar, Literal

ON_DEMAND = "PAY_PER_REQUEST"
AWS_OWNED_KEY = "aws-owned"  # a table's `encryption:` for DynamoDB's default key, owned by AWS and never shown
PROVISIONED = "PROVISIONED"
STREAM_VIEWS = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")
KEY_TYPES = ("S", "N", "B")
PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")
OWNERSHIP = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")
CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
POLICY_PRESETS = ("public-read", "tls-only")
BPA_FLAGS = ("block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets")
LIFECYCLE_ACTIONS = ("abort_incomplete_multipart_upload_days", "expiration_days", "noncurrent_version_expiration_days")
# The sections of a bucket whose findings (what widens access or destroys data, beyond the declaration) apply removes
# when the estate names them exclusive; otherwise a finding is a conflict.
EXCLUSIVE_SECTIONS = ("policy", "cors", "lifecycle", "website")
# Until the estate states a recovery objective: the shortest noncurrent-version expiration kept without an opt-in.
MIN_NONCURRENT_DAYS = 30


class EstateError(ValueError):
    """A declared estate that cannot be used: names the file, the field and the fix."""

    def __init__(self, source: str, path: str, problem: str, fix: str) -> None:
        self.source, self.path, self.problem, self.fix = source, path, problem, fix
        super().__init__(f"{source}: {path}: {problem} — {fix}")


# ---------------------------------------------------------------------------------------------------------------
# The specs


@dataclass(frozen=True)
class Objective:
    """A resource's declared recovery objective (`recovery:`): how far back its copies must reach (window) and how much
    a deletion now may lose at most (rpo). None: not declared."""

    window: timedelta | None = None
    rpo: timedelta | None = None

    def __str__(self) -> str:
        given = ((f.name, getattr(self, f.name)) for f in fields(self))
        return ", ".join(f"{name} {duration_text(value)}" for name, value in given if value is not None)


@dataclass(frozen=True)
class Copy:
    """One kind of copy kept of a resource (declared, or found): how far apart its points are at worst (what a
    deletion now loses with only this copy) and how far back it reaches."""

    source: str  # pitr | versions | aws-backup | backup | replica (the `sources` of a report's `recovery`)
    every: timedelta
    keeps: timedelta | None  # None: until someone deletes it
    what: str  # as a person reads it: "PITR (35 days)", "AWS Backup rule nightly of backups[0]"
    lengthen: str = ""  # how to make it reach further back, when the estate can say so
    finest: bool = False  # no copy the estate can declare of the resource is newer (a table's PITR)
    locked_days: int | None = None  # kept at least this long whatever a rule says (an Object Lock's retention)


def duration_text(value: timedelta) -> str:
    """A duration as the estate writes it: 35d, 1h, 30m, 45s (the largest unit that divides it)."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class KeyAttr:
    """A key attribute: its name and DynamoDB type."""

    name: str
    type: str  # S | N | B


@dataclass(frozen=True)
class IndexSpec:
    """A declared secondary index (global or local)."""

    name: str
    hash_key: KeyAttr | None  # None for an LSI (it shares the table's hash key)
    range_key: KeyAttr | None
    projection: str = "ALL"
    non_key_attributes: tuple[str, ...] = ()
    read_capacity: int | None = None
    write_capacity: int | None = None


@dataclass(frozen=True)
class TableSpec:
    """A declared DynamoDB table."""

    name: str
    region: str
    hash_key: KeyAttr
    range_key: KeyAttr | None = None
    gsis: tuple[IndexSpec, ...] = ()
    lsis: tuple[IndexSpec, ...] = ()
    billing: str = ON_DEMAND
    read_capacity: int | None = None
    write_capacity: int | None = None
    kms_key: str | None = None  # None: the AWS-managed key alias/aws/dynamodb (or the AWS-owned one, below)
    aws_owned_key: bool = False  # SSE with the AWS-owned key: DynamoDB's default, reported as no SSEDescription
    pitr: bool = True
    recovery_days: int = 35
    deletion_protection: bool = True
    ttl: str | None = None
    stream: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    restore: bool = True  # look for a backup before creating a missing table
    rto_seconds: float | None = None  # recovery.rto: how long a restore may take (a drill over it alarms)
    objective: Objective | None = None  # recovery: {window, rpo}

    kind: ClassVar[Literal["table"]] = "table"

    @property
    def attributes(self) -> dict[str, str]:
        """Every key attribute of the table and its indexes, name -> type."""
        attrs: dict[str, str] = {}
        for key in (self.hash_key, self.range_key):
            if key:
                attrs[key.name] = key.type
        for index in self.gsis + self.lsis:
            for key in (index.hash_key, index.range_key):
                if key:
                    attrs[key.name] = key.type
        return attrs


@dataclass(frozen=True)
class CorsRule:
    """A declared CORS rule of a bucket."""

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None
    id: str | None = None


@dataclass(frozen=True)
class LifecycleRule:
    """A declared lifecycle rule of a bucket."""

    id: str
    prefix: str = ""
    abort_incomplete_multipart_upload_days: int | None = None
    expiration_days: int | None = None
    noncurrent_version_expiration_days: int | None = None
    accept_data_loss: bool = False  # the estate's explicit opt-in to a rule that deletes data for good


@dataclass(frozen=True)
class Website:
    """A bucket's declared static website."""

    index_document: str = "index.html"
    error_document: str | None = None


@dataclass(frozen=True)
class BucketSpec:
    """A declared S3 bucket."""

    name: str
    region: str
    public_access_block: tuple[tuple[str, bool], ...] = tuple((f, True) for f in BPA_FLAGS)
    object_ownership: str = "BucketOwnerEnforced"
    encryption: str = "AES256"  # AES256 (SSE-S3) | aws:kms
    kms_key: str | None = None
    bucket_key: bool = True
    versioning: bool = False
    website: Website | None = None
    policy_statements: tuple[str, ...] = ()  # canonical JSON of each declared statement (presets expanded)
    cors: tuple[CorsRule, ...] = ()
    lifecycle: tuple[LifecycleRule, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    exclusive: tuple[str, ...] | None = None  # None: the default (every section on public or versioned buckets)
    copy_from: str | None = None  # a bucket whose objects refill this one when it is recreated, or AWS_BACKUP
    copy_account: str | None = None  # the owner of the copy_from bucket (a backup account); None: this account
    mass_delete: tuple[int, int] | None = None  # (objects, minutes): more deleted within that window is reported
    rto_seconds: float | None = None  # recovery.rto: how long a restore may take (a drill over it alarms)
    objective: Objective | None = None  # recovery: {window, rpo}

    kind: ClassVar[Literal["bucket"]] = "bucket"

    @property
    def exclusive_sections(self) -> tuple[str, ...]:
        """The sections whose findings apply removes: as declared, else all of them on a public or versioned bucket."""
        if self.exclusive is not None:
            return self.exclusive
        return EXCLUSIVE_SECTIONS if self.is_public or self.versioning else ()

    @property
    def bpa(self) -> dict[str, bool]:
        return dict(self.public_access_block)

    @property
    def statements(self) -> list[dict[str, Any]]:
        return [json.loads(s) for s in self.policy_statements]

    @property
    def is_public(self) -> bool:
        bpa = self.bpa
        return not (bpa["block_public_policy"] and bpa["restrict_public_buckets"])


AWS_BACKUP = "aws-backup"  # BucketSpec.copy_from: the newest AWS Backup recovery point of the bucket itself


@dataclass(frozen=True)
class Settings:
    """The estate's run settings: the guard, the pool, the time budget and the waits."""

    max_missing_percent: float = 50.0  # blast-radius guard for scheduled runs
    pool_size: int = 16
    time_budget_seconds: float | None = None
    wait_timeout_seconds: float = 900.0
    poll_seconds: float = 5.0


@dataclass(frozen=True)
class Estate:
    """The declared estate: each kind's section (`tables`, `buckets`, ...) -> its specs, in the file's order."""

    source: str
    sections: Mapping[str, tuple[Any, ...]]
    settings: Settings = field(default_factory=Settings)
    variables: tuple[tuple[str, str], ...] = ()
    # The copies the estate declares of each resource with a recovery objective, (kind, name) -> copies: found across
    # sections (a backups selection copies a table) when the file is read, so `only` keeps them.
    copies: Mapping[tuple[str, str], tuple[Copy, ...]] = field(default_factory=dict)

    def copies_of(self, spec: Any) -> tuple[Copy, ...]:
        return tuple(self.copies.get((spec.kind, spec.name), ()))

    def section(self, name: str) -> tuple[Any, ...]:
        """The specs of one section (empty when the file declares none)."""
        return tuple(self.sections.get(name, ()))

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        return self.section("tables")

    @property
    def buckets(self) -> tuple[BucketSpec, ...]:
        return self.section("buckets")

    @property
    def resources(self) -> tuple[Any, ...]:
        """Every declared resource, section by section in the registry's order."""
        return tuple(spec for specs in self.sections.values() for spec in specs)

    def with_section(self, name: str, specs: tuple[Any, ...]) -> Estate:
        """The same estate with one section's specs replaced."""
        return replace(self, sections={**self.sections, name: tuple(specs)})

    def only(self, names: tuple[str, ...] | list[str]) -> Estate:
        """The same estate narrowed to the named resources; an unknown name is an error naming the known ones."""
        if not names:
            return self
        known = {r.name for r in self.resources}
        for name in names:
            if name not in known:
                raise EstateError(
                    self.source, "--only", f"{name!r} is not declared in the estate", choose(name, sorted(known))
                )
        wanted = set(names)
        return replace(self, sections={k: tuple(r for r in v if r.name in wanted) for k, v in self.sections.items()})


_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"), ("us-iso-", "aws-iso"),
               ("eu-isoe-", "aws-iso-e"), ("us-isof-", "aws-iso-f"))


def partition_of(region: str) -> str:
    """The ARN partition of a region: aws, aws-cn, aws-us-gov, ..."""
    return next((p for prefix, p in _PARTITIONS if region.startswith(prefix)), "aws")


def preset_statement(preset: str, bucket: str, partition: str = "aws") -> dict[str, Any]:
    """The policy statement a preset stands for (ARNs in the partition of the bucket's region: aws, aws-cn, ...)."""
    arn = f"arn:{partition}:s3:::{bucket}"
    if preset == "public-read":
        return {
            "Sid": "PublicReadGetObject",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"{arn}/*",
        }
    if preset == "tls-only":
        return {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    raise ValueError(preset)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))




def choose(word: str, options: list[str]) -> str:
    """The fix for an unknown word: the closest option, then all of them."""
    import difflib  # noqa: PLC0415 - only a bad estate needs it, not every cold start

    close = difflib.get_close_matches(word, options, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}use one of: {', '.join(options)}" if options else "remove it"
