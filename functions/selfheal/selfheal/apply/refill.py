"""Refill a recreated bucket from its copy, within the run's time: a replica's objects copied back, or an AWS Backup
restore job started and waited for. Resumable: what is already in the bucket is never written again, so a later run
carries on where this one stopped. Nothing is ever overwritten or deleted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ..aws import AWS_ERRORS, error_code, expected_owner
from ..model import Step
from ..recover.copy import Copier, head_version
from ..state.buckets import REFILL_TAG
from .executor import Deadline, Deferred, StepFailed, Waits
from .wait import budget, poll

COPY_WORKERS = 16  # S3 takes thousands of requests a second per prefix: the Lambda's network is the limit
MAX_COPY_OBJECT = 5 * 1024**3  # CopyObject's limit; larger objects are copied in parts (UploadPartCopy)
MARGIN_SECONDS = 2.0  # a copy is not started this close to the deadline: the run must still report


def refill(client: Any, step: Step, waits: Waits, deadline: Deadline) -> None:
    """Carry a refill on (`client`: S3's for a replica, AWS Backup's for a recovery point); return when the objects
    are back, raise Deferred when the run's time ran out first, StepFailed when they cannot come back this way."""
    params = step.params
    if "Source" in params:
        owner = str(params["SourceOwner"]) if params.get("SourceOwner") else None
        _copy_bucket(client, str(params["Source"]), owner, str(params["Bucket"]), deadline, step)
    else:
        _wait_restore(client, _start_restore(client, step), step, waits, deadline)


# --- from a replica bucket ------------------------------------------------------------------------------------------


def _listing(s3: Any, bucket: str, owner: str | None = None) -> dict[str, int]:
    """Every key of a bucket and its size (`owner`: the bucket's account, when not this one)."""
    found: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **expected_owner(owner)):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = int(obj.get("Size") or 0)
    return found


def _copy_bucket(s3: Any, source: str, owner: str | None, bucket: str, deadline: Deadline, step: Step) -> None:
    """Copy the keys the bucket lacks from the replica (owned by `owner`, None: this account), side by side, until
    done or out of time. A key the bucket already holds is kept as it is (written since, or copied by an earlier run):
    never overwritten."""
    try:
        have = _listing(s3, bucket)
        todo = sorted((k, n) for k, n in _listing(s3, source, owner).items() if k not in have)
    except AWS_ERRORS as exc:
        raise StepFailed(step, f"listing bucket {source} or {bucket} for the refill failed: {exc}") from exc
    failures: list[str] = []

    def copy(item: tuple[str, int]) -> bool:
        key, size = item
        if deadline.left() < MARGIN_SECONDS:
            return False
        try:
            if size > MAX_COPY_OBJECT:  # in parts (UploadPartCopy), with recover's copier: metadata and tags kept
                # Encrypted as this bucket declares, not as the replica's copy was.
                found = replace(head_version(s3, source, key, None, owner), encryption=None, kms_key_id=None,
                                bucket_key=None)
                Copier(s3).copy(found, bucket, key)
            else:  # into this account's bucket (ExpectedBucketOwner, by the clients) from the replica's owner
                s3.copy_object(CopySource={"Bucket": source, "Key": key}, Bucket=bucket, Key=key,
                               **expected_owner(owner, source=True))
        except AWS_ERRORS as exc:
            if error_code(exc) == "NoSuchKey":  # deleted from the replica since it was listed: nothing to copy
                return True
            failures.append(f"{key}: {exc}")
            return False
        return True

    with ThreadPoolExecutor(max_workers=COPY_WORKERS, thread_name_prefix="selfheal-refill") as pool:
        copied = sum(pool.map(copy, todo))
    left = len(todo) - copied
    if failures:
        raise StepFailed(step, f"refilling bucket {bucket} from bucket {source}: {len(failures)} object(s) could not "
                               f"be copied (first: {failures[0]}); {copied} copied — the next run copies the rest")
    if left:
        raise Deferred(f"copied {copied} of {len(todo)} objects back from bucket {source}; {left} left when the run's "
                       "time ran out — the next run copies the rest (never what is already there)")


# --- from an AWS Backup recovery point ------------------------------------------------------------------------------


def _start_restore(backup: Any, step: Step) -> str:
    """Start restoring the recovery point into the bucket, or find the job an earlier run started: the idempotency
    token is the bucket's and the point's (were AWS to forget it, a second job is harmless: it skips every object
    already there)."""
    params = {k: v for k, v in step.params.items() if k != "Bucket"}
    try:
        return str(backup.start_restore_job(**params)["RestoreJobId"])
    except AWS_ERRORS as exc:
        raise StepFailed(step, f"starting the restore of {params['RecoveryPointArn']} into bucket "
                               f"{step.params['Bucket']} failed: {exc} — the next run tries again") from exc


def _wait_restore(backup: Any, job: str, step: Step, waits: Waits, deadline: Deadline) -> None:
    bucket = step.params["Bucket"]
    within = budget(waits, deadline)
    try:
        if waits.restores:
            found = poll(lambda: backup.describe_restore_job(RestoreJobId=job), _job_done, waits, deadline)
        else:  # a restore job takes AWS hours: a run that does not wait for restores looks once and hands over
            found = backup.describe_restore_job(RestoreJobId=job)
    except AWS_ERRORS as exc:
        raise StepFailed(step, f"reading AWS Backup restore job {job} of bucket {bucket} failed: {exc}") from exc
    status = found.get("Status")
    if status == "COMPLETED":
        return
    if status in ("FAILED", "ABORTED"):
        raise StepFailed(step, f"AWS Backup restore job {job} into bucket {bucket} {status}: "
                               f"{found.get('StatusMessage', 'no reason given')} — restore another recovery point by "
                               f"hand, then remove the bucket's tag {REFILL_TAG}")
    done = found.get("PercentDone") or "?"
    raise Deferred(f"AWS Backup restore job {job} is {status} ({done} done) after {within:.0f}s: the next run "
                   "waits for it")


def _job_done(job: dict[str, Any]) -> bool:
    return job.get("Status") in ("COMPLETED", "FAILED", "ABORTED")


__all__ = ["refill"]
