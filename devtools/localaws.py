"""Local AWS for tests, the demo and the benchmark: a patched moto behind a counting, delaying proxy.

    python devtools/localaws.py serve [--port 0] [--delay-ms 0] [--clock restore=90,backup=5,gsi=10,bucket=3,create=1]

binds 127.0.0.1, prints exactly one line ``READY http://127.0.0.1:<port>`` (the proxy) and runs until SIGTERM/SIGINT.

moto runs in the same process: the proxy calls moto's WSGI application directly (no second HTTP hop), with small
patches (see ``apply_moto_patches``) where plain moto 5 is not faithful to AWS, so product code never has to bend
around moto:

    RestoreTableFromBackup   honours BillingMode/ProvisionedThroughput/SSESpecification/GlobalSecondaryIndex
                             overrides (only the indexes named, with their capacity; an index the backup lacks:
                             ValidationException)
    DescribeBackup           SourceTableDetails and SourceTableFeatureDetails as AWS answers them
    UpdateTable              honours SSESpecification; a disabled stream can be enabled again (a new stream);
                             one GSI Create/Delete per request (LimitExceededException, whatever the clock)
    DeleteTable              with PITR on leaves a SYSTEM "<table>$DeletedTableBackup" backup
    ListBackups              honours BackupType (USER by default)
    TagResource              overwrites the value of a key the table already has
    ListObjectVersions       reads from the page's first key and copies only the entries it answers, without their
                             bytes (moto copied and sorted every version of the bucket, bytes included, for every
                             page: a second of CPU per page of a 10,000-object bucket); answers unchanged
    S3 on another account's bucket: HeadBucket and the other bucket calls answer 403 (CreateBucket still 409),
                             unless the bucket's policy lets that account in (an Allow of s3:* to it or to "*",
                             without a Condition: a squatted name opened wide)
    ExpectedBucketOwner      (moto ignores it; the proxy answers) a call on a bucket another account owns answers
                             403 AccessDenied (HeadBucket: a bare 403), whatever the bucket's policy says
    ExpectedSourceBucketOwner  likewise for the bucket a CopyObject / UploadPartCopy reads (x-amz-copy-source)
    GetBucketEncryption      a bucket with no configuration (new, or after DeleteBucketEncryption) reports SSE-S3,
                             S3's base encryption for every bucket since January 2023
    PutEvents                to another account's (or region's) bus by ARN: delivered to that bus's rules when its
                             resource policy allows the sender (events:PutEvents for its account, or "*" with
                             aws:PrincipalOrgID of moto's Organizations, and aws:PrincipalArn: the role of the
                             sender's assumed-role credentials), else that entry fails AccessDeniedException
                             (an unknown bus: ResourceNotFoundException); the event's `account` is the sender's,
                             and a rule's target gets it (moto's targets get no `account`)
    CloudFormation           AWS::Events::EventBusPolicy adds its statement to the bus's policy (moto skips the type)

The clock (opt-in: every duration is 0 by default, i.e. moto's instant behaviour). AWS takes time; with a duration
of D seconds for a kind, each resource takes its own ready time, the clock's now + D, when its operation happens
(changing the durations later does not move it). The clock's now is time.monotonic() plus how far a test has moved
it on (``LocalAws.advance_clock(seconds)``), so a test sees a 90 s restore finish without waiting 90 s:

    create   CreateTable: TableStatus CREATING (its GSIs IndexStatus CREATING, no Backfilling key), then ACTIVE
    restore  RestoreTableFromBackup, RestoreTableToPointInTime, AWS Backup StartRestoreJob: the new table is
             CREATING with RestoreSummary.RestoreInProgress true, ItemCount 0 and TableSizeBytes 0, then ACTIVE with
             its items
             While any table is CREATING: GetItem/PutItem/UpdateItem/DeleteItem/Query/Scan/BatchGetItem/
             BatchWriteItem/Transact* answer ResourceNotFoundException; UpdateTable, UpdateTimeToLive, TagResource,
             UntagResource and DeleteTable answer ResourceInUseException ("...Table is being created: <name>");
             UpdateContinuousBackups answers ContinuousBackupsUnavailableException
    backup   CreateBackup and "<table>$DeletedTableBackup": BackupStatus CREATING (CreateBackup's answer, ListBackups,
             DescribeBackup), then AVAILABLE; RestoreTableFromBackup and DeleteBackup of a backup that is not
             AVAILABLE answer BackupInUseException
    gsi      UpdateTable GlobalSecondaryIndexUpdates Create: the table stays ACTIVE, the index is IndexStatus CREATING
             with Backfilling true, then ACTIVE (no Backfilling key); meanwhile another index Create, or a Delete of
             another index, answers LimitExceededException ("Subscriber limit exceeded: Only 1 online index can be
             created or deleted simultaneously per table"); other UpdateTable changes go through
    bucket   after a successful CreateBucket, every other request naming the bucket answers as for a bucket that does
             not exist (S3 is eventually consistent): HeadBucket 404 without a body, the others 404 NoSuchBucket
             (XML); CreateBucket itself is forwarded as usual

AWS Backup recovery points of DynamoDB tables (AWS Backup's advanced DynamoDB features; moto has none) are faked in
this process by devtools/awsbackup.py and answered by the proxy before moto sees the request:

    ListRecoveryPointsByResource   recovery points of a table ARN, newest first, even after the table is deleted;
                                   no BackupVaultName (AWS names it only for EFS and EC2 points); DynamoDB's
                                   ListBackups/DescribeBackup show only the points that are DynamoDB backups
    DescribeRecoveryPoint          one recovery point in its vault (Status CREATING, then COMPLETED)
    StartRestoreJob                IamRoleArn (required); Metadata targetTableName (required), encryptionType
                                   Default|KMS, kmsMasterKeyArn (a key ARN), deletionProtection (keys
                                   case-insensitive, no others); CopySourceTagsToRestoredResource;
                                   IdempotencyToken. Restores the snapshot like RestoreTableFromBackup (the source's
                                   billing mode; the `restore` clock); RestoreSummary.SourceBackupArn is the recovery
                                   point. Unknown recovery point: ResourceNotFoundException; one not COMPLETED:
                                   InvalidRequestException; a target table that exists: the job FAILED
                                   ("Table already exists: <name>"), as the restore runs inside the job
    DescribeRestoreJob             RUNNING while the table is CREATING, then COMPLETED with CreatedResourceArn and
                                   CompletionDate (RecoveryPointArn, IamRoleArn, CreationDate, ResourceType throughout)

Recovery points are made by ``LocalAws.add_recovery_point`` (or the control endpoint below): a snapshot of the
table's schema, settings and items at that moment, COMPLETED at once or after ``completes_in`` seconds.

Every AWS request through the proxy is recorded as ``{"seq", "service", "operation", "write", "name", "status",
"client"}``; client is "operator" when the User-Agent contains "selfheal-operator", "selfheal" when it contains
"selfheal", else "other". rest-json services are named from botocore's model where plain paths say too little
(EventBridge Scheduler: name = the schedule; AWS Backup: name = the resource or recovery point ARN, or the job id).

IAM: ``POST /_localaws/iam {"template": PATH, "parameters": {...}}`` (``LocalAws.enforce_iam``) makes the gate below
``role_gate``: every call of selfheal's own clients (client "selfheal": the function's role) is checked against the
role's policy in that template (the stack's account and region: ``"account"``, ``"region"``, by default moto's
123456789012 and us-east-1), with the permissions AWS implies for an operation (devtools/iam.py: a restore needs
item writes on the target table, CreateBucket with ObjectOwnership needs PutBucketOwnershipControls, a customer KMS
key its KMS actions, CreateSchedule/StartRestoreJob iam:PassRole, ...), and answered AccessDenied as AWS would.

An IAM gate can sit in front of everything: ``ProxyState.gate`` (``make_proxy(...).state.gate``), a callable given
``{"service", "operation", "name", "method", "path", "query" (parse_qs lists), "headers", "body" (bytes), "client"}``
for every AWS request (not control, not /moto-api) before the clock, the AWS Backup fake and moto; a returned
``(status, headers, body)`` is sent instead (and recorded with that status), None lets the request through.

Control endpoints on the proxy (never recorded):

    GET  /_localaws/calls            JSON list of recorded calls
    POST /_localaws/reset-calls      forget recorded calls
    POST /_localaws/delay?ms=N       sleep N ms before answering each AWS request
    GET  /_localaws/clock            the clock's durations, {"create": 0.0, "restore": 0.0, ...}
    POST /_localaws/clock?restore=90&backup=5   set those durations (the others keep theirs); answers all of them
    POST /_localaws/clock/advance?seconds=N     move the clock on by N seconds; answers {"advanced": total so far}
    POST /_localaws/recovery-point?table=NAME[&region=us-east-1&vault=Default&status=CREATING&completes_in=S
                                   &account=ID&advanced=false]   make an AWS Backup recovery point (advanced=false:
                                   a DynamoDB backup, arn:aws:dynamodb:...); answers {"RecoveryPointArn"}
    POST /_localaws/reset            reset all moto state, recovery points and restore jobs, new-bucket delays, the
                                     gate, every clock duration (to 0), the clock's advance and recorded calls
    POST /_localaws/iam              {"template": PATH, "parameters": {...}[, "account", "region"]}: enforce the
                                     role's policy (of a stack in that account and region); {}: stop
    GET  /_localaws/iam              {"enforced", "requests": every role request checked (body as latin-1) with
                                     "denied": AWS's AccessDenied message or null}
    GET  /_localaws/health           {"ok", "delay_ms", "clock"}

From Python, use ``LocalAws`` (starts ``serve`` as a subprocess; ``LocalAws(clock={...})``, ``set_clock(**durations)``,
``get_clock()``, ``advance_clock(seconds)``, ``add_recovery_point(table, ...)``, ``enforce_iam(template,
parameters)``) and ``other_account_session``.
"""

from __future__ import annotations

import argparse
import bisect
import fnmatch
import functools
import http.client
import http.server
import io
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any

try:  # imported as devtools.localaws (tests) or run as devtools/localaws.py (serve): the sibling module either way
    from devtools import awsbackup
    from devtools.awsbackup import AwsBackupFake
except ImportError:  # pragma: no cover - run as a script
    import awsbackup  # type: ignore[no-redef,import-not-found]
    from awsbackup import AwsBackupFake  # type: ignore[no-redef]
try:  # what counts as a write is selfheal's own definition (its call counts and this call log agree)
    from selfheal.aws import is_write as is_write_operation
except ImportError:  # pragma: no cover - run as a script, without the package installed
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "functions",
                                    "selfheal"))
    from selfheal.aws import is_write as is_write_operation

CONTROL_PREFIX = "/_localaws/"
DELETED_TABLE_BACKUP_SUFFIX = "$DeletedTableBackup"


# --------------------------------------------------------------------------------------------------------------
# The clock: how long AWS takes. Durations in seconds, 0 = instant (moto's own behaviour, the default).
# --------------------------------------------------------------------------------------------------------------

CLOCK_KINDS = ("create", "restore", "backup", "gsi", "bucket")
READY_ATTR = "_localaws_ready"  # on a moto table, index or backup: CLOCK.now() when it is ACTIVE / AVAILABLE
RESTORING_ATTR = "_localaws_restoring"  # on a moto table made by a restore: its items stay hidden until ready


