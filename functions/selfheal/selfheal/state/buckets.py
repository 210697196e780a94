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


@dataclass(frozen=True)
class BucketState:
    """A bucket as it is. `aspects` holds only what was read; a value of None means "not configured"."""

    name: str
    exists: bool
    foreign: bool = False  # the name belongs to another account
    region: str | None = None
    aspects: dict[str, Any] = field(default_factory=dict)
    read_errors: dict[str, str] = field(default_factory=dict)


def declared_aspects(spec: BucketSpec) -> tuple[str, ...]:
    """The aspects worth a read: always access block, ownership, encryption, and policy, CORS and lifecycle (what is
    there beyond the declaration can widen access or destroy data); the rest only when declared."""
    aspects = ["public_access_block", "object_ownership", "encryption"]
    if spec.versioning:
        aspects.append("versioning")
    if spec.website:
        aspects.append("website")
    aspects += ["policy", "cors", "lifecycle"]
    if spec.tags:
        aspects.append("tags")
    return tuple(aspects)


__all__ = ["BPA_KEYS", "BucketState", "declared_aspects"]
