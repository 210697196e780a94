"""Read a DynamoDB table's settings (and, when it is missing, its restorable backups) into a normalized state."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..aws import error_code
from ..spec import ON_DEMAND, PROVISIONED, KeyAttr, TableSpec
from ..state.tables import Backup, IndexState, TableState

if TYPE_CHECKING:
    from types_boto3_backup import BackupClient
    from types_boto3_dynamodb import DynamoDBClient

Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]]


def normalize_table(desc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a DescribeTable `Table` that the estate can declare, in spec terms."""
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}

    def keys(schema: list[dict[str, str]]) -> tuple[KeyAttr | None, KeyAttr | None]:
        hash_key = range_key = None
        for k in schema or []:
            attr = KeyAttr(k["AttributeName"], types.get(k["AttributeName"], "S"))
            if k["KeyType"] == "HASH":
                hash_key = attr
            else:
                range_key = attr
        return hash_key, range_key

    def index(ix: dict[str, Any]) -> IndexState:
        hk, rk = keys(ix.get("KeySchema", []))
        proj = ix.get("Projection", {})
        tp = ix.get("ProvisionedThroughput") or {}
        return IndexState(
            name=ix["IndexName"],
            hash_key=hk,
            range_key=rk,
            projection=proj.get("ProjectionType", "ALL"),
            non_key_attributes=tuple(sorted(proj.get("NonKeyAttributes", []))),
            status=ix.get("IndexStatus", "ACTIVE"),
            read_capacity=tp.get("ReadCapacityUnits") or None,
            write_capacity=tp.get("WriteCapacityUnits") or None,
        )

    hash_key, range_key = keys(desc.get("KeySchema", []))
    throughput = desc.get("ProvisionedThroughput") or {}
    billing = (desc.get("BillingModeSummary") or {}).get("BillingMode")
    if billing is None:  # tables created before on-demand existed report no summary: they are provisioned
        billing = PROVISIONED if throughput.get("ReadCapacityUnits") else ON_DEMAND
    sse = desc.get("SSEDescription") or {}
    sse_on = sse.get("Status") in ("ENABLED", "UPDATING")
    stream = desc.get("StreamSpecification") or {}
    return {
        "status": desc.get("TableStatus"),
        "arn": desc.get("TableArn"),
        "hash_key": hash_key,
        "range_key": range_key,
        "gsis": tuple(index(ix) for ix in desc.get("GlobalSecondaryIndexes") or []),
        "lsis": tuple(index(ix) for ix in desc.get("LocalSecondaryIndexes") or []),
        "billing": billing,
        "read_capacity": throughput.get("ReadCapacityUnits") or None,
        "write_capacity": throughput.get("WriteCapacityUnits") or None,
        "sse_type": sse.get("SSEType") if sse_on else None,
        "kms_key_arn": sse.get("KMSMasterKeyArn") if sse_on else None,
        "deletion_protection": bool(desc.get("DeletionProtectionEnabled")),
        "stream": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        "item_count": desc.get("ItemCount"),
        "created_at": desc.get("CreationDateTime"),
        "restore_in_progress": bool((desc.get("RestoreSummary") or {}).get("RestoreInProgress")),
        "restore_source": (desc.get("RestoreSummary") or {}).get("SourceBackupArn")
        or (desc.get("RestoreSummary") or {}).get("SourceTableArn"),
    }


RecoveryPoints = Callable[[], tuple[Backup, ...]]


def observe_table(
    client: DynamoDBClient, spec: TableSpec, mapper: Mapper = map, recovery_points: RecoveryPoints | None = None
) -> TableState:
    """Read only what the spec declares: DescribeTable, then PITR, TTL and tags where declared.

    mapper: how the follow-up reads run; `executor.map` runs them side by side (they do not depend on each other).
    recovery_points: lists the table's AWS Backup recovery points; asked only when the table is missing.
    """
    try:
        desc = client.describe_table(TableName=spec.name)["Table"]
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        if not spec.restore:
            return TableState(name=spec.name, exists=False)
        copies = list(mapper(lambda read: read(), [lambda: find_backups(client, spec.name),
                                                   recovery_points or (lambda: ())]))
        backups = newest_first(copies[0] + copies[1])
        if spec.billing == PROVISIONED and backups and not backups[0].via_aws_backup:
            # A restore to provisioned billing names every index of the backup with its capacity (plan/tables.py).
            backups = (backup_indexes(client, backups[0]), *backups[1:])
        return TableState(name=spec.name, exists=False, backups=backups)
    fields = normalize_table(desc)
    if fields["status"] == "CREATING":
        return TableState(name=spec.name, exists=True, **fields)  # nothing more to read (or change) until ACTIVE

    fields.update(read_settings(client, spec.name, fields["arn"], mapper, spec.pitr, bool(spec.ttl), bool(spec.tags)))
    return TableState(name=spec.name, exists=True, **fields)


