"""A table's drill: its newest copy (PITR's latest restorable time, else the newest backup or AWS Backup recovery point)
restored under the scratch name, checked for item count, key schema and indexes, then deleted.

The item count is Scan Select=COUNT of both tables, not DescribeTable's ItemCount: AWS refreshes ItemCount about every
six hours, so it says nothing of a table restored minutes ago. A Scan reads every item (read capacity of both tables).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from ..aws import error_code
from ..observe.tables import find_backups, find_recovery_points, newest_first, normalize_table
from ..spec import TableSpec, partition_of
from .base import SCRATCH, Copy, DrillFailed, KindDrill, Verification

if TYPE_CHECKING:
    from ..aws import Clients


def _ddb(clients: Clients, region: str | None = None) -> Any:
    return clients.client("dynamodb", region)


class TableDrill(KindDrill[TableSpec]):
    name_limit = 255  # DynamoDB's table name limit

    def __init__(self) -> None:
        self._regions: dict[str, str] = {}  # scratch name -> region, for the calls that name only the scratch

    def missing(self, clients: Clients, spec: TableSpec) -> bool:
        try:
            _ddb(clients, spec.region).describe_table(TableName=spec.name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return True
            raise
        return False

    def taken(self, clients: Clients, name: str) -> bool:
        try:
            _ddb(clients, self._regions.get(name)).describe_table(TableName=name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    def newest_copy(self, clients: Clients, spec: TableSpec) -> Copy | None:
        client = _ddb(clients, spec.region)
        pitr = client.describe_continuous_backups(TableName=spec.name)["ContinuousBackupsDescription"]
        point = pitr.get("PointInTimeRecoveryDescription") or {}
        if point.get("PointInTimeRecoveryStatus") == "ENABLED":
            latest = point.get("LatestRestorableDateTime")
            return Copy("pitr", spec.name, latest, "PITR, latest restorable time")
        arn = f"arn:{partition_of(spec.region)}:dynamodb:{spec.region}:{clients.account_id()}:table/{spec.name}"
        copies = newest_first(find_backups(client, spec.name)
                              + find_recovery_points(clients.client("backup", spec.region), arn))
        ready = [c for c in copies if c.ready]
        if not ready:
            return None
        newest = ready[0]
        source = "aws-backup" if newest.via_aws_backup or newest.type == "AWS_BACKUP" else "backup"
        return Copy(source, newest.arn, newest.created, newest.describe(), needs_role=newest.via_aws_backup)

    def restore(self, clients: Clients, spec: TableSpec, copy: Copy, scratch: str, restore_role: str | None) -> str:
        self._regions[scratch] = spec.region
        client = _ddb(clients, spec.region)
        if copy.source == "pitr":
            client.restore_table_to_point_in_time(SourceTableName=spec.name, TargetTableName=scratch,
                                                  UseLatestRestorableTime=True, BillingModeOverride="PAY_PER_REQUEST")
            return ""
        if copy.needs_role:
            job = clients.client("backup", spec.region).start_restore_job(
                RecoveryPointArn=copy.ref, IamRoleArn=restore_role, ResourceType="DynamoDB",
                Metadata={"targetTableName": scratch})
            return str(job["RestoreJobId"])
        client.restore_table_from_backup(TargetTableName=scratch, BackupArn=copy.ref,
                                         BillingModeOverride="PAY_PER_REQUEST")
        return ""

    def restored(self, clients: Clients, scratch: str, handle: str) -> bool:
        region = self._regions.get(scratch)
        if handle:
            job = clients.client("backup", region).describe_restore_job(RestoreJobId=handle)
            if job.get("Status") in ("FAILED", "ABORTED"):
                raise DrillFailed(f"AWS Backup restore job {handle} {job['Status']}: {job.get('StatusMessage', '')}")
            if job.get("Status") != "COMPLETED":
                return False
        try:
            table = _ddb(clients, region).describe_table(TableName=scratch)["Table"]
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException" and handle:
                return False  # the job has not made it yet
            raise
        return bool(table.get("TableStatus") == "ACTIVE")

    def verify(self, clients: Clients, spec: TableSpec, copy: Copy, scratch: str | None) -> Verification:
        assert scratch is not None  # a table's copies are always restored
        client = _ddb(clients, spec.region)
        source = normalize_table(client.describe_table(TableName=spec.name)["Table"])
        restored = normalize_table(client.describe_table(TableName=scratch)["Table"])
        found = Verification()
        for key in ("hash_key", "range_key"):
            if source[key] != restored[key]:
                found.problems.append(f"{key.replace('_', ' ')}: {_key(restored[key])} in the copy, "
                                      f"{_key(source[key])} in the table")
        for label in ("gsis", "lsis"):
            want, got = _indexes(source[label]), _indexes(restored[label])
            if want != got:
                found.problems.append(f"{label[:-1].upper()}s: {sorted(got) or 'none'} in the copy, "
                                      f"{sorted(want) or 'none'} in the table")
        items_table, items_copy = _count(client, spec.name), _count(client, scratch)
        found.facts["items"] = {"table": items_table, "copy": items_copy}
        if items_copy != items_table:
            found.problems.append(f"{items_copy:,} items in the copy, {items_table:,} in the table (Scan COUNT)")
        return found

    def remove(self, clients: Clients, scratch: str) -> None:
        if SCRATCH not in scratch:  # never anything but a scratch copy, whatever a caller passes
            raise ValueError(f"{scratch} is not a drill's scratch table")
        try:
            _ddb(clients, self._regions.get(scratch)).delete_table(TableName=scratch)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":  # a failed restore job made none: nothing to remove
                raise


def _key(key: Any) -> str:
    return "none" if key is None else f"{key.name} ({key.type})"


def _indexes(indexes: Any) -> dict[str, tuple[Any, ...]]:
    return {ix.name: (ix.hash_key, ix.range_key, ix.projection, ix.non_key_attributes) for ix in indexes}


def _count(client: Any, table: str) -> int:
    """Every item, counted by Scan Select=COUNT page by page (strongly consistent: the copy has just been made)."""
    total, kwargs = 0, cast("dict[str, Any]", {"TableName": table, "Select": "COUNT", "ConsistentRead": True})
    while True:
        page = client.scan(**kwargs)
        total += int(page.get("Count", 0))
        if not page.get("LastEvaluatedKey"):
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
