"""A bucket's drill. Its declared copy outside the bucket is restored into a new scratch bucket the way a lost bucket
would be refilled: a replica (`copy_from: {bucket}`) copied over by the refill's own copier (apply/refill.py), an AWS
Backup recovery point restored by AWS Backup (StartRestoreJob, NewBucket). A sample of objects is compared by SHA-256
with the bucket's, then the scratch bucket is emptied and deleted. Without a declared replica, the newest AWS Backup
recovery point is the copy.

A bucket whose only copy is its own versions has nothing to restore elsewhere: copying current objects into a scratch
bucket would prove nothing about getting deleted data back. Its drill checks what `selfheal recover` relies on:
versioning Enabled, and a sample of keys whose current version reads back, by its VersionId, with the same SHA-256 as
the object — so each would survive a delete or an overwrite as an old version. No restore_seconds: nothing is restored.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..apply.executor import Deadline, Deferred, StepFailed, Waits
from ..apply.refill import refill
from ..aws import error_code, expected_owner
from ..model import Step
from ..observe.tables import find_recovery_points, newest_first
from ..spec import AWS_BACKUP, BucketSpec, partition_of
from .base import SCRATCH, Copy, DrillFailed, KindDrill, Verification

if TYPE_CHECKING:
    from ..aws import Clients

SAMPLE = 20  # objects compared per drill: enough to catch a wrong or empty copy, cheap on any bucket
# A replica lags its bucket: S3 Replication Time Control replicates "99.99 percent of new objects within 15 minutes"
# (S3 User Guide, "Meeting compliance requirements with S3 Replication Time Control"). An object written since then
# that the copy lacks or holds otherwise is not yet replicated, not lost.
REPLICA_LAG = timedelta(minutes=15)
_MISSING = ("404", "NoSuchBucket", "NotFound")


class BucketDrill(KindDrill[BucketSpec]):
    name_limit = 63  # S3's bucket name limit

    def __init__(self) -> None:
        self._regions: dict[str, str] = {}

    def missing(self, clients: Clients, spec: BucketSpec) -> bool:
        return not self._exists(clients.client("s3", spec.region), spec.name)

    def taken(self, clients: Clients, name: str) -> bool:
        return self._exists(clients.client("s3", self._regions.get(name)), name)

    @staticmethod
    def _exists(s3: Any, bucket: str) -> bool:
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return False
            raise
        return True

    def newest_copy(self, clients: Clients, spec: BucketSpec) -> Copy | None:
        if spec.copy_from and spec.copy_from != AWS_BACKUP:  # the declared replica: what a refill copies from
            s3 = clients.client("s3", spec.region)
            try:
                s3.head_bucket(Bucket=spec.copy_from, **expected_owner(spec.copy_account))
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    return None
                raise
            owner = f" (account {spec.copy_account})" if spec.copy_account else ""
            return Copy("replica", spec.copy_from, None, f"replica bucket {spec.copy_from}{owner}",
                        owner=spec.copy_account)
        arn = f"arn:{partition_of(spec.region)}:s3:::{spec.name}"
        points = [p for p in newest_first(find_recovery_points(clients.client("backup", spec.region), arn)) if p.ready]
        if points:
            point = points[0]
            return Copy("aws-backup", point.arn, point.created, point.describe(), needs_role=True)
        status = clients.client("s3", spec.region).get_bucket_versioning(Bucket=spec.name).get("Status")
        if status == "Enabled":
            return Copy("versions", spec.name, None, "versions kept in the bucket itself", restorable=False)
        return None

    def restore(self, clients: Clients, spec: BucketSpec, copy: Copy, scratch: str, restore_role: str | None) -> str:
        self._regions[scratch] = spec.region
        if copy.source == "replica":  # a new scratch bucket, refilled as a recreated bucket would be: done on return
            s3 = clients.client("s3", spec.region)
            where = {} if spec.region == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": spec.region}}
            s3.create_bucket(Bucket=scratch, **where)
            try:
                refill(s3, Step("s3", "refill", {"Source": copy.ref, "SourceOwner": copy.owner, "Bucket": scratch}),
                       Waits(), Deadline(None))
            except (StepFailed, Deferred) as exc:
                raise DrillFailed(str(exc)) from exc
            return ""
        job = clients.client("backup", spec.region).start_restore_job(
            RecoveryPointArn=copy.ref, IamRoleArn=restore_role, ResourceType="S3",
            Metadata={"DestinationBucketName": scratch, "NewBucket": "true", "CreationToken": scratch})
        return str(job["RestoreJobId"])

    def restored(self, clients: Clients, scratch: str, handle: str) -> bool:
        if not handle:  # a replica's copy is made by the time restore returns
            return True
        job = clients.client("backup", self._regions.get(scratch)).describe_restore_job(RestoreJobId=handle)
        if job.get("Status") in ("FAILED", "ABORTED"):
            raise DrillFailed(f"AWS Backup restore job {handle} {job['Status']}: {job.get('StatusMessage', '')}")
        return bool(job.get("Status") == "COMPLETED")

    def verify(self, clients: Clients, spec: BucketSpec, copy: Copy, scratch: str | None) -> Verification:
        s3 = clients.client("s3", spec.region)
        if scratch is None:
            return _version_coverage(s3, spec.name)
        found = Verification()
        written = _written(s3, spec.name)
        # the copy must hold what was written before it: a recovery point's time; a replica, all but its lag
        cutoff = copy.taken if copy.source != "replica" else datetime.now(UTC) - REPLICA_LAG
        keys = _sample([k for k, at in written.items() if copy.source == "replica" or _before(at, cutoff)])
        matched = lagging = 0
        for key in keys:
            settled = _before(written[key], cutoff)  # a replica's newer objects may not be there yet
            try:
                copied = _sha256(s3.get_object(Bucket=scratch, Key=key))
            except ClientError as exc:
                if error_code(exc) not in ("NoSuchKey", "404"):
                    raise
                if settled:
                    found.problems.append(f"{key}: in the bucket since before the copy, missing from the copy")
                else:
                    lagging += 1
                continue
            if copied == _sha256(s3.get_object(Bucket=spec.name, Key=key)):
                matched += 1
            elif settled:
                found.problems.append(f"{key}: the copy's bytes differ from the bucket's (SHA-256)")
            else:
                lagging += 1
        found.facts["objects"] = {"sampled": len(keys), "matched": matched, **({"lagging": lagging} if lagging else {})}
        return found

    def remove(self, clients: Clients, scratch: str) -> None:
        if SCRATCH not in scratch:  # never anything but a scratch copy, whatever a caller passes
            raise ValueError(f"{scratch} is not a drill's scratch bucket")
        s3 = clients.client("s3", self._regions.get(scratch))
        if not self._exists(s3, scratch):  # a failed restore job made none: nothing to remove
            return
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=scratch):  # pages of at most 1,000
            entries = [{"Key": e["Key"], "VersionId": e["VersionId"]}
                       for e in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            if entries:  # DeleteObjects takes up to 1,000 keys: one call per page, every version named
                gone = s3.delete_objects(Bucket=scratch, Delete={"Objects": entries, "Quiet": True})
                if gone.get("Errors"):
                    first = gone["Errors"][0]
                    raise DrillFailed(f"{len(gone['Errors'])} object(s) of {scratch} not deleted, e.g. "
                                      f"{first.get('Key')}: {first.get('Code')} {first.get('Message', '')}")
        s3.delete_bucket(Bucket=scratch)


def _written(s3: Any, bucket: str) -> dict[str, datetime]:
    """Every key of the bucket and when it was last written."""
    found: dict[str, datetime] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update({o["Key"]: o["LastModified"] for o in page.get("Contents", [])})
    return found


def _before(written: datetime, cutoff: datetime | None) -> bool:
    """Written before `cutoff` for sure: LastModified has whole seconds, so a key written within a second of it is
    not (it may be newer)."""
    return cutoff is None or written + timedelta(seconds=1) <= cutoff


def _sample(keys: list[str]) -> list[str]:
    """Up to SAMPLE keys spread evenly over the listing (first, last and between)."""
    if len(keys) <= SAMPLE:
        return keys
    step = (len(keys) - 1) / (SAMPLE - 1)
    return [keys[round(i * step)] for i in range(SAMPLE)]


def _sha256(response: Any) -> str:
    digest = hashlib.sha256()
    for chunk in response["Body"].iter_chunks(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _version_coverage(s3: Any, bucket: str) -> Verification:
    """Versioning on, and a sample of current objects that read back by VersionId with the same bytes."""
    found = Verification()
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        found.problems.append(f"versioning is {status or 'off'}: a delete or an overwrite would lose the object")
        return found
    current = [v for v in s3.list_object_versions(Bucket=bucket, MaxKeys=1000).get("Versions", []) if v["IsLatest"]]
    chosen = {v["Key"]: v["VersionId"] for v in current}
    keys = _sample(list(chosen))
    for key in keys:
        version = s3.get_object(Bucket=bucket, Key=key, VersionId=chosen[key])
        if _sha256(version) != _sha256(s3.get_object(Bucket=bucket, Key=key)):
            found.problems.append(f"{key}: its version {chosen[key]} reads back other bytes than the object")
    found.facts["objects"] = {"sampled": len(keys), "matched": len(keys) - len(found.problems)}
    return found
