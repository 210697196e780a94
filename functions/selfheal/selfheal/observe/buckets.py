"""Read an S3 bucket's declared aspects into a normalized state: one read per declared aspect."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..aws import error_code, expected_owner, explain, http_status
from ..spec import AWS_BACKUP, BPA_FLAGS, BucketSpec
from ..state.buckets import BPA_KEYS, BucketState, CopyFacts, declared_aspects
from .tables import Mapper

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

# aspect -> (client method, error codes that mean "not configured")
_READS: dict[str, tuple[str, tuple[str, ...]]] = {
    "public_access_block": ("get_public_access_block", ("NoSuchPublicAccessBlockConfiguration",)),
    "object_ownership": ("get_bucket_ownership_controls", ("OwnershipControlsNotFoundError",)),
    "encryption": ("get_bucket_encryption", ("ServerSideEncryptionConfigurationNotFoundError",)),
    "versioning": ("get_bucket_versioning", ()),
    "website": ("get_bucket_website", ("NoSuchWebsiteConfiguration",)),
    "policy": ("get_bucket_policy", ("NoSuchBucketPolicy",)),
    "cors": ("get_bucket_cors", ("NoSuchCORSConfiguration",)),
    "lifecycle": ("get_bucket_lifecycle_configuration", ("NoSuchLifecycleConfiguration",)),
    "tags": ("get_bucket_tagging", ("NoSuchTagSet", "NoSuchTagSetError")),
    "notifications": ("get_bucket_notification_configuration", ()),
}


ALL_ASPECTS = tuple(_READS)  # every aspect the estate can declare (selfheal import reads them all)


def observe_bucket(
    client: S3Client,
    spec: BucketSpec,
    owned_names: Any = None,
    mapper: Mapper = map,
    aspects: tuple[str, ...] | None = None,
) -> BucketState:
    """HeadBucket, then one read per declared aspect. `owned_names()` lists our buckets, asked only on a 403.

    mapper: how the aspect reads run; `executor.map` runs them side by side (they do not depend on each other).
    aspects: the aspects to read instead of the declared ones (e.g. ALL_ASPECTS).
    """
    wanted = declared_aspects(spec) if aspects is None else aspects
    try:
        head = client.head_bucket(Bucket=spec.name)
    except ClientError as exc:
        status = http_status(exc)
        if status == 404 or error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return BucketState(spec.name, exists=False)
        if status == 403 and owned_names is not None and spec.name not in owned_names():
            return BucketState(spec.name, exists=False, foreign=True)
        raise
    region = head.get("BucketRegion") or head["ResponseMetadata"].get("HTTPHeaders", {}).get("x-amz-bucket-region")
    found: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def read(aspect: str) -> tuple[str, Any, str | None]:
        method, absent = _READS[aspect]
        try:
            return aspect, normalize_aspect(aspect, getattr(client, method)(Bucket=spec.name)), None
        except ClientError as exc:
            if error_code(exc) in absent:
                return aspect, None, None
            return aspect, None, explain(exc, method, f"bucket {spec.name}")

    for aspect, value, problem in mapper(read, wanted):
        if problem:
            errors[aspect] = problem
        else:
            found[aspect] = value
    return BucketState(spec.name, exists=True, region=region or None, aspects=found, read_errors=errors)


def normalize_aspect(aspect: str, response: dict[str, Any]) -> Any:
    """The part of a Get* response that the estate can declare."""
    if aspect == "public_access_block":
        cfg = response.get("PublicAccessBlockConfiguration", {})
        return {flag: bool(cfg.get(BPA_KEYS[flag])) for flag in BPA_FLAGS}
    if aspect == "object_ownership":
        rules = response.get("OwnershipControls", {}).get("Rules", [])
        return rules[0].get("ObjectOwnership") if rules else None
    if aspect == "encryption":
        rules = response.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        if not rules:
            return None
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {})
        return {
            "algorithm": default.get("SSEAlgorithm"),
            "kms_key": default.get("KMSMasterKeyID"),
            "bucket_key": bool(rules[0].get("BucketKeyEnabled")),
        }
    if aspect == "versioning":
        return response.get("Status")
    if aspect == "website":
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}
    if aspect == "policy":
        try:
            return json.loads(response.get("Policy") or "{}")
        except json.JSONDecodeError:
            return {"Statement": [], "_unparsable": response.get("Policy")}
    if aspect == "cors":
        return list(response.get("CORSRules", []))
    if aspect == "lifecycle":  # the rules, and a bucket-wide setting a PUT resets unless it is sent back
        return {"rules": list(response.get("Rules", [])),
                "transition_default_minimum_object_size": response.get("TransitionDefaultMinimumObjectSize")}
    if aspect == "tags":
        return {t["Key"]: t["Value"] for t in response.get("TagSet", [])}
    if aspect == "notifications":  # the whole document: a PUT replaces it, so what others set is sent back
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}
    raise ValueError(aspect)


def observe_copy(s3: S3Client, backup: Any, spec: BucketSpec, state: BucketState, bucket_arn: str) -> CopyFacts:
    """The bucket's declared copy: a replica's existence and region (one HeadBucket), or, while the bucket is missing,
    its newest completed AWS Backup recovery point."""
    if spec.copy_from != AWS_BACKUP:
        source = str(spec.copy_from)
        try:
            # Its owner declared (a backup account) or, by default, this account: never a squatter's bucket.
            head = s3.head_bucket(Bucket=source, **expected_owner(spec.copy_account))
        except ClientError as exc:
            if http_status(exc) == 404 or error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return CopyFacts(f"bucket {source}", exists=False)
            return CopyFacts(f"bucket {source}", exists=False, problem=explain(exc, "HeadBucket", f"bucket {source}"))
        region = head.get("BucketRegion") or head["ResponseMetadata"].get("HTTPHeaders", {}).get("x-amz-bucket-region")
        return CopyFacts(f"bucket {source}", exists=True, region=region or None)
    if state.exists:  # the point is read only to recreate the bucket; a refill under way names its own
        return CopyFacts("AWS Backup", exists=False)
    newest: tuple[float, str] | None = None
    kwargs: dict[str, Any] = {"ResourceArn": bucket_arn}
    while True:
        try:
            page = backup.list_recovery_points_by_resource(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":  # AWS Backup never protected it
                return CopyFacts("AWS Backup", exists=False)
            return CopyFacts("AWS Backup", exists=False, problem=explain(exc, "ListRecoveryPointsByResource",
                                                                          f"bucket {spec.name}"))
        for rp in page.get("RecoveryPoints", []):
            if rp.get("Status") != "COMPLETED":
                continue  # PARTIAL, EXPIRED, CREATING...: not a whole copy to restore now
            created = rp.get("CreationDate")
            stamp = created.timestamp() if hasattr(created, "timestamp") else float(created or 0)
            if newest is None or stamp > newest[0]:
                newest = (stamp, str(rp["RecoveryPointArn"]))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return CopyFacts("AWS Backup", exists=newest is not None, recovery_point=newest[1] if newest else None)
