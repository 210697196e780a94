"""An S3 bucket as it is, and which of its aspects a spec declares: data, read by observe, planned on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..spec import BucketSpec

BPA_KEYS = {
    "block_public_acls": "BlockPublicAcls",
    "ignore_public_acls": "IgnorePublicAcls",
    "block_public_policy": "BlockPublicPolicy",
    "restrict_public_buckets": "RestrictPublicBuckets",
}


REFILL_TAG = "selfheal:refill"  # on a recreated bucket until its objects are back: what it is being refilled from


@dataclass(frozen=True)
class CopyFacts:
    """A bucket's declared copy, as it is: read when the bucket is missing or being refilled (and a replica's region
    on every run: a copy in another region is a mistake of the estate)."""

    source: str  # "bucket NAME" or "AWS Backup"
    exists: bool  # the replica bucket exists / a completed recovery point exists
    region: str | None = None  # the replica bucket's region
    recovery_point: str | None = None  # the newest completed AWS Backup recovery point of the bucket
    problem: str | None = None  # the copy could not be read (why)


@dataclass(frozen=True)
class BucketState:
    """A bucket as it is. `aspects` holds only what was read; a value of None means "not configured"."""

    name: str
    exists: bool
    foreign: bool = False  # the name belongs to another account
    region: str | None = None
    aspects: dict[str, Any] = field(default_factory=dict)
    read_errors: dict[str, str] = field(default_factory=dict)
    copy: CopyFacts | None = None  # its declared copy (copy_from), when read

    @property
    def refill(self) -> str | None:
        """What the bucket is still being refilled from (its REFILL_TAG): `bucket:NAME`, `point:ARN` or `job:ID`."""
        return (self.aspects.get("tags") or {}).get(REFILL_TAG)


def declared_aspects(spec: BucketSpec) -> tuple[str, ...]:
    """The aspects worth a read: always access block, ownership, encryption, and policy, CORS and lifecycle (what is
    there beyond the declaration can widen access or destroy data); the rest only when declared."""
    aspects = ["public_access_block", "object_ownership", "encryption"]
    if spec.versioning:
        aspects.append("versioning")
    if spec.website:
        aspects.append("website")
    aspects += ["policy", "cors", "lifecycle"]
    if spec.tags or spec.copy_from:  # a refill under way is marked by a tag
        aspects.append("tags")
    if spec.mass_delete:  # its deletions reach EventBridge, where they are counted
        aspects.append("notifications")
    return tuple(aspects)


__all__ = ["BPA_KEYS", "REFILL_TAG", "BucketState", "CopyFacts", "declared_aspects"]