class Clock:
    """Per-kind durations. A resource takes its own ready time (``now()``) when the operation happens, so changing
    the durations later never moves a resource that is already on its way; ``advance()`` moves every one of them
    closer at once, as time passing would."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._durations = dict.fromkeys(CLOCK_KINDS, 0.0)
        self._advanced = 0.0

    def now(self) -> float:
        """time.monotonic() plus every advance since the last reset: the time every ready time is compared with."""
        return time.monotonic() + self._advanced

    def advance(self, seconds: float) -> float:
        """Move the clock on by `seconds` (>= 0); returns how far it has moved since the last reset."""
        step = float(seconds)
        if not math.isfinite(step) or step < 0:
            raise ValueError(f"the clock moves on by a number of seconds >= 0, not {seconds!r}")
        with self._lock:
            self._advanced += step
            return self._advanced

    def durations(self) -> dict[str, float]:
        with self._lock:
            return dict(self._durations)

    def set(self, **durations: float | str) -> dict[str, float]:
        """Set the named durations (the others keep theirs); returns all of them. ValueError on a bad name/value."""
        checked = {}
        for kind, value in durations.items():
            if kind not in CLOCK_KINDS:
                raise ValueError(f"unknown clock duration {kind!r}: choose from {', '.join(CLOCK_KINDS)}")
            seconds = float(value)
            if not math.isfinite(seconds) or seconds < 0:
                raise ValueError(f"clock duration {kind}={value!r} must be a number of seconds >= 0")
            checked[kind] = seconds
        with self._lock:
            self._durations.update(checked)
            return dict(self._durations)

    def reset(self) -> None:
        with self._lock:
            self._durations = dict.fromkeys(CLOCK_KINDS, 0.0)
            self._advanced = 0.0

    def ready_at(self, kind: str) -> float | None:
        """When a resource of this kind that starts now is ready, or None when the clock says instant."""
        with self._lock:
            seconds = self._durations[kind]
        return self.now() + seconds if seconds > 0 else None


CLOCK = Clock()
awsbackup.monotonic = CLOCK.now  # recovery points and restore jobs keep time on the same clock


def parse_clock(text: str) -> dict[str, float]:
    """``"restore=90,backup=5"`` -> ``{"restore": 90.0, "backup": 5.0}`` (validated like Clock.set)."""
    durations: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"clock entry {part!r} is not KIND=SECONDS")
        try:
            durations[kind.strip()] = float(value)
        except ValueError:
            raise ValueError(f"clock entry {part!r}: {value!r} is not a number of seconds") from None
    Clock().set(**durations)  # validation only
    return durations


def _start_clock(resource: Any, kind: str) -> None:
    """Give a moto resource that starts now its ready time, if the clock says it takes time."""
    ready = CLOCK.ready_at(kind)
    if ready is not None:
        setattr(resource, READY_ATTR, ready)


def _pending(resource: Any) -> bool:
    ready = getattr(resource, READY_ATTR, None)
    return ready is not None and CLOCK.now() < ready


# --------------------------------------------------------------------------------------------------------------
# moto patches: each restores one AWS behaviour plain moto 5 lacks. Applied before the moto server starts.
# --------------------------------------------------------------------------------------------------------------


def _set_table_sse(table: Any, spec: dict[str, Any] | None) -> None:
    """Store an SSESpecification on a moto table exactly as moto's create_table does (default key = aws/dynamodb)."""
    spec = dict(spec) if spec else None
    if spec and "KMSMasterKeyId" not in spec:
        spec["KMSMasterKeyId"] = table._get_default_encryption_key(table.account_id, table.region_name)
    table.sse_specification = spec


def _apply_restore_settings(
    table: Any,
    source: Any,
    billing_mode_override: str | None = None,
    throughput_override: dict[str, int] | None = None,
    sse_specification: dict[str, Any] | None = None,
    gsi_override: list[dict[str, Any]] | None = None,
) -> None:
    """What every restore of `source` (a backup's copy of the table) into `table` does, besides the items: billing
    (overridden or the source's), the indexes (those of an override, with its capacity), SSE (given, or the AWS-owned
    key), and the restore clock."""
    table.billing_mode = billing_mode_override or source.billing_mode or "PROVISIONED"
    if throughput_override:
        table.throughput = {**throughput_override, "NumberOfDecreasesToday": 0}
    elif table.billing_mode == "PAY_PER_REQUEST":
        table.throughput = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0}
    if gsi_override is not None:
        # RestoreTableFromBackup, GlobalSecondaryIndexOverride: "The indexes provided should match existing secondary
        # indexes. You can choose to exclude some or all of the indexes at the time of restore."
        wanted = {ix.get("IndexName"): ix for ix in gsi_override}
        table.global_indexes = [ix for ix in table.global_indexes if ix.name in wanted]
        for index in table.global_indexes:
            if wanted[index.name].get("ProvisionedThroughput"):
                index.throughput = dict(wanted[index.name]["ProvisionedThroughput"])
    _set_table_sse(table, sse_specification)
    for index in table.global_indexes:  # an index that was backfilling in the source is built by the restore
        index.__dict__.pop(READY_ATTR, None)
    _start_clock(table, "restore")
    setattr(table, RESTORING_ATTR, True)


def restore_recovery_point(
    backend: Any, target_table_name: str, snapshot: Any, sse_specification: dict[str, Any] | None, source_arn: str
) -> Any:
    """Create `target_table_name` from an AWS Backup recovery point's snapshot (a moto Backup that the backend does not
    list), like RestoreTableFromBackup does; RestoreSummary.SourceBackupArn is the recovery point ARN."""
    from moto.dynamodb.exceptions import TableAlreadyExistsException
    from moto.dynamodb.models.table import RestoredTable

    if target_table_name in backend.tables:
        raise TableAlreadyExistsException(target_table_name)
    table = RestoredTable(  # type: ignore[abstract]  # moto leaves its CloudFormation hooks abstract
        target_table_name, account_id=backend.account_id, region=backend.region_name, backup=snapshot)
    table.source_backup_arn = source_arn
    _apply_restore_settings(table, snapshot.table, sse_specification=sse_specification)
    backend.tables[target_table_name] = table
    return table


def _backup_in_use(backup_arn: str) -> Exception:
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX

    # DynamoDB API reference, BackupInUseException (listed for RestoreTableFromBackup and DeleteBackup): "There is
    # another ongoing conflicting backup control plane operation on the table. The backup is either being created,
    # deleted or restored to a table."
    return JsonRESTError(
        ERROR_TYPE_PREFIX + "BackupInUseException",
        "There is another ongoing conflicting backup control plane operation on the table. "
        f"The backup is either being created, deleted or restored to a table: {backup_arn}",
    )


def _patch_restore_overrides() -> None:
    # AWS: RestoreTableFromBackup honours BillingModeOverride, ProvisionedThroughputOverride, SSESpecificationOverride;
    # without overrides the billing mode is the source table's and the key is the AWS-owned one (no SSEDescription).
    # Clock: the backup must be AVAILABLE, and the new table is CREATING (restore in progress) for `restore` seconds.
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original = DynamoDBBackend.restore_table_from_backup

    def restore_table_from_backup(
        self: Any,
        target_table_name: str,
        backup_arn: str,
        billing_mode_override: str | None = None,
        throughput_override: dict[str, int] | None = None,
        sse_specification_override: dict[str, Any] | None = None,
        gsi_override: list[dict[str, Any]] | None = None,
    ) -> Any:
        if billing_mode_override == "PAY_PER_REQUEST" and throughput_override:
            raise MockValidationException(
                "ProvisionedThroughput cannot be specified when BillingMode is PAY_PER_REQUEST"
            )
        backup = self.get_backup(backup_arn)
        have = {ix.name for ix in backup.table.global_indexes}
        unknown = sorted({str(ix.get("IndexName")) for ix in gsi_override or []} - have)
        if unknown:
            raise MockValidationException(f"One or more parameter values were invalid: no such index in the backup: "
                                          f"{', '.join(unknown)}")
        if backup.status != "AVAILABLE":
            raise _backup_in_use(backup_arn)
        table = original(self, target_table_name, backup_arn)
        _apply_restore_settings(
            table, backup.table, billing_mode_override, throughput_override, sse_specification_override, gsi_override
        )
        return table

    def restore_table_from_backup_handler(self: Any) -> Any:
        body = self.body
        table = self.dynamodb_backend.restore_table_from_backup(
            body.get("TargetTableName"),
            body.get("BackupArn"),
            billing_mode_override=body.get("BillingModeOverride"),
            throughput_override=body.get("ProvisionedThroughputOverride"),
            sse_specification_override=body.get("SSESpecificationOverride"),
            gsi_override=body.get("GlobalSecondaryIndexOverride"),
        )
        return DynamoResult(table.describe())

    DynamoDBBackend.restore_table_from_backup = restore_table_from_backup
    DynamoHandler.restore_table_from_backup = restore_table_from_backup_handler


