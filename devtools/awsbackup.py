"""AWS Backup recovery points of DynamoDB tables and S3 buckets, faked in the local AWS's process (see
devtools/localaws.py).

With AWS Backup's advanced DynamoDB features, a backup is a *recovery point* in a backup vault
(``arn:aws:backup:<region>:<account>:recovery-point:<ID>``): DynamoDB's ListBackups/DescribeBackup do not show it;
``backup:ListRecoveryPointsByResource`` lists it (for a table ARN even after the table is gone) and
``backup:StartRestoreJob`` restores it to a new table under an IAM role, as an asynchronous *restore job*.
moto has no recovery points, so the proxy answers these three operations from here, before moto sees them:

    GET /resources/{ResourceArn}/recovery-points/   ListRecoveryPointsByResource
    PUT /restore-jobs                               StartRestoreJob   (ResourceType "DynamoDB" or "S3")
    GET /restore-jobs/{RestoreJobId}                DescribeRestoreJob
    GET /backup-vaults/{Vault}/recovery-points/{RecoveryPointArn}   DescribeRecoveryPoint (to wait for one being made)

Without the advanced DynamoDB features (older accounts' default), AWS Backup's copy of a table is a DynamoDB backup:
its recovery point ARN is the backup's (``arn:aws:dynamodb:...:table/T/backup/...``), ListBackups shows it (type
AWS_BACKUP) and DynamoDB's RestoreTableFromBackup restores it (``add_recovery_point(..., advanced=False)``).

The answers carry only what botocore's ``backup`` model documents for a DynamoDB point: ListRecoveryPointsByResource
names no BackupVaultName ("Only Amazon EFS and Amazon EC2 recovery points return BackupVaultName"); the tests check
every answer against the model's output shapes (tests/support/shapes.py). StartRestoreJob refuses what AWS refuses:
no IamRoleArn, a metadata key DynamoDB's restore does not take, a kmsMasterKeyArn that is not a key ARN.

An S3 recovery point (``arn:aws:backup:<region>:<account>:recovery-point:<ID>`` too; resource ARN
``arn:aws:s3:::<bucket>``) holds the bucket's current objects. Its restore job (ResourceType "S3") takes S3's restore
metadata as AWS Backup documents it (``DestinationBucketName``, ``NewBucket``, ``Encrypted``, ``EncryptionType``,
``KMSKey``; keys not case sensitive), takes the clock's restore time, and then writes the objects: into an existing
bucket it never puts an object in place of one that is there (AWS Backup's restores are not destructive), and a
``NewBucket`` of true into a bucket that exists fails the job.

moto 5.2.5 has vaults, their locks and plans, but no UpdateBackupPlan and no selections; the proxy answers those
from here too, on moto's own plans (fields as botocore's output shapes name them):

    POST /backup/plans/{backupPlanId}                                  UpdateBackupPlan
    PUT  /backup/plans/{backupPlanId}/selections/                      CreateBackupSelection
    GET  /backup/plans/{backupPlanId}/selections/                      ListBackupSelections
    GET  /backup/plans/{backupPlanId}/selections/{selectionId}         GetBackupSelection

Recovery points are made by the test harness (``LocalAws.add_recovery_point``), never by a backup plan.
This module knows no moto internals beyond the DynamoDB backends, AWS Backup's plans and the S3 buckets a restore
writes into; creating the restored table is the caller's ``restore_table`` (it is the same restore the local AWS uses
for RestoreTableFromBackup, with its clock).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# restore_table(backend, target_name, snapshot, sse_specification, source_arn) -> the new moto table
RestoreTable = Callable[[Any, str, Any, "dict[str, Any] | None", str], Any]
READY_ATTR = "_localaws_ready"  # where the local AWS keeps a resource's ready time (its clock's monotonic())
# The local AWS's clock, which a test can move on (devtools/localaws.py sets it to its Clock.now).
monotonic: Callable[[], float] = time.monotonic
# The metadata keys of a DynamoDB restore (AWS Backup guide, Restore a DynamoDB table and Restore testing inferred
# metadata), lower-cased: AWS Backup reads the keys case-insensitively.
DYNAMODB_METADATA = frozenset({"targettablename", "encryptiontype", "kmsmasterkeyarn", "deletionprotection"})
# S3's restore metadata (Restore S3 data, AWS Backup guide): the bucket, a new one or not, and its encryption.
S3_METADATA = frozenset({"destinationbucketname", "newbucket", "encrypted", "encryptiontype", "kmskey", "creationtoken",
                         "itemstorestore"})
KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")


def _dynamodb_backend(account: str, region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account][region]


@dataclass
class RecoveryPoint:
    arn: str
    account: str
    region: str
    vault: str
    table_name: str
    table_arn: str
    snapshot: Any  # a moto dynamodb Backup, never registered in the backend: invisible to ListBackups
    created: float  # epoch seconds
    size: int
    status: str = "COMPLETED"
    ready_at: float | None = None  # monotonic; until then `status`, afterwards COMPLETED
    native: Any = None  # without advanced features: the moto Backup (type AWS_BACKUP) the point is, registered
    resource_type: str = "DynamoDB"  # or "S3": table_name/table_arn are then the bucket's name and ARN
    objects: dict[str, tuple[bytes, str | None]] = field(default_factory=dict)  # S3: key -> (body, content type)

    def status_now(self) -> str:
        if self.ready_at is None:
            return self.status
        return self.status if monotonic() < self.ready_at else "COMPLETED"

    def summary(self) -> dict[str, Any]:
        vault_key = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account}/{self.region}/{self.vault}")
        return {
            "RecoveryPointArn": self.arn,
            "CreationDate": self.created,
            "Status": self.status_now(),
            "EncryptionKeyArn": f"arn:aws:kms:{self.region}:{self.account}:key/{vault_key}",
            "BackupSizeBytes": self.size,
            # no BackupVaultName: botocore's model, "Only Amazon EFS and Amazon EC2 recovery points return" it
            "IsParent": False,
            "ResourceName": self.table_name,
            "VaultType": "BACKUP_VAULT",
        }


@dataclass
class RestoreJob:
    job_id: str
    account: str
    region: str
    point: RecoveryPoint
    role: str | None
    target: str
    created: float  # epoch seconds
    duration: float = 0.0
    ready_at: float | None = None  # monotonic: RUNNING until then
    table_arn: str | None = None
    failure: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    written: bool = False  # S3: the point's objects are in the bucket (the job's end)

    def describe(self) -> dict[str, Any]:
        point = self.point
        out: dict[str, Any] = {
            "AccountId": self.account,
            "RestoreJobId": self.job_id,
            "RecoveryPointArn": point.arn,
            "SourceResourceArn": point.table_arn,
            "BackupVaultArn": f"arn:aws:backup:{point.region}:{point.account}:backup-vault:{point.vault}",
            "CreationDate": self.created,
            "BackupSizeInBytes": point.size,
            "ResourceType": point.resource_type,
            "RecoveryPointCreationDate": point.created,
            "IsParent": False,
        }
        if self.role:
            out["IamRoleArn"] = self.role
        if self.failure is not None:
            out.update(Status="FAILED", StatusMessage=self.failure, CompletionDate=self.created)
        elif self.ready_at is not None and monotonic() < self.ready_at:
            minutes = max(1, int(self.duration // 60))
            out.update(Status="RUNNING", PercentDone="0.00%", ExpectedCompletionTimeMinutes=minutes)
        else:
            out.update(
                Status="COMPLETED",
                PercentDone="100.00%",
                CreatedResourceArn=self.table_arn,
                CompletionDate=self.created + self.duration,
            )
        return out


class BackupError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class AwsBackupFake:
    """Recovery points and restore jobs of one local AWS process. Thread-safe; ``reset()`` forgets everything."""

    OPERATIONS = ("ListRecoveryPointsByResource", "DescribeRecoveryPoint", "StartRestoreJob", "DescribeRestoreJob",
                  "UpdateBackupPlan", "CreateBackupSelection", "ListBackupSelections", "GetBackupSelection")

    def __init__(self, restore_table: RestoreTable, ready_at: Callable[[], float | None] = lambda: None) -> None:
        self._restore_table = restore_table
        self._ready_at = ready_at  # when a restore job that starts now ends (monotonic; None: at once)
        self._lock = threading.Lock()
        self._points: dict[str, RecoveryPoint] = {}
        self._jobs: dict[str, RestoreJob] = {}
        self._tokens: dict[str, str] = {}
        self._selections: dict[str, dict[str, dict[str, Any]]] = {}  # plan id -> selection id -> selection

    def reset(self) -> None:
        with self._lock:
            self._points.clear()
            self._jobs.clear()
            self._tokens.clear()
            self._selections.clear()

    # ---- the harness side --------------------------------------------------------------------------------------

    def add_recovery_point(
        self,
        account: str,
        region: str,
        table: str,
        vault: str = "Default",
        status: str | None = None,
        completes_in: float | None = None,
        advanced: bool = True,
    ) -> str:
        """Snapshot a table's schema, settings and items now; return the recovery point ARN.
        ``completes_in`` seconds: ``status`` (CREATING by default) until then, COMPLETED afterwards.
        ``advanced=False``: the point is a DynamoDB backup (ARN arn:aws:dynamodb:..., in ListBackups as AWS_BACKUP)."""
        from moto.dynamodb.models.table import Backup

        backend = _dynamodb_backend(account, region)
        source = backend.get_table(table)  # raises moto's ResourceNotFoundException
        name = f"awsbackup-{source.name}"
        snapshot = Backup(account, region, name, source, status="AVAILABLE", type_="AWS_BACKUP")
        getattr(snapshot.table, "__dict__", {}).pop(READY_ATTR, None)
        if advanced:
            arn = f"arn:aws:backup:{region}:{account}:recovery-point:{str(uuid.uuid4()).upper()}"
        else:
            arn = snapshot.arn
            backend.backups[arn] = snapshot  # DynamoDB's own: ListBackups, DescribeBackup, RestoreTableFromBackup
        size = sum(len(json.dumps(item.to_json(), default=str)) for item in source.all_items())
        point = RecoveryPoint(
            arn=arn,
            account=account,
            region=region,
            vault=vault,
            table_name=source.name,
            table_arn=source.table_arn,
            snapshot=snapshot,
            created=time.time(),
            size=size,
            native=None if advanced else snapshot,
        )
        if completes_in is not None and completes_in > 0:
            point.status = status or "CREATING"
            point.ready_at = monotonic() + completes_in
            if not advanced:  # the DynamoDB backup is CREATING as long (the local AWS's clock reads READY_ATTR)
                setattr(snapshot, READY_ATTR, point.ready_at)
        elif status:
            point.status = status
        with self._lock:
            self._points[arn] = point
        return arn

    def add_s3_recovery_point(self, account: str, region: str, bucket: str, vault: str = "Default") -> str:
        """Snapshot a bucket's current objects now (a delete marker hides a key, as AWS Backup restores only the
        latest version); return the recovery point ARN. KeyError when there is no such bucket."""
        from moto.s3.models import s3_backends

        source = s3_backends[account]["global"].get_bucket(bucket)  # raises moto's MissingBucket
        from moto.s3.models import FakeKey

        objects = {name: (key.value, key.metadata.get("Content-Type")) for name, key in source.keys.items()
                   if isinstance(key, FakeKey)}  # a delete marker hides its key
        arn = f"arn:aws:backup:{region}:{account}:recovery-point:{str(uuid.uuid4()).upper()}"
        point = RecoveryPoint(arn=arn, account=account, region=region, vault=vault, table_name=bucket,
                              table_arn=f"arn:aws:s3:::{bucket}", snapshot=None, created=time.time(),
                              size=sum(len(body) for body, _ in objects.values()), resource_type="S3",
                              objects=objects)
        with self._lock:
            self._points[arn] = point
        return arn

    # ---- the API side ------------------------------------------------------------------------------------------

    def handle(
        self,
        operation: str,
        labels: tuple[str, ...],
        query: dict[str, list[str]],
        body: bytes,
        account: str,
        region: str,
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one of OPERATIONS as AWS Backup's rest-json protocol does (errors: x-amzn-ErrorType + JSON).
        `labels`: the request URI's label values, in the order of the operation's requestUri."""
        try:
            if operation == "ListRecoveryPointsByResource":
                payload = self._list_recovery_points(labels[0], query)
            elif operation == "DescribeRecoveryPoint":
                payload = self._describe_recovery_point(labels[0], labels[1])
            elif operation == "StartRestoreJob":
                payload = self._start_restore_job(json.loads(body or b"{}"), account, region)
            elif operation == "DescribeRestoreJob":
                payload = self._describe_restore_job(labels[0])
            elif operation == "UpdateBackupPlan":
                payload = self._update_backup_plan(labels[0], json.loads(body or b"{}"), account, region)
            elif operation == "CreateBackupSelection":
                payload = self._create_backup_selection(labels[0], json.loads(body or b"{}"), account, region)
            elif operation == "ListBackupSelections":
                payload = self._list_backup_selections(labels[0], account, region)
            elif operation == "GetBackupSelection":
                payload = self._get_backup_selection(labels[0], labels[1], account, region)
            else:
                raise BackupError("InvalidRequestException", f"{operation} is not faked by the local AWS")
        except BackupError as error:
            data = json.dumps({"Code": error.code, "Message": error.message, "Type": "User"}).encode()
            return error.status, {"Content-Type": "application/json", "x-amzn-ErrorType": error.code}, data
        except ValueError as error:
            data = json.dumps({"Code": "InvalidRequestException", "Message": f"bad request body: {error}"}).encode()
            return 400, {"Content-Type": "application/json", "x-amzn-ErrorType": "InvalidRequestException"}, data
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _list_recovery_points(self, resource_arn: str, query: dict[str, list[str]]) -> dict[str, Any]:
        with self._lock:
            points = [p for p in self._points.values() if p.table_arn == resource_arn]
        points.sort(key=lambda p: p.created, reverse=True)  # newest first
        start = int((query.get("nextToken") or ["0"])[0] or 0)
        size = int((query.get("maxResults") or ["1000"])[0] or 1000)
        page = points[start : start + size]
        out: dict[str, Any] = {"RecoveryPoints": [p.summary() for p in page]}
        if start + size < len(points):
            out["NextToken"] = str(start + size)
        return out

    def _describe_recovery_point(self, vault: str, arn: str) -> dict[str, Any]:
        with self._lock:
            point = self._points.get(arn)
        if point is None or point.vault != vault:
            raise BackupError("ResourceNotFoundException", f"Recovery point {arn} not found in vault {vault}")
        summary = point.summary()
        shared = ("RecoveryPointArn", "Status", "CreationDate", "EncryptionKeyArn", "IsParent")
        out = {
            **{key: summary[key] for key in (*shared, "ResourceName", "VaultType")},
            "BackupVaultName": point.vault,  # DescribeRecoveryPoint is asked in a vault and names it
            "BackupVaultArn": f"arn:aws:backup:{point.region}:{point.account}:backup-vault:{point.vault}",
            "ResourceArn": point.table_arn,
            "ResourceType": point.resource_type,
            "BackupSizeInBytes": point.size,
            "IsEncrypted": True,
            "StorageClass": "WARM",
        }
        if summary["Status"] == "COMPLETED":
            out["CompletionDate"] = point.created
        return out

    def _start_restore_job(self, body: dict[str, Any], account: str, region: str) -> dict[str, Any]:
        arn = body.get("RecoveryPointArn")
        if not arn:
            raise BackupError("MissingParameterValueException", "RecoveryPointArn is required")
        if "Metadata" not in body:
            raise BackupError("MissingParameterValueException", "Metadata is required")
        if not body.get("IamRoleArn"):
            # The restore runs under a role AWS Backup assumes ("For Restore role, choose the IAM role that AWS Backup
            # will assume for this restore", Restore a DynamoDB table; likewise for S3): no restore without one.
            raise BackupError("MissingParameterValueException", "IamRoleArn is required to restore a DynamoDB table")
        # AWS Backup: "key values are not case sensitive" (Restore testing inferred metadata, AWS Backup guide).
        meta = {str(k).lower(): str(v) for k, v in (body.get("Metadata") or {}).items()}
        with self._lock:
            point = self._points.get(arn)
        if point is not None and point.resource_type == "S3":
            unknown = sorted(set(meta) - S3_METADATA)
            if unknown:
                raise BackupError("InvalidParameterValueException", f"Invalid metadata for S3: {', '.join(unknown)}")
            if body.get("ResourceType") not in (None, "S3"):
                raise BackupError("InvalidParameterValueException", f"{arn} is an S3 recovery point")
            with self._lock:  # one job per idempotency token, even for calls that race
                return self._start_s3_restore_job_locked(point, body, meta, account)
        unknown = sorted(set(meta) - DYNAMODB_METADATA)
        if unknown:
            raise BackupError("InvalidParameterValueException", f"Invalid metadata for DynamoDB: {', '.join(unknown)}")
        key = meta.get("kmsmasterkeyarn")
        if key is not None and not KEY_ARN.match(key):
            # "kmsMasterKeyArn": a key ARN (an alias or a key id is not one)
            raise BackupError("InvalidParameterValueException", f"kmsMasterKeyArn is not a KMS key ARN: {key}")
        resource_type = body.get("ResourceType")
        if resource_type and resource_type not in ("DynamoDB", "S3"):
            raise BackupError("InvalidParameterValueException", f"Unsupported resource type: {resource_type}")
        with self._lock:  # one job per idempotency token, even for calls that race
            return self._start_restore_job_locked(arn, body, meta, account)

    def _start_restore_job_locked(
        self, arn: str, body: dict[str, Any], meta: dict[str, str], account: str
    ) -> dict[str, Any]:
        from moto.core.exceptions import JsonRESTError

        token = body.get("IdempotencyToken")
        if token and token in self._tokens:
            return {"RestoreJobId": self._tokens[token]}
        point = self._points.get(arn)
        if point is None:
            # StartRestoreJob errors (API reference): ResourceNotFoundException for a recovery point that is not there.
            raise BackupError("ResourceNotFoundException", f"Recovery point {arn} not found")
        if point.status_now() != "COMPLETED":
            # Docs are silent on restoring an unfinished recovery point; InvalidRequestException is the documented
            # StartRestoreJob error for a request that cannot be honoured as sent.
            raise BackupError("InvalidRequestException", f"Recovery point {arn} is {point.status_now()}, not COMPLETED")
        target = meta.get("targettablename")
        if not target:
            raise BackupError("MissingParameterValueException", "Metadata targetTableName is required for DynamoDB")
        sse = _sse_from_metadata(meta)
        job = RestoreJob(
            job_id=str(uuid.uuid4()).upper(),
            account=account,
            region=point.region,
            point=point,
            role=body.get("IamRoleArn"),
            target=target,
            created=time.time(),
            metadata=dict(meta),
        )
        backend = _dynamodb_backend(point.account, point.region)
        try:
            table = self._restore_table(backend, target, point.snapshot, sse, point.arn)
        except JsonRESTError as error:
            # The docs do not say; the restore itself runs inside the job, under the role (AWS Backup's restore
            # policy grants dynamodb:RestoreTableFromAwsBackup), so DynamoDB's refusal of a target table that already
            # exists fails the job (Status FAILED, StatusMessage) rather than the StartRestoreJob call.
            job.failure = getattr(error, "message", None) or str(error)
        else:
            job.table_arn = table.table_arn
            job.ready_at = getattr(table, READY_ATTR, None)
            job.duration = max(0.0, (job.ready_at or monotonic()) - monotonic())
            if "deletionprotection" in meta:
                table.deletion_protection_enabled = meta["deletionprotection"].lower() == "true"
            if str(body.get("CopySourceTagsToRestoredResource")).lower() == "true":
                table.tags = copy.deepcopy(point.snapshot.table.tags)
        self._jobs[job.job_id] = job
        if token:
            self._tokens[token] = job.job_id
        return {"RestoreJobId": job.job_id}

    def _start_s3_restore_job_locked(
        self, point: RecoveryPoint, body: dict[str, Any], meta: dict[str, str], account: str
    ) -> dict[str, Any]:
        token = body.get("IdempotencyToken")
        if token and token in self._tokens:
            return {"RestoreJobId": self._tokens[token]}
        if point.status_now() != "COMPLETED":
            raise BackupError("InvalidRequestException", f"Recovery point {point.arn} is {point.status_now()}")
        target = meta.get("destinationbucketname")
        if not target:
            raise BackupError("MissingParameterValueException", "Metadata DestinationBucketName is required for S3")
        new_bucket = meta.get("newbucket", "false").lower()
        if new_bucket not in ("true", "false"):
            raise BackupError("InvalidParameterValueException", f"Invalid NewBucket: {meta['newbucket']}")
        ready_at = self._ready_at()
        job = RestoreJob(job_id=str(uuid.uuid4()).upper(), account=account, region=point.region, point=point,
                         role=body.get("IamRoleArn"), target=target, created=time.time(), metadata=dict(meta),
                         ready_at=ready_at, duration=max(0.0, (ready_at or monotonic()) - monotonic()))
        job.table_arn = f"arn:aws:s3:::{target}"
        from moto.s3.models import s3_backends

        backend = s3_backends[point.account]["global"]
        exists = target in backend.buckets
        if new_bucket == "false" and not exists:
            job.failure = f"Destination bucket {target} does not exist"
        elif new_bucket == "true" and exists:
            job.failure = f"Destination bucket {target} already exists"
        elif new_bucket == "true":
            backend.create_bucket(target, point.region)
        self._jobs[job.job_id] = job
        if token:
            self._tokens[token] = job.job_id
        return {"RestoreJobId": job.job_id}

    def _describe_restore_job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise BackupError("ResourceNotFoundException", f"Restore job {job_id} not found")
            if job.point.resource_type == "S3" and job.failure is None and not job.written:
                if job.ready_at is None or monotonic() >= job.ready_at:
                    self._write_objects(job)
        return job.describe()

    @staticmethod
    def _write_objects(job: RestoreJob) -> None:
        """The job's end: the point's objects put into the bucket, never in place of an object that is there."""
        from moto.s3.models import FakeKey, s3_backends

        backend = s3_backends[job.point.account]["global"]
        try:
            bucket = backend.get_bucket(job.target)
        except Exception:  # noqa: BLE001 - moto's MissingBucket: the bucket went away while the job ran
            job.failure = f"Destination bucket {job.target} does not exist"
            return
        kms = job.metadata.get("encryptiontype", "SSE-S3").upper() == "SSE-KMS"
        for name, (body, content_type) in job.point.objects.items():
            if isinstance(bucket.keys.get(name), FakeKey):
                continue  # AWS Backup's restore is not destructive: an object there stays (a delete marker does not)
            key = backend.put_object(job.target, name, body, encryption="aws:kms" if kms else "AES256",
                                     kms_key_id=job.metadata.get("kmskey") if kms else None)
            if content_type:
                key.set_metadata({"Content-Type": content_type})
        job.written = True


    # ---- plans and selections (moto keeps the plans; the selections are kept here) -------------------------------

    def _plan(self, plan_id: str, account: str, region: str) -> Any:
        from moto.backup.models import backup_backends

        plan = backup_backends[account][region].plans.get(plan_id)
        if plan is None or plan.deletion_date is not None:
            raise BackupError("ResourceNotFoundException", f"Failed reading Backup plan {plan_id}")
        return plan

    def _update_backup_plan(self, plan_id: str, body: dict[str, Any], account: str, region: str) -> dict[str, Any]:
        plan = self._plan(plan_id, account, region)
        doc = copy.deepcopy(body.get("BackupPlan") or {})
        if not doc.get("Rules"):
            raise BackupError("InvalidParameterValueException", "BackupPlan.Rules is required")
        for rule in doc["Rules"]:  # the defaults AWS fills in (and moto's CreateBackupPlan does)
            rule.setdefault("ScheduleExpression", "cron(0 5 ? * * *)")
            rule.setdefault("StartWindowMinutes", 480)
            rule.setdefault("CompletionWindowMinutes", 10080)
            rule.setdefault("ScheduleExpressionTimezone", "Etc/UTC")
            rule["RuleId"] = str(uuid.uuid4())
        with self._lock:
            plan.backup_plan = doc
            plan.version_id = uuid.uuid4().hex + uuid.uuid4().hex[:16]  # a new version per update, as AWS makes
        return {"BackupPlanId": plan.backup_plan_id, "BackupPlanArn": plan.backup_plan_arn,
                "CreationDate": plan.creation_date, "VersionId": plan.version_id}

    def _create_backup_selection(self, plan_id: str, body: dict[str, Any], account: str,
                                 region: str) -> dict[str, Any]:
        self._plan(plan_id, account, region)
        selection = body.get("BackupSelection") or {}
        if not selection.get("SelectionName") or not selection.get("IamRoleArn"):
            raise BackupError("MissingParameterValueException", "SelectionName and IamRoleArn are required")
        with self._lock:
            plan_selections = self._selections.setdefault(plan_id, {})
            if any(s["BackupSelection"]["SelectionName"] == selection["SelectionName"]
                   for s in plan_selections.values()):
                # The docs do not say; AlreadyExistsException is CreateBackupSelection's documented error for this.
                raise BackupError("AlreadyExistsException", f"Selection {selection['SelectionName']} already exists")
            selection_id = str(uuid.uuid4())
            plan_selections[selection_id] = {
                "BackupSelection": copy.deepcopy(selection), "SelectionId": selection_id, "BackupPlanId": plan_id,
                "CreationDate": time.time(), "CreatorRequestId": body.get("CreatorRequestId") or str(uuid.uuid4()),
            }
        return {"SelectionId": selection_id, "BackupPlanId": plan_id, "CreationDate": time.time()}

    def _list_backup_selections(self, plan_id: str, account: str, region: str) -> dict[str, Any]:
        self._plan(plan_id, account, region)
        with self._lock:
            found = list(self._selections.get(plan_id, {}).values())
        return {"BackupSelectionsList": [
            {"SelectionId": s["SelectionId"], "SelectionName": s["BackupSelection"]["SelectionName"],
             "BackupPlanId": plan_id, "CreationDate": s["CreationDate"], "CreatorRequestId": s["CreatorRequestId"],
             "IamRoleArn": s["BackupSelection"]["IamRoleArn"]} for s in found]}

    def _get_backup_selection(self, plan_id: str, selection_id: str, account: str, region: str) -> dict[str, Any]:
        self._plan(plan_id, account, region)
        with self._lock:
            found = self._selections.get(plan_id, {}).get(selection_id)
        if found is None:
            raise BackupError("ResourceNotFoundException", f"Selection {selection_id} not found")
        return copy.deepcopy(found)


def _sse_from_metadata(meta: dict[str, str]) -> dict[str, Any] | None:
    """AWS Backup's DynamoDB restore metadata (Restoring an Amazon DynamoDB table, AWS Backup guide): encryptionType
    Default = DynamoDB-owned key (the default), KMS = DynamoDB-managed key, or kmsMasterKeyArn = a customer key."""
    kind = meta.get("encryptiontype", "Default").upper()
    if kind not in ("KMS", "DEFAULT"):
        raise BackupError("InvalidParameterValueException", f"Invalid encryptionType: {meta['encryptiontype']}")
    if kind == "DEFAULT":
        return None
    spec: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
    if meta.get("kmsmasterkeyarn"):
        spec["KMSMasterKeyId"] = meta["kmsmasterkeyarn"]
    return spec