def read_settings(
    client: DynamoDBClient, name: str, arn: str, mapper: Mapper = map, pitr: bool = True, ttl: bool = True,
    tags: bool = True,
) -> dict[str, Any]:
    """The settings DescribeTable does not carry, as TableState fields: PITR, TTL and tags (each read only if asked)."""

    def read_pitr() -> dict[str, Any]:
        cb = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        on = (cb.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus") == "ENABLED"
        days = (cb.get("PointInTimeRecoveryDescription") or {}).get("RecoveryPeriodInDays", 35)
        latest = (cb.get("PointInTimeRecoveryDescription") or {}).get("LatestRestorableDateTime")
        return {"pitr": on, "recovery_days": days if on else None, "pitr_latest": latest if on else None}

    def read_ttl() -> dict[str, Any]:
        desc = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        return {"ttl_attribute": desc.get("AttributeName"), "ttl_status": desc.get("TimeToLiveStatus")}

    def read_tags() -> dict[str, Any]:
        return {"tags": _tags(client, arn)}

    fields: dict[str, Any] = {}
    reads = [read for read, wanted in ((read_pitr, pitr), (read_ttl, ttl), (read_tags, tags)) if wanted]
    for part in mapper(lambda read: read(), reads):
        fields.update(part)
    return fields


def _tags(client: DynamoDBClient, arn: str) -> tuple[tuple[str, str], ...]:
    tags: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = client.list_tags_of_resource(**kwargs)
        tags += [(t["Key"], t["Value"]) for t in page.get("Tags", [])]
        if not page.get("NextToken"):
            return tuple(sorted(tags))
        kwargs["NextToken"] = page["NextToken"]


def find_backups(client: DynamoDBClient, table: str) -> tuple[Backup, ...]:
    """The DynamoDB backups of `table` that are restorable or still being made (ListBackups, every type).

    The response is filtered here (table name, status): a server-side filter is not trusted.
    """
    found: list[Backup] = []
    kwargs: dict[str, Any] = {"TableName": table, "BackupType": "ALL"}  # the default, USER, hides SYSTEM backups
    while True:
        page = client.list_backups(**kwargs)
        for b in page.get("BackupSummaries", []):
            if b.get("TableName") != table or b.get("BackupStatus") not in ("AVAILABLE", "CREATING"):
                continue
            found.append(Backup(b["BackupArn"], b.get("BackupName", ""), b.get("BackupType", "USER"),
                                b.get("BackupCreationDateTime"), b["BackupStatus"]))
        if not page.get("LastEvaluatedBackupArn"):
            break
        kwargs["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
    return tuple(found)


def backups_by_table(client: DynamoDBClient) -> dict[str, tuple[Backup, ...]]:
    """Every DynamoDB backup of the region, restorable or being made, by table: one listing for a whole run (a table
    with PITR shows its newest backup beside it without a call of its own)."""
    found: dict[str, list[Backup]] = {}
    kwargs: dict[str, Any] = {"BackupType": "ALL"}
    while True:
        page = client.list_backups(**kwargs)
        for b in page.get("BackupSummaries", []):
            if b.get("BackupStatus") in ("AVAILABLE", "CREATING") and b.get("TableName"):
                found.setdefault(str(b["TableName"]), []).append(
                    Backup(b["BackupArn"], b.get("BackupName", ""), b.get("BackupType", "USER"),
                           b.get("BackupCreationDateTime"), b["BackupStatus"]))
        if not page.get("LastEvaluatedBackupArn"):
            break
        kwargs["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
    return {table: tuple(backups) for table, backups in found.items()}


def backup_indexes(client: DynamoDBClient, backup: Backup) -> Backup:
    """The backup with the global secondary indexes its table had (DescribeBackup's SourceTableFeatureDetails)."""
    desc = client.describe_backup(BackupArn=backup.arn)["BackupDescription"]
    found = []
    for ix in (desc.get("SourceTableFeatureDetails") or {}).get("GlobalSecondaryIndexes") or []:
        # DescribeBackup gives key names, not types; a restore's index override needs only the names
        keys = {k["KeyType"]: KeyAttr(k["AttributeName"], "S") for k in ix.get("KeySchema", [])}
        proj = ix.get("Projection") or {}
        found.append(IndexState(ix["IndexName"], keys.get("HASH"), keys.get("RANGE"), proj.get("ProjectionType", "ALL"),
                                tuple(proj.get("NonKeyAttributes", []))))
    return replace(backup, gsis=tuple(found))


def find_recovery_points(client: BackupClient, table_arn: str) -> tuple[Backup, ...]:
    """AWS Backup recovery points of a table (vaults; ListBackups does not show them), usable or being made.

    Its answer names no vault for a DynamoDB point (botocore's backup model: "Only Amazon EFS and Amazon EC2 recovery
    points return BackupVaultName"): a point is known by its ARN and the table's, and waited for by listing again.
    """
    found: list[Backup] = []
    for rp in recovery_points(client, table_arn):
        status = rp.get("Status")
        if status not in ("COMPLETED", "AVAILABLE", "CREATING"):
            continue  # PARTIAL, EXPIRED, DELETING, STOPPED: not a copy to restore
        found.append(Backup(rp["RecoveryPointArn"], rp.get("ResourceName", ""), "RECOVERY_POINT",
                            rp.get("CreationDate"), "CREATING" if status == "CREATING" else "AVAILABLE",
                            resource_arn=table_arn))
    return tuple(found)


def recovery_points(client: BackupClient, table_arn: str) -> Iterator[Mapping[str, Any]]:
    """Every recovery point AWS Backup lists for a table ARN, page by page (none if AWS Backup never protected it)."""
    kwargs: dict[str, Any] = {"ResourceArn": table_arn}
    while True:
        try:
            page = client.list_recovery_points_by_resource(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":  # AWS Backup never protected it
                return
            raise
        yield from page.get("RecoveryPoints", [])
        if not page.get("NextToken"):
            return
        kwargs["NextToken"] = page["NextToken"]


def newest_first(copies: Iterable[Backup]) -> tuple[Backup, ...]:
    """Every copy once (a native AWS Backup copy is listed by both APIs), the newest first, whatever its type."""
    unique = {b.arn: b for b in copies}
    return tuple(sorted(unique.values(), key=lambda b: -(b.created.timestamp() if b.created else 0)))