def _backup_description(backup: Any) -> dict[str, Any]:
    """DescribeBackup's BackupDescription as AWS answers it: the source table's details and its features (indexes,
    stream, TTL, SSE) in their own shapes, not moto's copy of DescribeTable's answer."""
    table = backup.table.describe()["TableDescription"]

    def throughput(desc: dict[str, Any] | None) -> dict[str, int]:
        return {k: int((desc or {}).get(k) or 0) for k in ("ReadCapacityUnits", "WriteCapacityUnits")}

    details = {
        "TableName": table["TableName"],
        "TableId": str(uuid.uuid5(uuid.NAMESPACE_URL, table["TableArn"])),  # moto keeps none; AWS: a UUID
        "TableArn": table["TableArn"],
        "TableSizeBytes": int(table.get("TableSizeBytes") or 0),
        "KeySchema": table["KeySchema"],
        "TableCreationDateTime": table["CreationDateTime"],
        "ProvisionedThroughput": throughput(table.get("ProvisionedThroughput")),
        "ItemCount": int(table.get("ItemCount") or 0),
        "BillingMode": (table.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED",
    }
    features: dict[str, Any] = {}
    gsis = [
        {"IndexName": ix["IndexName"], "KeySchema": ix["KeySchema"], "Projection": ix["Projection"],
         "ProvisionedThroughput": throughput(ix.get("ProvisionedThroughput"))}
        for ix in table.get("GlobalSecondaryIndexes") or []
    ]
    if gsis:
        features["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {k: ix[k] for k in ("IndexName", "KeySchema", "Projection")} for ix in table.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        features["LocalSecondaryIndexes"] = lsis
    stream = table.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        features["StreamDescription"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    ttl = getattr(backup.table, "ttl", None) or {}
    if ttl.get("TimeToLiveStatus"):
        features["TimeToLiveDescription"] = {k: ttl[k] for k in ("TimeToLiveStatus", "AttributeName") if ttl.get(k)}
    if table.get("SSEDescription"):
        features["SSEDescription"] = table["SSEDescription"]
    return {"BackupDetails": backup.details, "SourceTableDetails": details, "SourceTableFeatureDetails": features}


def _patch_describe_backup() -> None:
    # AWS: DescribeBackup answers SourceTableDetails (TableId, ProvisionedThroughput, BillingMode, ...) and
    # SourceTableFeatureDetails (the indexes with their capacity, stream, TTL, SSE); moto answers DescribeTable's
    # TableDescription as SourceTableDetails and no features.
    from moto.dynamodb.models.table import Backup

    Backup.description = property(_backup_description)  # type: ignore[assignment]  # moto's handler reads it


def _patch_update_table_sse() -> None:
    # AWS: UpdateTable honours SSESpecification (AWS-owned / AWS-managed / customer key), reported like CreateTable.
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original_handler = DynamoHandler.update_table

    def update_table_sse(self: Any, name: str, sse_specification: dict[str, Any]) -> Any:
        table = self.get_table(name)
        _set_table_sse(table, sse_specification)
        return table

    def update_table_handler(self: Any) -> Any:
        result = original_handler(self)
        spec = self.body.get("SSESpecification")
        if spec is None:
            return result
        table = self.dynamodb_backend.update_table_sse(self.body["TableName"], spec)
        return DynamoResult(table.describe())

    DynamoDBBackend.update_table_sse = update_table_sse  # type: ignore[attr-defined]  # moto's backend has none
    DynamoHandler.update_table = update_table_handler


def _patch_deleted_table_backup() -> None:
    # AWS: deleting a table with PITR on leaves a SYSTEM backup "<table>$DeletedTableBackup" holding its items.
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Backup

    original = DynamoDBBackend.delete_table

    def delete_table(self: Any, name: str) -> Any:
        table = original(self, name)
        pitr = table.continuous_backups.get("PointInTimeRecoveryDescription", {})
        if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
            backup = Backup(
                self.account_id,
                self.region_name,
                f"{table.name}{DELETED_TABLE_BACKUP_SUFFIX}",
                table,
                status="AVAILABLE",
                type_="SYSTEM",
            )
            _start_clock(backup, "backup")  # made asynchronously after the delete: CREATING for a while
            self.backups[backup.arn] = backup
        return table

    DynamoDBBackend.delete_table = delete_table


def _patch_list_backups_type_filter() -> None:
    # AWS: ListBackups honours BackupType (USER | SYSTEM | AWS_BACKUP | ALL), and lists only USER backups by default.
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    def list_backups_handler(self: Any) -> Any:
        body = self.body
        wanted = body.get("BackupType") or "USER"
        backups = self.dynamodb_backend.list_backups(body.get("TableName"))
        if wanted != "ALL":
            backups = [b for b in backups if b.type == wanted]
        return DynamoResult({"BackupSummaries": [b.summary for b in backups]})

    DynamoHandler.list_backups = list_backups_handler


def _patch_backup_plan_name_freed_by_delete() -> None:
    # AWS (CreateBackupPlan): AlreadyExistsException for "a plan that already exists"; moto also counts plans that
    # DeleteBackupPlan deleted (it only stamps their DeletionDate), so a deleted plan could never be made again.
    from moto.backup.models import BackupBackend

    original = BackupBackend.create_backup_plan

    def create_backup_plan(self: Any, backup_plan: dict[str, Any], backup_plan_tags: Any,
                           creator_request_id: Any) -> Any:
        deleted = {k: p for k, p in self.plans.items() if p.deletion_date is not None}
        for key in deleted:
            self.plans.pop(key)
        try:
            return original(self, backup_plan, backup_plan_tags, creator_request_id)
        finally:
            self.plans.update(deleted)  # ListBackupPlans(IncludeDeleted) still shows them

    BackupBackend.create_backup_plan = create_backup_plan


def _patch_s3_cross_account_bucket_access() -> None:
    # AWS: HeadBucket, GetBucketLocation and every other bucket call on another account's bucket answer 403 AccessDenied
    # (CreateBucket on that name still answers 409 BucketAlreadyExists).
    from moto.s3.exceptions import BucketAlreadyExists, S3AccessDeniedError
    from moto.s3.models import S3Backend, s3_backends
    from moto.s3.responses import S3Response

    class OtherAccountsBucket(S3AccessDeniedError):
        pass

    original_get_bucket = S3Backend.get_bucket
    original_put = S3Response._bucket_response_put

    def get_bucket(self: Any, bucket_name: str) -> Any:
        owner = s3_backends.bucket_accounts.get(bucket_name)
        if owner is not None and owner[1] != self.account_id:
            bucket = s3_backends[owner[1]][owner[0]].buckets.get(bucket_name)
            if bucket is None or not bucket_policy_lets_in(bucket.policy, self.account_id):
                raise OtherAccountsBucket()
        return original_get_bucket(self, bucket_name)

    def bucket_response_put(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        try:
            return original_put(self, request, bucket_name, querystring)
        except OtherAccountsBucket:
            if self.data.get("Action") == "CreateBucket":  # moto looks the taken bucket up after BucketAlreadyExists
                raise BucketAlreadyExists(bucket=bucket_name) from None
            raise

    S3Backend.get_bucket = get_bucket
    S3Response._bucket_response_put = bucket_response_put


def bucket_policy_lets_in(policy: Any, account: str) -> bool:
    """Does a bucket policy let another account's calls in? An Allow without a Condition of "s3:*" (or "*") to "*",
    to {"AWS": "*"}, or to that account (its id or root ARN). Narrower grants are taken as not letting it in: the
    local AWS plays a squatted name whose owner opened it wide, the case ExpectedBucketOwner exists for."""
    try:
        document = json.loads(policy.decode() if isinstance(policy, bytes) else policy) if policy else {}
    except ValueError:
        return False
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        actions = statement.get("Action")
        if not {"s3:*", "*"} & set(actions if isinstance(actions, list) else [actions]):
            continue
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else principal
        names = set(aws if isinstance(aws, list) else [aws])
        if names & {"*", account} or any(str(n).endswith(f":iam::{account}:root") for n in names):
            return True
    return False


def bucket_owner(bucket: str) -> str | None:
    """The account that owns `bucket` in moto's S3 (the server runs in this process), or None."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    return owner[1] if owner is not None else None


def _copy_source_bucket(headers: Any) -> str | None:
    """The bucket a CopyObject / UploadPartCopy reads (x-amz-copy-source: [/]bucket/key[?versionId=], URL-encoded)."""
    source = headers.get("x-amz-copy-source")
    if not source:
        return None
    return urllib.parse.unquote(str(source).split("?", 1)[0]).lstrip("/").partition("/")[0] or None


def _patch_s3_policy_over_tls() -> None:
    # moto weighs a bucket policy's statements without their Condition, so a TLS-only policy (Deny s3:* when
    # aws:SecureTransport is false) refuses every object call. Every SDK call reaches AWS over HTTPS: such a statement
    # never applies to them, so it is left out here (the proxy's plain HTTP stands for AWS's TLS).
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        statements = policy.get("Statement") or []
        kept = [st for st in (statements if isinstance(statements, list) else [statements])
                if (st.get("Condition") or {}) != {"Bool": {"aws:SecureTransport": "false"}}]
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**policy, "Statement": kept})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission


def _patch_s3_eventbridge_notifications() -> None:
    # AWS: GetBucketNotificationConfiguration answers <EventBridgeConfiguration/> for a bucket that sends its events to
    # EventBridge; moto keeps the setting but leaves it out of the answer.
    from moto.s3.responses import S3Response

    original = S3Response.get_bucket_notification

    def get_bucket_notification(self: Any) -> Any:
        answer = original(self)
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if config is None or getattr(config, "event_bridge", None) is None or not isinstance(answer, tuple):
            return answer
        status, headers, body = answer
        text = body.decode() if isinstance(body, bytes) else str(body)
        if "EventBridgeConfiguration" in text:
            return answer
        tail = re.search(r"<NotificationConfiguration([^>]*)/>|</NotificationConfiguration>", text)
        if tail is None:
            return answer
        element = "<EventBridgeConfiguration></EventBridgeConfiguration>"
        if tail.group(0).endswith("/>"):
            text = text.replace(tail.group(0), f"<NotificationConfiguration{tail.group(1)}>{element}"
                                              "</NotificationConfiguration>", 1)
        else:
            text = text.replace(tail.group(0), element + tail.group(0), 1)
        headers = {k: v for k, v in dict(headers).items() if k.lower() != "content-length"}
        return status, headers, text.encode() if isinstance(body, bytes) else text

    S3Response.get_bucket_notification = get_bucket_notification


def _patch_tag_resource_overwrites() -> None:
    # AWS: TagResource with a key the table already has overwrites that tag's value (keys are unique).
    from moto.dynamodb.models import DynamoDBBackend

    def tag_resource(self: Any, arn: str, tags: dict[str, str]) -> None:
        for table in self.tables.values():
            if table.table_arn == arn:
                merged = {t["Key"]: t["Value"] for t in table.tags}
                merged.update(tags)
                table.tags = [{"Key": k, "Value": v} for k, v in merged.items()]

    DynamoDBBackend.tag_resource = tag_resource


def _patch_stream_reenable() -> None:
    # AWS: a stream disabled by UpdateTable can be enabled again; that makes a new stream (new label and ARN).
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.update_table_streams

    def update_table_streams(self: Any, table: Any, stream_specification: dict[str, Any]) -> None:
        enabling = stream_specification.get("StreamEnabled") or stream_specification.get("StreamViewType")
        if enabling and not (table.stream_specification or {}).get("StreamEnabled"):
            table.set_stream_specification(stream_specification)
            return
        original(self, table, stream_specification)

    DynamoDBBackend.update_table_streams = update_table_streams


def _table_in_use(table: Any) -> Exception:
    from moto.dynamodb.exceptions import ResourceInUseException

    # DynamoDB API reference, ResourceInUseException ("You tried to delete a table currently in the CREATING
    # state"; listed for UpdateTable, UpdateTimeToLive, TagResource, UntagResource, DeleteTable); the message is
    # the one AWS answers, e.g. DeleteTable right after CreateTable.
    return ResourceInUseException(
        f"Attempt to change a resource which is still in use: Table is being created: {table.name}"
    )


def _find_table(backend: Any, name_or_arn: Any) -> Any:
    """The moto table named (or with the ARN) `name_or_arn`, or None; never raises."""
    if not isinstance(name_or_arn, str):
        return None
    table = backend.tables.get(name_or_arn)
    if table is None:
        table = next((t for t in list(backend.tables.values()) if t.table_arn == name_or_arn), None)
    return table


def _clock_table_description(table: Any, description: dict[str, Any]) -> None:
    if not _pending(table):
        return
    description["TableStatus"] = "CREATING"
    for index in description.get("GlobalSecondaryIndexes") or []:
        # GlobalSecondaryIndexDescription: "For indexes that were created during a CreateTable operation, the
        # Backfilling attribute does not appear in the DescribeTable output."
        index["IndexStatus"] = "CREATING"
        index.pop("Backfilling", None)
    if getattr(table, RESTORING_ATTR, False):
        description["ItemCount"] = 0
        description["TableSizeBytes"] = 0
        if "RestoreSummary" in description:
            description["RestoreSummary"]["RestoreInProgress"] = True


def _patch_clock_tables() -> None:
    # AWS: CreateTable, RestoreTableFromBackup and RestoreTableToPointInTime are asynchronous: the table is CREATING
    # (its GSIs too) until it is ACTIVE; a restore shows RestoreInProgress and no items meanwhile.
    # While CREATING, data-plane calls answer ResourceNotFoundException (API reference: "its status might not be
    # ACTIVE"; real DynamoDB answers "Requested resource not found" for a CREATING table), and control-plane changes
    # answer ResourceInUseException (UpdateContinuousBackups: ContinuousBackupsUnavailableException).
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, ResourceNotFoundException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import RestoredPITTable, RestoredTable, Table
    from moto.dynamodb.responses import DynamoHandler

    for cls in (Table, RestoredTable, RestoredPITTable):
        original_describe = cls.__dict__["describe"]

        def describe(self: Any, base_key: str = "TableDescription", _original: Any = original_describe) -> Any:
            result = _original(self, base_key=base_key)
            _clock_table_description(self, result[base_key])
            return result

        cls.describe = describe

    original_create = DynamoDBBackend.create_table

    def create_table(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        table = original_create(self, name, *args, **kwargs)
        _start_clock(table, "create")
        return table

    DynamoDBBackend.create_table = create_table

    original_pitr = DynamoDBBackend.restore_table_to_point_in_time

    def restore_table_to_point_in_time(self: Any, target_table_name: str, source_table_name: str) -> Any:
        table = original_pitr(self, target_table_name, source_table_name)
        _start_clock(table, "restore")
        setattr(table, RESTORING_ATTR, True)
        return table

    DynamoDBBackend.restore_table_to_point_in_time = restore_table_to_point_in_time

    def refuse_while_creating(method_name: str, parameter: str) -> None:
        original = getattr(DynamoDBBackend, method_name)

        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            table = _find_table(self, args[0] if args else kwargs.get(parameter))
            if table is not None and _pending(table):
                raise _table_in_use(table)
            return original(self, *args, **kwargs)

        setattr(DynamoDBBackend, method_name, guarded)

    refuse_while_creating("update_table", "name")
    refuse_while_creating("update_time_to_live", "table_name")
    refuse_while_creating("delete_table", "name")
    refuse_while_creating("tag_resource", "arn")
    refuse_while_creating("untag_resource", "arn")

    original_pitr_update = DynamoDBBackend.update_continuous_backups

    def update_continuous_backups(self: Any, table_name: str, point_in_time_spec: dict[str, Any]) -> Any:
        table = _find_table(self, table_name)
        if table is not None and _pending(table):
            # DynamoDB API reference, ContinuousBackupsUnavailableException: "Backups have not yet been enabled for
            # this table." (what UpdateContinuousBackups answers on a table that is still being created).
            raise JsonRESTError(
                ERROR_TYPE_PREFIX + "ContinuousBackupsUnavailableException",
                f"Backups are being enabled for the table: {table.name}. Please retry later",
            )
        return original_pitr_update(self, table_name, point_in_time_spec)

    DynamoDBBackend.update_continuous_backups = update_continuous_backups

    def tables_named(operation: str, body: dict[str, Any]) -> list[str]:
        if operation in ("batch_get_item", "batch_write_item"):
            return list((body.get("RequestItems") or {}).keys())
        if operation in ("transact_get_items", "transact_write_items"):
            return [
                str(op["TableName"])
                for item in body.get("TransactItems") or []
                for op in item.values()
                if isinstance(op, dict) and op.get("TableName")
            ]
        return [body["TableName"]] if body.get("TableName") else []

    def not_found_while_creating(operation: str) -> None:
        original = getattr(DynamoHandler, operation)

        @functools.wraps(original)
        def guarded(self: Any) -> Any:
            for name in tables_named(operation, self.body or {}):
                try:
                    table = self.dynamodb_backend.get_table(name)
                except ResourceNotFoundException:
                    continue
                if _pending(table):
                    raise ResourceNotFoundException("Requested resource not found")
            return original(self)

        setattr(DynamoHandler, operation, guarded)

    for operation in (
        "get_item", "put_item", "update_item", "delete_item", "query", "scan",
        "batch_get_item", "batch_write_item", "transact_get_items", "transact_write_items",
    ):  # fmt: skip
        not_found_while_creating(operation)


def _patch_clock_backups() -> None:
    # AWS: CreateBackup (and the $DeletedTableBackup) is CREATING for a while, then AVAILABLE; a backup that is not
    # AVAILABLE cannot be restored or deleted (BackupInUseException, see _backup_in_use).
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Backup

    def get_status(self: Any) -> str:
        status = self.__dict__.get("_localaws_status", "AVAILABLE")
        return "CREATING" if status == "AVAILABLE" and _pending(self) else status

    def set_status(self: Any, value: str) -> None:
        self.__dict__["_localaws_status"] = value

    Backup.status = property(get_status, set_status)  # type: ignore[assignment]  # moto reads .status everywhere

    original_create = DynamoDBBackend.create_backup

    def create_backup(self: Any, table_name: str, backup_name: str) -> Any:
        backup = original_create(self, table_name, backup_name)
        _start_clock(backup, "backup")
        return backup

    DynamoDBBackend.create_backup = create_backup

    original_delete = DynamoDBBackend.delete_backup

    def delete_backup(self: Any, backup_arn: str) -> Any:
        if self.get_backup(backup_arn).status == "CREATING":
            raise _backup_in_use(backup_arn)
        return original_delete(self, backup_arn)

    DynamoDBBackend.delete_backup = delete_backup


def _patch_clock_indexes() -> None:
    # AWS: a GSI added by UpdateTable backfills (IndexStatus CREATING, Backfilling true) while the table stays ACTIVE;
    # only one online index can be created or deleted at a time per table, per request and while one is building:
    # LimitExceededException "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously
    # per table" (UpdateTable API reference: "You can create or delete only one global secondary index per
    # UpdateTable operation"; the message is AWS's own). The index being built may itself be deleted while it
    # backfills (GlobalSecondaryIndexDescription: "You can delete an index that is being created during the
    # Backfilling phase").
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import GlobalSecondaryIndex

    original_describe = GlobalSecondaryIndex.describe

    def describe(self: Any) -> dict[str, Any]:
        result = original_describe(self)
        if _pending(self):
            result["IndexStatus"] = "CREATING"
            result["Backfilling"] = True
        return result

    GlobalSecondaryIndex.describe = describe

    original_update = DynamoDBBackend.update_table_global_indexes

    def update_table_global_indexes(self: Any, table: Any, updates: list[dict[str, Any]]) -> None:
        creates = [u["Create"]["IndexName"] for u in updates if u.get("Create")]
        deletes = [u["Delete"]["IndexName"] for u in updates if u.get("Delete")]
        building = {index.name for index in table.global_indexes if _pending(index)}
        if len(creates) + len(deletes) > 1 or (building and (creates or set(deletes) - building)):
            raise JsonRESTError(
                ERROR_TYPE_PREFIX + "LimitExceededException",
                "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
            )
        before = {index.name for index in table.global_indexes}
        original_update(self, table, updates)
        for index in table.global_indexes:
            if index.name not in before:
                _start_clock(index, "gsi")

    DynamoDBBackend.update_table_global_indexes = update_table_global_indexes  # type: ignore[assignment]


def _sender_org_id(account: str) -> str | None:
    """The id of the AWS Organization `account` belongs to in moto's Organizations, or None."""
    from moto.organizations.models import organizations_backends

    master = organizations_backends.master_accounts.get(account)
    owner, partition = master if master else (account, "aws")
    org = organizations_backends[owner][partition].org
    return org.id if org is not None else None


_SENDER = threading.local()  # the principal (role ARN) of the PutEvents request this moto thread is answering


def _sender_role_arn(access_key: str | None) -> str | None:
    """The role ARN (with its path) whose assumed-role credentials carry `access_key`, from moto's STS; None for
    other credentials."""
    from moto.sts.models import sts_backends

    if not access_key:
        return None
    for account in list(sts_backends):
        for partition in list(sts_backends[account]):
            role = sts_backends[account][partition].get_assumed_role_from_access_key(access_key)
            if role is not None:
                return str(role.role_arn)
    return None


def _bus_policy_allows(bus: Any, sender: str, entry: Mapping[str, Any], principal_arn: str | None = None) -> bool:
    """Does the bus's resource policy let `sender` (another account) put `entry`? An Allow statement naming
    events:PutEvents (or events:*) and the account (its id, its root ARN or "*") whose conditions all hold:
    StringEquals / ForAllValues:StringEquals on aws:PrincipalOrgID, aws:PrincipalAccount, events:source and
    events:detail-type, and ArnLike / StringLike / ArnEquals / StringEquals on aws:PrincipalArn (the sender's role
    ARN, path included; unknown for credentials that are not an assumed role) — any other condition never holds
    here; a matching Deny wins."""
    policy = json.loads(bus.policy or "{}")
    allowed = False
    for statement in policy.get("Statement") or []:
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("events:PutEvents", "events:*", "*") for a in actions):
            continue
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else principal
        names = [aws] if isinstance(aws, str) else list(aws or [])
        if not any(n == "*" or n == sender or n.endswith(f"::{sender}:root") for n in names):
            continue
        facts = {"aws:principalorgid": _sender_org_id(sender), "aws:principalaccount": sender,
                 "events:source": entry.get("Source"), "events:detail-type": entry.get("DetailType")}
        met = True
        for operator, tests in (statement.get("Condition") or {}).items():
            for key, wanted in (tests or {}).items():
                wanted = [wanted] if isinstance(wanted, str) else list(wanted)
                if key.lower() == "aws:principalarn" and operator in ("ArnLike", "StringLike", "ArnEquals",
                                                                     "StringEquals"):
                    exact = operator.endswith("Equals")
                    met = met and principal_arn is not None and any(
                        principal_arn == w if exact else fnmatch.fnmatchcase(principal_arn, w) for w in wanted)
                elif operator not in ("StringEquals", "ForAllValues:StringEquals") or key.lower() not in facts:
                    met = False  # a condition the local AWS cannot evaluate never allows
                elif facts[key.lower()] not in wanted:
                    met = False
        if not met:
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _patch_events_other_accounts_bus() -> None:
    # AWS: PutEvents accepts the ARN of another account's (or region's) bus as EventBusName; the bus's resource policy
    # decides (events:PutEvents for the sender's account, or "*" with aws:PrincipalOrgID), else that entry fails with
    # AccessDeniedException; the delivered event's `account` is the sender's. An unknown bus fails that entry
    # (ResourceNotFoundException). moto 5 looks every bus up in the sender's own account and region.
    import copy

    from moto.core.utils import unix_time
    from moto.events.models import EventsBackend, events_backends
    from moto.events.utils import _BASE_EVENT_MESSAGE
    from moto.moto_api._internal import mock_random

    original = EventsBackend.put_events

    def other_bus(backend: Any, name: Any) -> tuple[str, str, str] | None:
        if not isinstance(name, str) or not name.startswith("arn:"):
            return None
        parts = name.split(":", 5)
        if len(parts) < 6 or not parts[5].startswith("event-bus/"):
            return None
        region, account, bus = parts[3], parts[4], parts[5][len("event-bus/"):]
        return None if (region, account) == (backend.region_name, backend.account_id) else (account, region, bus)

    def put_one(backend: Any, target: tuple[str, str, str], entry: dict[str, Any]) -> dict[str, Any]:
        account, region, name = target
        bus = events_backends[account][region].event_buses.get(name)
        if bus is None:
            return {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"Event bus {name} does not exist."}
        principal = getattr(_SENDER, "role_arn", None)
        if account != backend.account_id and not _bus_policy_allows(bus, backend.account_id, entry, principal):
            return {"ErrorCode": "AccessDeniedException", "ErrorMessage": (
                f"User: arn:aws:sts::{backend.account_id}:assumed-role/... is not authorized to perform: "
                f"events:PutEvents on resource: {bus.arn} because no resource-based policy allows the "
                "events:PutEvents action")}
        for field_name in ("Source", "DetailType", "Detail"):
            if not entry.get(field_name):
                return {"ErrorCode": "InvalidArgument", "ErrorMessage": (
                    f"Parameter {field_name} is not valid. Reason: {field_name} is a required argument.")}
        try:
            detail = json.loads(entry["Detail"])
        except ValueError:
            return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
        event_id = str(mock_random.uuid4())
        for rule in list(bus.rules.values()):
            message = copy.deepcopy(_BASE_EVENT_MESSAGE)
            message.update({"id": event_id, "detail-type": entry["DetailType"], "source": entry["Source"],
                            "account": backend.account_id, "time": entry.get("Time", unix_time()),
                            "region": region, "resources": entry.get("Resources", []), "detail": detail,
                            "ingestion-time": unix_time()})
            rule.send_to_targets(message)
        return {"EventId": event_id}

    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        targets = [other_bus(self, e.get("EventBusName")) for e in events]
        if len(events) > 10 or not any(targets):
            return original(self, events)  # moto's own checks and delivery (at most 10 entries)
        results: list[dict[str, Any] | None] = [None] * len(events)
        own = [i for i, t in enumerate(targets) if t is None]
        for i, answer in zip(own, original(self, [events[i] for i in own]) if own else [], strict=True):
            results[i] = answer
        for i, target in enumerate(targets):
            if target is not None:
                results[i] = put_one(self, target, events[i])
        return [r for r in results if r is not None]

    EventsBackend.put_events = put_events

    from moto.events.responses import EventsHandler

    original_response = EventsHandler.put_events

    def put_events_response(self: Any) -> Any:
        _SENDER.role_arn = _sender_role_arn(self.get_access_key())  # for aws:PrincipalArn in the bus's policy
        try:
            return original_response(self)
        finally:
            _SENDER.role_arn = None

    EventsHandler.put_events = put_events_response

    # AWS: a rule's target gets the whole event, `account` included; moto's default input template leaves it out.
    from moto.events.utils import EventTemplateParser

    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
            '"source": "<source>",', '"source": "<source>", "account": "<account>",')


def _patch_cloudformation_event_bus_policy() -> None:
    # AWS: CloudFormation's AWS::Events::EventBusPolicy adds its Statement (with StatementId as Sid) to the bus's
    # resource policy, as PutPermission does. moto 5's CloudFormation skips the type, leaving the bus closed.
    from moto.cloudformation.parsing import get_model_map
    from moto.core.common_models import CloudFormationModel
    from moto.events.models import events_backends

    class EventBusPolicy(CloudFormationModel):
        __module__ = "moto.events.models"  # moto's model metaclass files a model under its module's service name

        def __init__(self, account_id: str, region_name: str, bus: str, statement_id: str) -> None:
            self.account_id, self.region_name, self.bus, self.statement_id = account_id, region_name, bus, statement_id

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Events::EventBusPolicy"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @property
        def physical_resource_id(self) -> str:
            return self.statement_id

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> EventBusPolicy:
            properties = cloudformation_json["Properties"]
            bus = properties.get("EventBusName") or "default"
            statement = {**properties["Statement"], "Sid": properties["StatementId"]}
            events_backends[account_id][region_name].put_permission(  # a policy document, no single grant
                bus, None, None, None, None,  # type: ignore[arg-type]
                json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
            return cls(account_id, region_name, bus, properties["StatementId"])

        @classmethod
        def update_from_cloudformation_json(
            cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str,
            region_name: str,
        ) -> EventBusPolicy:
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            properties = cloudformation_json["Properties"]
            bus = events_backends[account_id][region_name].event_buses.get(properties.get("EventBusName") or "default")
            if bus is not None:
                bus.remove_statement(properties["StatementId"])

        def is_created(self) -> bool:
            return True

    get_model_map.cache_clear()  # the map of CloudFormation types is made once, from the subclasses defined so far


def _patch_s3_default_encryption() -> None:
    # AWS: every bucket has SSE-S3 as its base encryption (since January 2023); GetBucketEncryption reports it where
    # no other configuration was put. moto answers ServerSideEncryptionConfigurationNotFoundError instead.
    from moto.s3.models import S3Backend

    original = S3Backend.get_bucket_encryption

    def get_bucket_encryption(self: Any, bucket_name: str) -> dict[str, Any] | None:
        return original(self, bucket_name) or {
            "Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": "false"}}

    S3Backend.get_bucket_encryption = get_bucket_encryption


def _patch_moto_module_listing() -> None:
    # Not an AWS behaviour: moto's server lists its own package directory (listdir + an isdir per entry) on every
    # request to match the Host header against module names — a tenth of its CPU per call here. The listing does not
    # change while the server runs: list it once.
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def _listed_copy(version: Any, is_latest: bool) -> Any:
    """A listed entry: a copy of a stored version or delete marker that carries is_latest (the stored one is left
    alone). A version is copied without its bytes (its ETag and size kept): its copy's buffer is its own, so the
    copy's __del__ never closes the stored version's."""
    import io

    from moto.s3.models import FakeKey

    clone = object.__new__(type(version))
    clone.__dict__.update(version.__dict__)
    if isinstance(version, FakeKey):
        version.etag  # noqa: B018 - computes and keeps _etag from the stored bytes, which the copy cannot reach
        clone._etag = version._etag
        clone._value_buffer = io.BytesIO()
        clone.multipart = None
        clone.disposed = True
    clone.is_latest = is_latest
    return clone


def list_object_versions_page(
    self: Any,
    bucket_name: str,
    delimiter: str | None = None,
    key_marker: str | None = None,
    max_keys: int | None = 1000,
    prefix: str = "",
    version_id_marker: str | None = None,
) -> tuple[list[Any], list[str], list[Any], str | None, str | None]:
    """moto's S3Backend.list_object_versions, answer for answer, from the page's first key on: moto copies and sorts
    every version of the bucket for every page; this sorts the key names, walks from the page's start and copies
    only the entries it answers. Its rules are moto's, quirks included: a key marker without a version id marker
    skips the first entry at or after it; one with a version id marker that names no entry answers nothing."""
    from moto.core.utils import unix_time_millis
    from moto.s3.models import FakeKey

    store = self.get_bucket(bucket_name).keys
    names = sorted(dict(store))  # a snapshot, as moto's own iteration takes (writers may add keys meanwhile)

    read: dict[str, list[Any]] = {}

    def entries(name: str) -> list[Any]:
        # newest first; moto's sort is stable, so versions of the same millisecond keep their stored order
        if name not in read:
            read[name] = sorted(store.getlist(name, []), key=lambda v: -unix_time_millis(v.last_modified))
        return read[name]

    index, skip = 0, 0  # the first key name to read, and how many of its entries to pass over
    if key_marker is not None:
        index = bisect.bisect_left(names, key_marker)
        if not version_id_marker:
            skip = 1
        else:
            marked = entries(key_marker) if index < len(names) and names[index] == key_marker else []
            found = next((n for n, v in enumerate(marked) if v.version_id == version_id_marker), None)
            if found is None:
                return [], [], [], None, None
            skip = found + 1
    while skip and index < len(names) and skip >= len(entries(names[index])):
        skip -= len(entries(names[index]))  # what is skipped spans keys, in moto's order
        index += 1
    first = bisect.bisect_left(names, prefix)
    if index < first:
        index, skip = first, 0

    common_prefixes: set[str] = set()
    versions: list[Any] = []
    markers: list[Any] = []
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None
    last_added: Any = None
    for position in range(index, len(names)):
        name_of_key = names[position]
        if not name_of_key.startswith(prefix):
            break  # the names under a prefix are one run of the sorted names
        listed = entries(name_of_key)
        for rank, version in enumerate(listed):
            if position == index and rank < skip:
                continue
            name = name_of_key
            is_common_prefix = False
            if delimiter and delimiter in name[len(prefix):]:
                end = len(prefix) + name[len(prefix):].index(delimiter) + len(delimiter)
                prefix_including_delimiter = name[0:end]
                if prefix_including_delimiter == key_marker:
                    continue
                common_prefixes.add(prefix_including_delimiter)
                name = prefix_including_delimiter
                is_common_prefix = True
            elif last_added is not None:
                name = last_added.name
            if max_keys is not None and len(versions) + len(markers) + len(common_prefixes) >= max_keys:
                next_key_marker = name
                if is_common_prefix:
                    next_version_id_marker = None
                elif last_added is not None:
                    next_version_id_marker = last_added.version_id
                else:
                    next_version_id_marker = None
                return versions, sorted(common_prefixes), markers, next_key_marker, next_version_id_marker
            if not is_common_prefix:
                last_added = version
                (versions if isinstance(version, FakeKey) else markers).append(_listed_copy(version, rank == 0))
    return versions, sorted(common_prefixes), markers, next_key_marker, next_version_id_marker


def _patch_s3_list_versions_pages() -> None:
    # Not an AWS behaviour: moto deep-copied every version of the bucket, bytes included, and sorted them all for
    # every ListObjectVersions page: a pass over 10,000 objects cost seconds of CPU per page. Same answers, per page.
    from moto.s3.models import S3Backend

    S3Backend.list_object_versions = list_object_versions_page


_patched = False


def apply_moto_patches() -> None:
    """Make moto faithful where FACTS.md (and the module docstring) say it is not. Idempotent."""
    global _patched
    if _patched:
        return
    _patch_restore_overrides()
    _patch_update_table_sse()
    _patch_deleted_table_backup()
    _patch_describe_backup()
    _patch_list_backups_type_filter()
    _patch_backup_plan_name_freed_by_delete()
    _patch_s3_cross_account_bucket_access()
    _patch_s3_default_encryption()
    _patch_s3_policy_over_tls()
    _patch_s3_eventbridge_notifications()
    _patch_tag_resource_overwrites()
    _patch_stream_reenable()
    _patch_clock_tables()
    _patch_clock_backups()
    _patch_clock_indexes()
    _patch_events_other_accounts_bus()
    _patch_cloudformation_event_bus_policy()
    _patch_moto_module_listing()
    _patch_s3_list_versions_pages()
    _patched = True


# --------------------------------------------------------------------------------------------------------------
# Classifying a request: (service, operation, write, name)
# --------------------------------------------------------------------------------------------------------------


_TARGET_SERVICES = {
    "DynamoDB": "dynamodb",
    "DynamoDBStreams": "dynamodbstreams",
    "TrentService": "kms",
    "AWSEvents": "events",
    "Logs": "logs",
    "AWSCognitoIdentityProviderService": "cognito-idp",
    "secretsmanager": "secretsmanager",
    "AmazonSSM": "ssm",
    "AWSLambda": "lambda",
}

# S3 bucket sub-resource query key -> operation noun (GetX / PutX / DeleteX)
_S3_BUCKET_SUBRESOURCES = {
    "policy": "BucketPolicy",
    "cors": "BucketCors",
    "lifecycle": "BucketLifecycleConfiguration",
    "website": "BucketWebsite",
    "acl": "BucketAcl",
    "tagging": "BucketTagging",
    "versioning": "BucketVersioning",
    "encryption": "BucketEncryption",
    "publicAccessBlock": "PublicAccessBlock",
    "ownershipControls": "BucketOwnershipControls",
    "logging": "BucketLogging",
    "notification": "BucketNotificationConfiguration",
    "replication": "BucketReplication",
    "object-lock": "ObjectLockConfiguration",
    "accelerate": "BucketAccelerateConfiguration",
    "requestPayment": "BucketRequestPayment",
    "intelligent-tiering": "BucketIntelligentTieringConfiguration",
    "analytics": "BucketAnalyticsConfiguration",
    "metrics": "BucketMetricsConfiguration",
    "inventory": "BucketInventoryConfiguration",
    "location": "BucketLocation",
    "policyStatus": "BucketPolicyStatus",
}
_S3_OBJECT_SUBRESOURCES = {
    "tagging": "ObjectTagging",
    "acl": "ObjectAcl",
    "retention": "ObjectRetention",
    "legal-hold": "ObjectLegalHold",
    "attributes": "ObjectAttributes",
}
_VERB = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head", "POST": "Post"}
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def is_write(service: str, operation: str, method: str) -> bool:
    if service == "s3":
        return method in ("PUT", "POST", "DELETE") and operation != "SelectObjectContent"
    return is_write_operation(operation)


def _name_from_json(body: dict[str, Any]) -> str | None:
    for key in ("TableName", "TargetTableName", "SourceTableName", "GlobalTableName"):
        if isinstance(body.get(key), str):
            return str(body[key])
    for key in ("ResourceArn", "BackupArn", "TableArn"):
        arn = body.get(key)
        if isinstance(arn, str) and ":table/" in arn:
            return arn.split(":table/", 1)[1].split("/", 1)[0]
    for key in ("KeyId", "Name"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return None


def _s3_operation(method: str, path: str, query: dict[str, list[str]], headers: Any) -> tuple[str, str | None]:
    parts = [urllib.parse.unquote(p) for p in path.split("/", 2)[1:] if p != ""]
    bucket = parts[0] if parts else None
    key = parts[1] if len(parts) > 1 else None
    verb = _VERB.get(method, method.title())
    if bucket is None:
        return "ListBuckets", None
    if key is None:
        if method == "POST" and "delete" in query:
            return "DeleteObjects", bucket
        for sub, noun in _S3_BUCKET_SUBRESOURCES.items():
            if sub in query:
                return verb + noun, bucket
        if method == "GET":
            if "uploads" in query:
                return "ListMultipartUploads", bucket
            if "versions" in query:
                return "ListObjectVersions", bucket
            return ("ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"), bucket
        bucket_ops = {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}
        return bucket_ops.get(method, verb + "Bucket"), bucket
    for sub, noun in _S3_OBJECT_SUBRESOURCES.items():
        if sub in query:
            return verb + noun, bucket
    if "uploadId" in query:
        op = {"PUT": "UploadPart", "POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload"}
        return op.get(method, "ListParts"), bucket
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload", bucket
    if method == "POST" and "select" in query:
        return "SelectObjectContent", bucket
    if method == "PUT" and headers.get("x-amz-copy-source"):
        return "CopyObject", bucket
    return verb + "Object", bucket


def _s3control_operation(method: str, path: str) -> str:
    # /v20180820/configuration/publicAccessBlock -> GetPublicAccessBlock / PutPublicAccessBlock / ...
    segments = [s for s in path.split("/")[2:] if s]
    if not segments:
        return _VERB.get(method, method.title())
    noun = segments[-1] if segments[0] == "configuration" else segments[0]
    noun = noun[:1].upper() + noun[1:]
    return _VERB.get(method, method.title()) + noun


# rest-json services whose operations are named from botocore's own model (method + requestUri); the name is the
# request's first URI label (schedule name, resource ARN, restore job id) or, without one, the body's ARN / name.
_MODEL_ROUTED_SERVICES = ("scheduler", "backup", "lambda")
_MODEL_BODY_NAMES = ("RecoveryPointArn", "ResourceArn", "Name", "BackupVaultName")


@functools.cache
def _model_routes(service: str) -> tuple[tuple[str, str, re.Pattern[str], tuple[str, ...], int], ...]:
    """(operation, method, path regex, required query keys, literal length) for each operation of `service`."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri_path, _, uri_query = http["requestUri"].partition("?")
        pattern, literal = "", 0
        for piece in re.split(r"(\{[^}]+\})", uri_path.rstrip("/")):
            if piece.startswith("{"):
                pattern += "(.+)" if piece.endswith("+}") else "([^/]+)"
            else:
                pattern += re.escape(piece)
                literal += len(piece)
        required = tuple(q.split("=", 1)[0] for q in uri_query.split("&") if q)
        routes.append((name, http["method"], re.compile(f"^{pattern}/?$"), required, literal))
    return tuple(routes)


def model_route(
    service: str, method: str, path: str, query: dict[str, list[str]]
) -> tuple[str, tuple[str, ...]] | None:
    """(operation, URI label values) of a rest-json request of `service`, by botocore's model; None if no match."""
    best: tuple[int, str, tuple[str, ...]] | None = None
    for name, route_method, pattern, required, literal in _model_routes(service):
        if route_method != method or any(key not in query for key in required):
            continue
        match = pattern.match(path.rstrip("/") or "/")
        if match and (best is None or literal > best[0]):
            best = (literal, name, tuple(urllib.parse.unquote(g) for g in match.groups()))
    return None if best is None else (best[1], best[2])


def _model_operation(
    service: str, method: str, path: str, query: dict[str, list[str]], body: bytes
) -> tuple[str, str | None] | None:
    route = model_route(service, method, path, query)
    if route is None:
        return None
    operation, labels = route
    # the ARN among the labels (resource, recovery point), else the first label (schedule name, job id)
    name = next((label for label in labels if label.startswith("arn:")), labels[0] if labels else None)
    if name is None and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            name = next((parsed[k] for k in _MODEL_BODY_NAMES if isinstance(parsed.get(k), str)), None)
    return operation, name


def classify(method: str, path_and_query: str, headers: Any, body: bytes) -> dict[str, Any]:
    """Map one HTTP request to {service, operation, write, name}."""
    split = urllib.parse.urlsplit(path_and_query)
    path, query = split.path or "/", urllib.parse.parse_qs(split.query, keep_blank_values=True)
    scope = _CREDENTIAL_SCOPE.search(headers.get("Authorization", "") or "")
    service = scope.group(1) if scope else None
    name: str | None = None
    target = headers.get("X-Amz-Target")
    content_type = (headers.get("Content-Type") or "").lower()
    if target and "." in target:
        prefix, operation = target.rsplit(".", 1)
        service = service or _TARGET_SERVICES.get(prefix.split("_", 1)[0], prefix.split("_", 1)[0].lower())
        try:
            parsed = json.loads(body or b"{}")
            name = _name_from_json(parsed) if isinstance(parsed, dict) else None
        except ValueError:
            name = None
    elif "Action" in query or (method == "POST" and "x-www-form-urlencoded" in content_type):
        form = dict(query)
        if method == "POST" and body:
            form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
        operation = (form.get("Action") or ["Unknown"])[0]
        service = service or "unknown"
        for key in ("RoleName", "UserName", "PolicyName", "QueueName", "TopicArn", "StackName"):
            if key in form:
                name = form[key][0]
                break
    elif path.startswith("/v20180820/") or service == "s3control":
        service, operation = "s3control", _s3control_operation(method, path)
    else:
        service = service or "s3"
        routed = _model_operation(service, method, path, query, body) if service in _MODEL_ROUTED_SERVICES else None
        if service == "s3":
            operation, name = _s3_operation(method, path, query, headers)
        elif routed is not None:
            operation, name = routed
        else:
            operation = _VERB.get(method, method.title()) + path
    return {"service": service, "operation": operation, "write": is_write(service, operation, method), "name": name}


# --------------------------------------------------------------------------------------------------------------
# The proxy
# --------------------------------------------------------------------------------------------------------------

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


# The IAM gate's answer: (status, headers, body) sent instead of forwarding, or None to let the request through.
GateAnswer = tuple[int, dict[str, str], bytes]
Gate = Callable[[dict[str, Any]], "GateAnswer | None"]

# AWS Backup recovery points live in this process, next to moto's DynamoDB tables they snapshot and restore.
BACKUP_FAKE = AwsBackupFake(restore_recovery_point, lambda: CLOCK.ready_at("restore"))

_S3_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
    "<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
)
_S3_NO_SUCH_BUCKET = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchBucket</Code>'
    "<Message>The specified bucket does not exist</Message><BucketName>{bucket}</BucketName>"
    "<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
)


def client_of(user_agent: str | None) -> str:
    """Who sent a request, from its User-Agent: selfheal's operator tooling, selfheal itself, or anything else."""
    user_agent = user_agent or ""
    if "selfheal-operator" in user_agent:
        return "operator"
    return "selfheal" if "selfheal" in user_agent else "other"


def _request_account_region(headers: Any) -> tuple[str, str]:
    """The account moto would attribute a request to (its own rules) and the region it was signed for."""
    from moto.core.models import DEFAULT_ACCOUNT_ID

    auth = headers.get("Authorization") or ""
    match = re.search(r"Credential=([^/]+)/\d{8}/([^/]+)/", auth)
    region = match.group(2) if match else "us-east-1"
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"], region
    if headers.get("x-moto-account-id"):
        return headers["x-moto-account-id"], region
    if match:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(match.group(1)), region
    return DEFAULT_ACCOUNT_ID, region


def role_gate(config: Mapping[str, Any]) -> Gate | None:
    """The IAM gate: selfheal's own calls (the function's role) are checked against the template's policy, implied
    permissions included (devtools/iam.py); AccessDenied, as AWS answers, for anything it does not allow. The
    operator's calls (`selfheal delete`) and everyone else's pass. `{}` switches enforcement off."""
    if not config.get("template"):
        return None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:  # `python devtools/localaws.py serve` runs as a script
        sys.path.insert(0, root)
    from devtools.iam import Enforcer, access_denied  # noqa: PLC0415 - only when enforcement is asked for

    where = {k: str(config[k]) for k in ("region", "account") if config.get(k)}  # the stack's, else the defaults
    enforcer = Enforcer.from_template(config["template"], parameters=config.get("parameters") or None,
                                      bucket_owner=bucket_owner, role=config.get("role") or None, **where)
    lock = threading.Lock()
    log: list[dict[str, Any]] = []  # every role request checked, with the answer: GET /_localaws/iam

    def gate(request: dict[str, Any]) -> GateAnswer | None:
        if request.get("client") != "selfheal":
            return None
        with lock:
            denied = enforcer.check(request)
            enforcer.decisions.clear()  # kept per check only: a long run would otherwise grow without bound
            if len(log) < 20000:
                log.append({**{k: v for k, v in request.items() if k != "body"},
                            "body": request["body"].decode("latin-1"), "denied": denied})
        return access_denied(request["service"], denied) if denied else None

    gate.log = log  # type: ignore[attr-defined]
    return gate


# (status, reason, headers, body) of moto's answer
Upstream = tuple[int, str, list[tuple[str, str]], bytes]


def wsgi_environ(method: str, target: str, headers: Mapping[str, str], body: bytes,
                 server: tuple[Any, ...]) -> dict[str, Any]:
    """The WSGI environ moto's own server (werkzeug's WSGIRequestHandler with moto's MotoRequestHandler) makes of a
    request: the path unquoted, headers as HTTP_*, and S3 metadata headers with underscores kept by their names."""
    from moto.core.request import (
        PRESERVED_HEADER_NAMES_ENVIRON_KEY,
        environ_key_for_header,
        should_preserve_original_header_name,
    )

    def dance(text: str) -> str:  # WSGI carries text as latin-1 code points of its UTF-8 bytes
        return text.encode().decode("latin1")

    split = urllib.parse.urlsplit(target)
    path = f"/{split.netloc}{split.path}" if not split.scheme and split.netloc else split.path
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "SERVER_SOFTWARE": "localaws", "REQUEST_METHOD": method, "SCRIPT_NAME": "",
        "PATH_INFO": dance(urllib.parse.unquote(path)), "QUERY_STRING": dance(split.query),
        "REQUEST_URI": dance(target), "RAW_URI": dance(target), "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": 0,
        "SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1]), "SERVER_PROTOCOL": "HTTP/1.1",
    }
    for name, value in headers.items():
        if "_" in name:
            continue
        key = environ_key_for_header(name)
        value = value.replace("\r\n", "")
        if key in environ and key.startswith("HTTP_"):
            value = f"{environ[key]},{value}"
        environ[key] = value
    dashed = {environ_key_for_header(name) for name in headers if "_" not in name}
    names: dict[str, str] = {}
    for name, value in headers.items():
        key = environ_key_for_header(name)
        if should_preserve_original_header_name(name) and key not in dashed:
            names.setdefault(key, name)
            environ[key] = value.replace("\r\n", "")
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names
    return environ


class ProxyState:
    def __init__(self, upstream_host: str, upstream_port: int, delay_ms: float, app: Any = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        # moto's WSGI application, called in this process (serve); None: moto over HTTP at `upstream`
        self.app = app
        self.delay_ms = float(delay_ms)
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.seq = 0
        self.local = threading.local()
        self.clock = CLOCK
        self.backup = BACKUP_FAKE
        # bucket name -> clock time from which a bucket just created answers (S3 is eventually consistent)
        self.new_buckets: dict[str, float] = {}
        # Called for every AWS request before anything else answers it (see ProxyHandler._handle); None = no gate.
        self.gate: Gate | None = None

    def reset(self) -> None:
        """Back to a fresh server's state, except recorded calls and the delay (the caller decides those)."""
        self.clock.reset()
        self.backup.reset()
        self.gate = None
        with self.lock:
            self.new_buckets.clear()

    def bucket_hidden(self, bucket: str) -> bool:
        with self.lock:
            ready = self.new_buckets.get(bucket)
            if ready is not None and self.clock.now() >= ready:
                del self.new_buckets[bucket]
                ready = None
        return ready is not None

    def bucket_created(self, bucket: str) -> None:
        ready = self.clock.ready_at("bucket")
        with self.lock:
            if ready is not None and bucket not in self.new_buckets:
                self.new_buckets[bucket] = ready

    def record(self, call: dict[str, Any]) -> None:
        with self.lock:
            self.seq += 1
            self.calls.append({"seq": self.seq, **call})

    def connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(*self.upstream, timeout=300)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.local.conn = conn
        return conn


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "localaws"
    state: ProxyState  # set on the subclass made by make_proxy
    _rid: str | None  # this request's id, made when first asked for

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet; calls are recorded instead
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """Answer from the proxy itself (control, gate, clock, AWS Backup): no body on HEAD and 1xx/204/304."""
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        if not any(key.lower() in ("x-amzn-requestid", "x-amz-request-id") for key in headers):
            self.send_header("x-amzn-RequestId", self._request_id())
        self.send_header("Content-Length", "0" if no_body else str(len(body)))
        self.end_headers()
        if not no_body:
            self.wfile.write(body)

    def _request_id(self) -> str:
        rid = getattr(self, "_rid", None)
        if rid is None:
            rid = self._rid = os.urandom(8).hex().upper()
        return rid

    def _control(self, body: bytes) -> None:
        split = urllib.parse.urlsplit(self.path)
        action = split.path[len(CONTROL_PREFIX) :].strip("/")
        query = urllib.parse.parse_qs(split.query)
        state = self.state
        if self.command == "GET" and action == "calls":
            with state.lock:
                calls = list(state.calls)
            return self._send_json(200, calls)
        if self.command == "POST" and action == "reset-calls":
            with state.lock:
                state.calls.clear()
            return self._send_json(200, {"ok": True})
        if self.command == "POST" and action == "delay":
            try:
                state.delay_ms = max(0.0, float(query["ms"][0]))
            except (KeyError, ValueError):
                return self._send_json(400, {"error": "POST /_localaws/delay?ms=N"})
            return self._send_json(200, {"delay_ms": state.delay_ms})
        if self.command == "POST" and action == "reset":
            status, _, _, data = self._forward("POST", "/moto-api/reset", {"Content-Length": "0"}, b"")
            state.reset()
            with state.lock:
                state.calls.clear()
            return self._send_json(200 if status == 200 else 502, {"ok": status == 200, "moto": data.decode()[:200]})
        if self.command == "POST" and action == "clock/advance":
            try:
                return self._send_json(200, {"advanced": state.clock.advance(float(query["seconds"][-1]))})
            except (KeyError, ValueError) as error:
                return self._send_json(400, {"error": str(error), "usage": "POST /_localaws/clock/advance?seconds=N"})
        if action == "clock" and self.command in ("GET", "POST"):
            if self.command == "GET":
                return self._send_json(200, state.clock.durations())
            try:
                return self._send_json(200, state.clock.set(**{k: v[-1] for k, v in query.items()}))
            except ValueError as error:
                return self._send_json(400, {"error": str(error), "usage": "POST /_localaws/clock?restore=90&gsi=10"})
        if self.command == "POST" and action == "recovery-point":
            return self._control_recovery_point(query)
        if self.command == "GET" and action == "iam":
            return self._send_json(200, {"enforced": state.gate is not None,
                                         "requests": list(getattr(state.gate, "log", []))})
        if self.command == "POST" and action == "iam":
            try:
                state.gate = role_gate(json.loads(body or b"{}"))
            except (ValueError, OSError, KeyError) as error:
                return self._send_json(400, {"error": str(error), "usage": 'POST /_localaws/iam {"template": PATH, '
                                             '"parameters": {...}} (or {} to switch enforcement off)'})
            return self._send_json(200, {"enforced": state.gate is not None})
        if self.command == "GET" and action == "health":
            return self._send_json(200, {"ok": True, "delay_ms": state.delay_ms, "clock": state.clock.durations()})
        return self._send_json(404, {"error": f"unknown control request {self.command} {split.path}"})

    def _control_recovery_point(self, query: dict[str, list[str]]) -> None:
        from moto.core.exceptions import JsonRESTError
        from moto.core.models import DEFAULT_ACCOUNT_ID

        one = {k: v[-1] for k, v in query.items()}
        if one.get("bucket"):  # an S3 recovery point: the bucket's objects as they are now
            try:
                arn = self.state.backup.add_s3_recovery_point(one.get("account") or DEFAULT_ACCOUNT_ID,
                                                              one.get("region") or "us-east-1", one["bucket"],
                                                              vault=one.get("vault") or "Default")
            except Exception as error:  # noqa: BLE001 - moto's MissingBucket
                return self._send_json(404, {"error": f"no bucket {one['bucket']!r} to snapshot: {error}"})
            return self._send_json(200, {"RecoveryPointArn": arn})
        if not one.get("table"):
            usage = ("POST /_localaws/recovery-point?table=NAME[&region=&vault=&status=&completes_in=&account="
                     "&advanced=false] or ?bucket=NAME[&region=&vault=&account=]")
            return self._send_json(400, {"error": usage})
        try:
            completes_in = float(one["completes_in"]) if one.get("completes_in") else None
            arn = self.state.backup.add_recovery_point(
                one.get("account") or DEFAULT_ACCOUNT_ID,
                one.get("region") or "us-east-1",
                one["table"],
                vault=one.get("vault") or "Default",
                status=one.get("status") or None,
                completes_in=completes_in,
                advanced=(one.get("advanced") or "true").lower() != "false",
            )
        except ValueError as error:
            return self._send_json(400, {"error": str(error)})
        except JsonRESTError as error:
            return self._send_json(404, {"error": f"no table {one['table']!r} to snapshot: {error.message}"})
        return self._send_json(200, {"RecoveryPointArn": arn})

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Upstream:
        """moto's answer: from its WSGI application in this process, else over HTTP (this thread's keep-alive
        connection, retried once when stale)."""
        if self.state.app is not None:
            return self._call_app(method, path, headers, body)
        for attempt in (0, 1):
            conn = self.state.connection(fresh=attempt == 1)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                if attempt == 1:
                    raise
                continue
            return response.status, response.reason, response.getheaders(), response.read()
        raise AssertionError("unreachable")

    def _call_app(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Upstream:
        # Not an AWS behaviour: moto's own HTTP server closes the connection after every answer and starts a thread
        # per request; called here, a request costs neither, nor a second parse of the HTTP.
        address = self.server.server_address
        assert isinstance(address, tuple)  # an AF_INET server: (host, port)
        environ = wsgi_environ(method, path, headers, body, address)
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, response_headers]
            return chunks.append

        try:
            answer = self.state.app(environ, start_response)
            try:
                chunks.extend(answer)
            finally:
                getattr(answer, "close", lambda: None)()
        except Exception:  # noqa: BLE001 - as moto's HTTP server answers an exception: 500, the traceback logged
            traceback.print_exc()
            return 500, "Internal Server Error", [("Content-Type", "text/plain")], b"moto raised; see the log"
        code, _, reason = str(started[0]).partition(" ")
        return int(code), reason, list(started[1]), b"".join(chunks)

    def _handle(self) -> None:
        self._rid = None
        body = self._read_body()
        if self.path.startswith(CONTROL_PREFIX):
            return self._control(body)
        state = self.state
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        if self.path.startswith("/moto-api"):  # moto's own API: forwarded, never recorded, gated or delayed
            self._forward_and_relay(headers, body)
            return
        call = classify(self.command, self.path, self.headers, body)
        # selfheal's clients add "selfheal" (its operator tooling "selfheal-operator") to their User-Agent: tells
        # product calls from a test's own setup calls.
        call["client"] = client_of(self.headers.get("User-Agent"))
        if state.delay_ms > 0:
            time.sleep(state.delay_ms / 1000.0)
        answer = self._gate(call, body) if state.gate is not None else None
        if answer is None:
            answer = self._clock_answer(call, body)
        if answer is not None:
            status, out_headers, out_body = answer
            state.record({**call, "status": status})
            return self._send(status, out_headers, out_body)
        self._forward_and_relay(headers, body, call)

    def _gate(self, call: dict[str, Any], body: bytes) -> GateAnswer | None:
        split = urllib.parse.urlsplit(self.path)
        request = {
            "service": call["service"],
            "operation": call["operation"],
            "name": call["name"],
            "method": self.command,
            "path": split.path,
            "query": urllib.parse.parse_qs(split.query, keep_blank_values=True),
            "headers": dict(self.headers.items()),
            "body": body,
            "client": call["client"],
        }
        try:
            return self.state.gate(request)  # type: ignore[misc]
        except Exception as error:  # noqa: BLE001 - a broken gate answers 500 instead of killing the connection
            message = json.dumps({"__type": "InternalFailure", "message": f"localaws gate failed: {error!r}"})
            return 500, {"Content-Type": "application/json"}, message.encode()

    def _clock_answer(self, call: dict[str, Any], body: bytes) -> GateAnswer | None:
        """What the proxy answers itself: a call whose ExpectedBucketOwner is not the bucket's owner, a bucket S3 does
        not show yet, and the AWS Backup fake."""
        state = self.state
        expected = self.headers.get("x-amz-expected-bucket-owner")
        source = _copy_source_bucket(self.headers)
        source_expected = self.headers.get("x-amz-source-expected-bucket-owner")
        if call["service"] == "s3" and source and source_expected and bucket_owner(source) not in (None,
                                                                                                   source_expected):
            # ExpectedSourceBucketOwner (CopyObject, UploadPartCopy): "If the account ID that you provide does not
            # match the actual owner of the source bucket, the request fails with the HTTP status code 403 Forbidden".
            return 403, {"Content-Type": "application/xml"}, _S3_ACCESS_DENIED.format(request_id=self._request_id()
                                                                                      ).encode()
        if call["service"] == "s3" and call["name"] and expected and bucket_owner(call["name"]) not in (None, expected):
            # AWS: "If the account ID that you provide does not match the actual owner of the bucket, the request
            # fails with the HTTP status code 403 Forbidden (access denied)". moto 5 ignores the header.
            if self.command == "HEAD":
                return 403, {"Content-Type": "application/xml"}, b""
            return 403, {"Content-Type": "application/xml"}, _S3_ACCESS_DENIED.format(request_id=self._request_id()
                                                                                      ).encode()
        if call["service"] == "s3" and call["name"] and call["operation"] != "CreateBucket":
            if state.bucket_hidden(call["name"]):
                # S3 is eventually consistent: right after CreateBucket, calls on the bucket can answer NoSuchBucket
                # (HeadBucket: a bare 404, as for any bucket that does not exist).
                if self.command == "HEAD":
                    return 404, {"Content-Type": "application/xml"}, b""
                xml = _S3_NO_SUCH_BUCKET.format(bucket=call["name"], request_id=self._request_id())
                return 404, {"Content-Type": "application/xml"}, xml.encode()
        if call["service"] == "backup" and call["operation"] in AwsBackupFake.OPERATIONS:
            account, region = _request_account_region(self.headers)
            split = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
            _, labels = model_route("backup", self.command, split.path, query) or ("", ())
            return state.backup.handle(call["operation"], labels, query, body, account, region)
        return None

    def _forward_and_relay(self, headers: dict[str, str], body: bytes, call: dict[str, Any] | None = None) -> int:
        try:
            status, reason, out_headers, data = self._forward(self.command, self.path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            if call is not None:
                self.state.record({**call, "status": 502})
            self._send_json(502, {"error": f"moto unreachable: {exc}"})
            return 502
        if call is not None:
            self.state.record({**call, "status": status})
            if call["service"] == "s3" and call["operation"] == "CreateBucket" and status == 200 and call["name"]:
                self.state.bucket_created(call["name"])  # before the client can hear of the bucket
        self._relay(status, reason, out_headers, data)
        return status

    def _relay(self, status: int, reason: str, headers: list[tuple[str, str]], data: bytes) -> None:
        """moto's answer to the client: its headers (a HEAD's Content-Length is the object's), the body's length."""
        self.send_response_only(status, reason)
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        names = set()
        for k, v in headers:
            name = k.lower()
            if name in _HOP_BY_HOP or (name == "content-length" and not no_body):
                continue
            names.add(name)
            self.send_header(k, v)
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        if "server" not in names:
            self.send_header("Server", self.version_string())
        if not no_body:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not no_body:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class _ProxyServer(http.server.ThreadingHTTPServer):
    # socketserver's listen backlog of 5 drops SYNs when a run's ~48 threads connect at once, and each costs a 1 s
    # TCP retransmit that AWS never charges.
    request_queue_size = 128
    daemon_threads = True


def make_proxy(port: int, upstream_host: str, upstream_port: int, delay_ms: float,
               app: Any = None) -> http.server.ThreadingHTTPServer:
    """The proxy server; its ProxyState (calls, clock, gate) is ``server.state``. With `app` (moto's WSGI
    application) moto is called in this process, else over HTTP at upstream_host:upstream_port."""
    state = ProxyState(upstream_host, upstream_port, delay_ms, app)
    handler = type("BoundProxyHandler", (ProxyHandler,), {"state": state})
    server = _ProxyServer(("127.0.0.1", port), handler)
    server.state = state  # type: ignore[attr-defined]
    return server


def serve(port: int = 0, delay_ms: float = 0.0, clock: Mapping[str, float] | None = None) -> int:
    import logging

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    apply_moto_patches()
    CLOCK.set(**dict(clock or {}))
    proxy = make_proxy(port, "", 0, delay_ms, app=DomainDispatcherApplication(create_backend_app))

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    print(f"READY http://127.0.0.1:{proxy.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    proxy.shutdown()
    proxy.server_close()
    return 0


# --------------------------------------------------------------------------------------------------------------
# Python API
# --------------------------------------------------------------------------------------------------------------


class LocalAwsError(RuntimeError):
    pass


class LocalAws:
    """A local AWS server in a subprocess. Use as a context manager; ``.endpoint`` is the proxy's URL."""

    def __init__(
        self,
        port: int = 0,
        delay_ms: float = 0,
        start_timeout: float = 30.0,
        clock: Mapping[str, float] | None = None,
    ) -> None:
        self.port = port
        self.delay_ms = delay_ms
        self.start_timeout = start_timeout
        self.clock = dict(clock or {})
        Clock().set(**self.clock)  # a bad name or value fails here, not in the subprocess
        self.endpoint: str = ""
        self.returncode: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None

    def start(self) -> LocalAws:
        if self._proc is not None:
            return self
        self._stderr = tempfile.TemporaryFile(mode="w+")
        cmd = [sys.executable, os.path.abspath(__file__), "serve", "--port", str(self.port)]
        cmd += ["--delay-ms", str(self.delay_ms)]
        if self.clock:
            cmd += ["--clock", ",".join(f"{kind}={float(seconds)}" for kind, seconds in self.clock.items())]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL, text=True, env=env
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self._proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self.start_timeout)
        first = line[0].strip() if line else ""
        if not first.startswith("READY "):
            self.stop()
            raise LocalAwsError(
                f"local AWS did not start within {self.start_timeout:.0f}s (got {first!r}); "
                f"stderr:\n{self._read_stderr()}"
            )
        self.endpoint = first.split(" ", 1)[1]
        return self

    def _read_stderr(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            text: str = self._stderr.read()[-4000:]
            return text
        except (OSError, ValueError):
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
            self.returncode = proc.returncode
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _control(self, method: str, action: str) -> Any:
        if not self.endpoint:
            raise LocalAwsError("LocalAws is not started")
        request = urllib.request.Request(
            self.endpoint + CONTROL_PREFIX + action, method=method, data=b"" if method == "POST" else None
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:500]
            raise LocalAwsError(f"{method} {CONTROL_PREFIX}{action}: HTTP {error.code}: {detail}") from None

    def calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self._control("GET", "calls")
        return calls

    def writes(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["write"]]

    def reset_calls(self) -> None:
        self._control("POST", "reset-calls")

    def reset(self) -> None:
        """Forget all AWS state (every account, every service) and all recorded calls."""
        self._control("POST", "reset")

    def set_delay(self, ms: float) -> None:
        self._control("POST", f"delay?ms={float(ms)}")
        self.delay_ms = ms

    def set_clock(self, **durations: float) -> dict[str, float]:
        """Set how long AWS takes, in seconds, per kind (create, restore, backup, gsi, bucket); kinds not named keep
        their duration. Returns every duration. ``reset()`` sets them all back to 0 (instant)."""
        Clock().set(**durations)  # validate before sending
        query = urllib.parse.urlencode({kind: float(seconds) for kind, seconds in durations.items()})
        durations_now: dict[str, float] = self._control("POST", f"clock?{query}" if query else "clock")
        return durations_now

    def get_clock(self) -> dict[str, float]:
        durations_now: dict[str, float] = self._control("GET", "clock")
        return durations_now

    def advance_clock(self, seconds: float) -> float:
        """Move AWS's clock on by `seconds`: whatever would be ready by then (a restore, a backup, an index, a new
        bucket, a recovery point) is ready now. Returns how far it has moved since the last ``reset()``."""
        return float(self._control("POST", f"clock/advance?seconds={float(seconds)}")["advanced"])

    def enforce_iam(
        self,
        template: str | os.PathLike[str],
        parameters: Mapping[str, str] | None = None,
        region: str | None = None,
        account: str | None = None,
        role: str | None = None,
    ) -> None:
        """Enforce the function role's policy from `template` on selfheal's calls (`reset()` switches it off), for a
        stack in `account` and `region` (default: moto's 123456789012 and us-east-1); `role`: another role of the
        template by logical id (the drill's DrillRole)."""
        config: dict[str, Any] = {"template": os.fspath(template), "parameters": dict(parameters or {})}
        if role:
            config["role"] = role
        config.update({k: v for k, v in (("region", region), ("account", account)) if v})
        body = json.dumps(config).encode()
        request = urllib.request.Request(self.endpoint + CONTROL_PREFIX + "iam", method="POST", data=body)
        with urllib.request.urlopen(request, timeout=30) as response:
            json.loads(response.read())

    def iam_log(self) -> list[dict[str, Any]]:
        """Every request of the role checked since enforcement was switched on, with `denied` (None: allowed)."""
        return list(self._control("GET", "iam")["requests"])

    def add_bucket_recovery_point(self, bucket: str, region: str = "us-east-1", vault: str = "Default") -> str:
        """Make an AWS Backup recovery point of `bucket`'s current objects; returns its ARN."""
        params = {"bucket": bucket, "region": region, "vault": vault}
        return str(self._control("POST", "recovery-point?" + urllib.parse.urlencode(params))["RecoveryPointArn"])

    def add_recovery_point(
        self,
        table: str,
        region: str = "us-east-1",
        vault: str = "Default",
        status: str | None = None,
        completes_in: float | None = None,
        account: str | None = None,
        advanced: bool = True,
    ) -> str:
        """Make an AWS Backup recovery point of `table` as it is now (schema, settings, items); returns its ARN.
        ``status``/``completes_in``: a recovery point still being made (CREATING, then COMPLETED after that long).
        ``advanced=False``: AWS Backup without its advanced DynamoDB features, the point is a DynamoDB backup."""
        params: dict[str, Any] = {"table": table, "region": region, "vault": vault}
        if not advanced:
            params["advanced"] = "false"
        if status is not None:
            params["status"] = status
        if completes_in is not None:
            params["completes_in"] = float(completes_in)
        if account is not None:
            params["account"] = account
        arn: str = self._control("POST", "recovery-point?" + urllib.parse.urlencode(params))["RecoveryPointArn"]
        return arn


def other_account_session(
    endpoint: str, account_id: str = "222222222222", region_name: str = "us-east-1", role: str = "other-account"
) -> Any:
    """A boto3 Session whose requests moto attributes to ``account_id`` (via STS AssumeRole into that account's
    ``role``, a role name with its path, e.g. "selfheal/stack-FunctionRole-1A2B")."""
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{role}", RoleSessionName="other")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region_name,
    )


_ACCOUNT_HOST_PREFIX = re.compile(r"^(https?://)\d{12}\.")


def _strip_account_host_prefix(request: Any, **kwargs: Any) -> None:
    request.url = _ACCOUNT_HOST_PREFIX.sub(r"\1", request.url)


def fix_s3control_endpoint(session_or_client: Any) -> Any:
    """Let s3control reach a local endpoint: botocore prefixes its host with the account id
    (``123456789012.127.0.0.1``), which does not resolve; drop that prefix before sending. Returns its argument."""
    events = getattr(session_or_client, "events", None) or session_or_client.meta.events
    events.register("before-send.s3-control", _strip_account_host_prefix, unique_id="localaws-s3control-host")
    return session_or_client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local AWS: patched moto behind a counting, delaying proxy.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="run until SIGTERM/SIGINT")
    serve_parser.add_argument("--port", type=int, default=0, help="proxy port on 127.0.0.1 (0 = any free port)")
    serve_parser.add_argument("--delay-ms", type=float, default=0.0, help="sleep before forwarding each request")
    serve_parser.add_argument(
        "--clock",
        type=_clock_argument,
        default={},
        metavar="KIND=SECONDS,...",
        help=f"how long AWS takes, e.g. restore=90,backup=5 (kinds: {', '.join(CLOCK_KINDS)}; default 0 = instant)",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port, args.delay_ms, args.clock)
    return 2


def _clock_argument(text: str) -> dict[str, float]:
    try:
        return parse_clock(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


if __name__ == "__main__":
    sys.exit(main())
