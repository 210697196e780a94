"""The local AWS plays AWS's clock (opt-in), fakes AWS Backup recovery points, names every call and takes an IAM gate.

Durations are AWS's own order (a minute and more): every in-progress answer is checked at once, then the test moves
the local AWS's clock on past the duration (``advance_clock``) and checks the finished state — no test waits for it.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devtools.localaws import CLOCK, CLOCK_KINDS, LocalAws, classify, make_proxy, parse_clock

KEY = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
ROLE = "arn:aws:iam::123456789012:role/restore"
ITEMS = [{"pk": {"S": f"o-{i}"}, "a": {"S": f"a-{i}"}} for i in range(3)]


def _attrs(*names: str) -> dict:
    return {"AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", *names)]}


def _gsi(name: str, attribute: str) -> dict:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }


def _create_table(ddb, name: str, items: list[dict] = (), **kwargs) -> dict:
    kwargs.setdefault("BillingMode", "PAY_PER_REQUEST")
    kwargs.setdefault("AttributeDefinitions", _attrs()["AttributeDefinitions"])
    table = ddb.create_table(TableName=name, **KEY, **kwargs)["TableDescription"]
    for item in items:
        ddb.put_item(TableName=name, Item=item)
    return table


def _error(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as error:
        call()
    response = error.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def _code(call: Callable[[], Any]) -> str:
    return _error(call)[1]


def _table(ddb, name: str) -> dict:
    return ddb.describe_table(TableName=name)["Table"]


def _active(ddb, name: str) -> dict | None:
    table = _table(ddb, name)
    return table if table["TableStatus"] == "ACTIVE" else None


def _scan(ddb, name: str) -> list[dict]:
    return sorted(ddb.scan(TableName=name)["Items"], key=lambda i: i["pk"]["S"])


def _post(aws: LocalAws, action: str) -> tuple[int, Any]:
    request = urllib.request.Request(f"{aws.endpoint}/_localaws/{action}", method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---- the clock itself ---------------------------------------------------------------------------------------------


def test_with_the_clock_at_zero_everything_is_instant_as_before(aws: LocalAws) -> None:
    # GIVEN a fresh local AWS: every duration is 0
    assert aws.get_clock() == dict.fromkeys(CLOCK_KINDS, 0.0)
    ddb, s3, backup = boto3.client("dynamodb"), boto3.client("s3"), boto3.client("backup")

    # WHEN tables, backups, restores, indexes, buckets and AWS Backup restores are made
    created = _create_table(ddb, "orders", ITEMS, GlobalSecondaryIndexes=[_gsi("ByA", "a")], **_attrs("a"))
    backup_arn = ddb.create_backup(TableName="orders", BackupName="orders-bk")["BackupDetails"]["BackupArn"]
    restored = ddb.restore_table_from_backup(TargetTableName="copy", BackupArn=backup_arn)["TableDescription"]
    ddb.update_table(TableName="orders", **_attrs("a", "b"), GlobalSecondaryIndexUpdates=[{"Create": _gsi("ByB", "b")}])
    s3.create_bucket(Bucket="photos-bkt")
    point = aws.add_recovery_point("orders")
    job = backup.start_restore_job(
        RecoveryPointArn=point, IamRoleArn=ROLE, ResourceType="DynamoDB", Metadata={"targetTableName": "again"}
    )["RestoreJobId"]

    # THEN everything is ready at once, as moto always was
    assert created["TableStatus"] == "ACTIVE" and created["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    assert _backup_status(ddb, backup_arn) == "AVAILABLE"
    assert restored["TableStatus"] == "ACTIVE" and restored["RestoreSummary"]["RestoreInProgress"] is False
    assert _scan(ddb, "copy") == ITEMS
    indexes = {i["IndexName"]: i for i in _table(ddb, "orders")["GlobalSecondaryIndexes"]}
    assert [(i["IndexStatus"], "Backfilling" in i) for i in indexes.values()] == [("ACTIVE", False)] * 2
    assert s3.head_bucket(Bucket="photos-bkt")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert backup.describe_restore_job(RestoreJobId=job)["Status"] == "COMPLETED"
    assert _scan(ddb, "again") == ITEMS


def test_the_clock_is_set_from_python_and_the_control_endpoint_and_reset_to_zero(aws: LocalAws) -> None:
    # GIVEN a local AWS WHEN durations are set from Python and over HTTP
    assert aws.set_clock(restore=90, gsi=0.5) == {**dict.fromkeys(CLOCK_KINDS, 0.0), "restore": 90.0, "gsi": 0.5}
    status, durations = _post(aws, "clock?backup=5&bucket=3")

    # THEN each answers every duration, and the ones not named keep theirs
    assert status == 200
    assert durations == {"create": 0.0, "restore": 90.0, "backup": 5.0, "gsi": 0.5, "bucket": 3.0}
    assert aws.get_clock() == durations
    # a bad name or value is refused and changes nothing
    assert _post(aws, "clock?lunch=5")[0] == 400
    assert _post(aws, "clock?restore=-1")[0] == 400
    with pytest.raises(ValueError):
        aws.set_clock(restore=float("nan"))
    assert aws.get_clock() == durations
    # AND reset sets every duration back to 0
    aws.reset()
    assert aws.get_clock() == dict.fromkeys(CLOCK_KINDS, 0.0)


def test_moving_the_clock_on_readies_what_would_be_ready_by_then_and_reset_takes_it_back(aws: LocalAws) -> None:
    # GIVEN restores that take 90 s, and a restore started
    ddb = boto3.client("dynamodb")
    _create_table(ddb, "orders", ITEMS)
    backup_arn = ddb.create_backup(TableName="orders", BackupName="orders-bk")["BackupDetails"]["BackupArn"]
    aws.set_clock(restore=90)
    ddb.restore_table_from_backup(TargetTableName="copy", BackupArn=backup_arn)

    # WHEN the clock moves on, from Python and over HTTP, in steps that add up to less than 90 s
    assert aws.advance_clock(60) == 60.0
    assert _post(aws, "clock/advance?seconds=29") == (200, {"advanced": 89.0})

    # THEN the restore is still running; one more second and it is done, with its items
    assert _table(ddb, "copy")["TableStatus"] == "CREATING"
    aws.advance_clock(1)
    assert _active(ddb, "copy") and _scan(ddb, "copy") == ITEMS
    # a clock that would go back, or a step that is not a number, is refused and moves nothing
    assert _post(aws, "clock/advance?seconds=-1")[0] == 400
    assert _post(aws, "clock/advance?seconds=soon")[0] == 400
    assert _post(aws, "clock/advance")[0] == 400
    with pytest.raises(ValueError):
        CLOCK.advance(float("inf"))
    assert aws.advance_clock(0) == 90.0
    # AND reset sets the clock back with the durations: a new restore takes its whole duration again
    aws.reset()
    assert aws.advance_clock(0) == 0.0


def test_serve_takes_the_clock_from_the_command_line() -> None:
    # GIVEN --clock as `serve` takes it, WHEN a server is started with it THEN it runs with those durations
    assert parse_clock("restore=90, backup=5,gsi=10,bucket=3,create=1") == {
        "restore": 90.0, "backup": 5.0, "gsi": 10.0, "bucket": 3.0, "create": 1.0,
    }  # fmt: skip
    with pytest.raises(ValueError):
        parse_clock("restore")
    with pytest.raises(ValueError):
        LocalAws(clock={"lunch": 1})
    with LocalAws(clock={"restore": 90, "gsi": 10}) as server:
        assert server.get_clock() == {"create": 0.0, "restore": 90.0, "backup": 0.0, "gsi": 10.0, "bucket": 0.0}


# ---- DynamoDB tables ----------------------------------------------------------------------------------------------


def test_a_new_table_is_creating_for_the_create_duration(aws: LocalAws) -> None:
    # GIVEN tables take a minute to create
    aws.set_clock(create=60)
    ddb = boto3.client("dynamodb")

    # WHEN a table with an index is created
    created = _create_table(ddb, "orders", GlobalSecondaryIndexes=[_gsi("ByA", "a")], **_attrs("a"))

    # THEN it and its index are CREATING (no Backfilling for an index made with the table) ...
    for table in (created, _table(ddb, "orders")):
        assert table["TableStatus"] == "CREATING"
        assert [(i["IndexStatus"], "Backfilling" in i) for i in table["GlobalSecondaryIndexes"]] == [
            ("CREATING", False)
        ]
    assert ddb.list_tables()["TableNames"] == ["orders"]
    # ... still so a second before the minute is up, and then ACTIVE
    aws.advance_clock(59)
    assert _table(ddb, "orders")["TableStatus"] == "CREATING"
    aws.advance_clock(1)
    table = _active(ddb, "orders")
    assert table and table["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"


def test_a_creating_table_refuses_changes_and_is_not_found_by_data_calls(aws: LocalAws) -> None:
    # GIVEN a table that is still being created
    aws.set_clock(create=60)
    ddb = boto3.client("dynamodb")
    arn = _create_table(ddb, "orders", Tags=[{"Key": "team", "Value": "a"}])["TableArn"]
    item = {"pk": {"S": "o-1"}}
    changes = {
        "UpdateTable": lambda: ddb.update_table(TableName="orders", DeletionProtectionEnabled=True),
        "UpdateTimeToLive": lambda: ddb.update_time_to_live(
            TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        ),
        "TagResource": lambda: ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}]),
        "UntagResource": lambda: ddb.untag_resource(ResourceArn=arn, TagKeys=["team"]),
        "UpdateContinuousBackups": lambda: ddb.update_continuous_backups(
            TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        ),
    }

    # WHEN it is changed, deleted or read and written THEN AWS's errors come back
    answers = {name: _error(change) for name, change in changes.items()}
    assert answers["UpdateTable"] == (
        400,
        "ResourceInUseException",
        "Attempt to change a resource which is still in use: Table is being created: orders",
    )
    assert {name: code for name, (_, code, _) in answers.items()} == {
        "UpdateTable": "ResourceInUseException",
        "UpdateTimeToLive": "ResourceInUseException",
        "TagResource": "ResourceInUseException",
        "UntagResource": "ResourceInUseException",
        "UpdateContinuousBackups": "ContinuousBackupsUnavailableException",
    }
    assert _code(lambda: ddb.delete_table(TableName="orders")) == "ResourceInUseException"
    assert _code(lambda: ddb.put_item(TableName="orders", Item=item)) == "ResourceNotFoundException"
    assert _code(lambda: ddb.get_item(TableName="orders", Key=item)) == "ResourceNotFoundException"

    # AND once ACTIVE, every one of them works
    aws.advance_clock(60)
    assert _active(ddb, "orders")
    for change in changes.values():
        change()
    ddb.put_item(TableName="orders", Item=item)
    assert ddb.get_item(TableName="orders", Key=item)["Item"] == item
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    ddb.update_table(TableName="orders", DeletionProtectionEnabled=False)
    ddb.delete_table(TableName="orders")


def test_a_restore_is_creating_and_hides_its_items_until_it_is_done(aws: LocalAws) -> None:
    # GIVEN a backup of a table with items, and restores that take 90 s
    ddb = boto3.client("dynamodb")
    _create_table(ddb, "orders", ITEMS)
    backup_arn = ddb.create_backup(TableName="orders", BackupName="orders-bk")["BackupDetails"]["BackupArn"]
    aws.set_clock(restore=90)

    # WHEN the backup is restored (and the table restored to a point in time)
    restored = ddb.restore_table_from_backup(TargetTableName="copy", BackupArn=backup_arn)["TableDescription"]
    ddb.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="pitr-copy")

    # THEN the new tables are CREATING, restores in progress with no items ...
    for table in (restored, _table(ddb, "copy"), _table(ddb, "pitr-copy")):
        assert table["TableStatus"] == "CREATING"
        assert table["RestoreSummary"]["RestoreInProgress"] is True
        assert (table["ItemCount"], table["TableSizeBytes"]) == (0, 0)
    key = {"pk": {"S": "o-1"}}
    data_calls = {
        "GetItem": lambda: ddb.get_item(TableName="copy", Key=key),
        "PutItem": lambda: ddb.put_item(TableName="copy", Item={"pk": {"S": "new"}}),
        "UpdateItem": lambda: ddb.update_item(
            TableName="copy", Key=key, UpdateExpression="SET a = :a", ExpressionAttributeValues={":a": {"S": "x"}}
        ),
        "DeleteItem": lambda: ddb.delete_item(TableName="copy", Key=key),
        "Query": lambda: ddb.query(
            TableName="copy", KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": key["pk"]}
        ),
        "Scan": lambda: ddb.scan(TableName="copy"),
        "BatchGetItem": lambda: ddb.batch_get_item(RequestItems={"copy": {"Keys": [key]}}),
        "BatchWriteItem": lambda: ddb.batch_write_item(
            RequestItems={"copy": [{"PutRequest": {"Item": {"pk": {"S": "new"}}}}]}
        ),
    }
    assert {name: _error(call)[:2] for name, call in data_calls.items()} == dict.fromkeys(
        data_calls, (400, "ResourceNotFoundException")
    )
    assert _scan(ddb, "orders") == ITEMS  # the source is untouched

    # ... and then ACTIVE with all their items
    aws.advance_clock(90)
    for name in ("copy", "pitr-copy"):
        table = _active(ddb, name)
        assert table is not None, name
        assert table["RestoreSummary"]["RestoreInProgress"] is False
        assert table["ItemCount"] == len(ITEMS)
        assert _scan(ddb, name) == ITEMS


# ---- DynamoDB backups ---------------------------------------------------------------------------------------------


def _backup_status(ddb, arn: str) -> str:
    return ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]


def test_a_new_backup_is_creating_and_cannot_be_restored_until_available(aws: LocalAws) -> None:
    # GIVEN backups take a minute
    ddb = boto3.client("dynamodb")
    _create_table(ddb, "orders", ITEMS)
    aws.set_clock(backup=60)

    # WHEN a backup is made
    details = ddb.create_backup(TableName="orders", BackupName="orders-bk")["BackupDetails"]

    # THEN it is CREATING everywhere, and restoring or deleting it answers BackupInUseException ...
    arn = details["BackupArn"]
    assert details["BackupStatus"] == "CREATING"
    assert [b["BackupStatus"] for b in ddb.list_backups(TableName="orders")["BackupSummaries"]] == ["CREATING"]
    assert _backup_status(ddb, arn) == "CREATING"
    assert _code(lambda: ddb.restore_table_from_backup(TargetTableName="copy", BackupArn=arn)) == (
        "BackupInUseException"
    )
    assert _code(lambda: ddb.delete_backup(BackupArn=arn)) == "BackupInUseException"
    assert ddb.list_tables()["TableNames"] == ["orders"]  # the failed restore made no table

    # ... and then AVAILABLE and restorable
    aws.advance_clock(60)
    assert _backup_status(ddb, arn) == "AVAILABLE"
    assert [b["BackupStatus"] for b in ddb.list_backups(TableName="orders")["BackupSummaries"]] == ["AVAILABLE"]
    ddb.restore_table_from_backup(TargetTableName="copy", BackupArn=arn)
    assert _scan(ddb, "copy") == ITEMS


def test_a_deleted_pitr_tables_system_backup_is_creating_for_a_while(aws: LocalAws) -> None:
    # GIVEN a table with point-in-time recovery, and backups that take a minute
    ddb = boto3.client("dynamodb")
    _create_table(ddb, "orders", ITEMS)
    ddb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    aws.set_clock(backup=60)

    # WHEN the table is deleted
    ddb.delete_table(TableName="orders")

    # THEN its $DeletedTableBackup is CREATING and cannot be restored yet ...
    (summary,) = ddb.list_backups(TableName="orders", BackupType="SYSTEM")["BackupSummaries"]
    assert (summary["BackupName"], summary["BackupStatus"]) == ("orders$DeletedTableBackup", "CREATING")
    arn = summary["BackupArn"]
    assert _code(lambda: ddb.restore_table_from_backup(TargetTableName="orders", BackupArn=arn)) == (
        "BackupInUseException"
    )
    assert ddb.list_tables()["TableNames"] == []

    # ... and then AVAILABLE, and restores every item under the old name
    aws.advance_clock(60)
    assert _backup_status(ddb, arn) == "AVAILABLE"
    ddb.restore_table_from_backup(TargetTableName="orders", BackupArn=arn)
    assert _scan(ddb, "orders") == ITEMS


# ---- DynamoDB indexes ---------------------------------------------------------------------------------------------


def _indexes(ddb, table: str) -> dict[str, dict]:
    return {i["IndexName"]: i for i in _table(ddb, table).get("GlobalSecondaryIndexes", [])}


def test_a_new_index_backfills_while_the_table_stays_active_one_at_a_time(aws: LocalAws) -> None:
    # GIVEN an ACTIVE table with one index, and index builds that take five minutes
    ddb = boto3.client("dynamodb")
    _create_table(ddb, "orders", ITEMS, GlobalSecondaryIndexes=[_gsi("ByA", "a")], **_attrs("a"))
    aws.set_clock(gsi=300)
    limit = (
        400,
        "LimitExceededException",
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
    )

    # WHEN an index is added
    updated = ddb.update_table(
        TableName="orders", **_attrs("a", "b"), GlobalSecondaryIndexUpdates=[{"Create": _gsi("ByB", "b")}]
    )["TableDescription"]

    # THEN the table stays ACTIVE and the new index backfills ...
    for table in (updated, _table(ddb, "orders")):
        assert table["TableStatus"] == "ACTIVE"
        indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
        assert (indexes["ByB"]["IndexStatus"], indexes["ByB"]["Backfilling"]) == ("CREATING", True)
        assert indexes["ByA"]["IndexStatus"] == "ACTIVE" and "Backfilling" not in indexes["ByA"]

    # ... no other index may be created or deleted meanwhile, but other updates may run
    def change_indexes(*updates: dict) -> Callable[[], Any]:
        attrs = _attrs("a", "b", "c", "d", "e")
        return lambda: ddb.update_table(TableName="orders", **attrs, GlobalSecondaryIndexUpdates=list(updates))

    create_c = {"Create": _gsi("ByC", "c")}
    assert _error(change_indexes(create_c)) == limit
    assert _error(change_indexes({"Delete": {"IndexName": "ByA"}})) == limit
    ddb.update_table(TableName="orders", DeletionProtectionEnabled=True)

    # AND then the index is ACTIVE (no Backfilling key), and the next one can be added
    aws.advance_clock(300)
    assert _indexes(ddb, "orders")["ByB"]["IndexStatus"] == "ACTIVE"
    assert "Backfilling" not in _indexes(ddb, "orders")["ByB"]
    change_indexes(create_c)()
    assert _indexes(ddb, "orders")["ByC"]["IndexStatus"] == "CREATING"
    # two index changes in one request are refused whatever the clock says
    aws.set_clock(gsi=0)  # a new duration does not move a build already under way ...
    assert _indexes(ddb, "orders")["ByC"]["IndexStatus"] == "CREATING"
    aws.advance_clock(300)  # ... time passing does
    assert _indexes(ddb, "orders")["ByC"]["IndexStatus"] == "ACTIVE"
    assert _error(change_indexes({"Create": _gsi("ByD", "d")}, {"Create": _gsi("ByE", "e")})) == limit


# ---- S3 -------------------------------------------------------------------------------------------------------------


def test_a_new_bucket_is_not_found_until_s3_shows_it(aws: LocalAws) -> None:
    # GIVEN new buckets take 30 s to show
    aws.set_clock(bucket=30)
    s3 = boto3.client("s3")
    versioning = {"Status": "Enabled"}

    # WHEN a bucket is created
    s3.create_bucket(Bucket="photos-bkt")

    # THEN for a while every other call on it answers as for a bucket that does not exist ...
    assert _error(lambda: s3.head_bucket(Bucket="photos-bkt"))[:2] == (404, "404")
    assert _error(lambda: s3.get_bucket_tagging(Bucket="photos-bkt"))[:2] == (404, "NoSuchBucket")
    put = _error(lambda: s3.put_bucket_versioning(Bucket="photos-bkt", VersioningConfiguration=versioning))
    assert put == (404, "NoSuchBucket", "The specified bucket does not exist")
    assert s3.create_bucket(Bucket="photos-bkt")["ResponseMetadata"]["HTTPStatusCode"] == 200  # forwarded as usual
    calls = [(c["operation"], c["status"]) for c in aws.calls()]
    assert calls == [
        ("CreateBucket", 200), ("HeadBucket", 404), ("GetBucketTagging", 404), ("PutBucketVersioning", 404),
        ("CreateBucket", 200),
    ]  # fmt: skip

    # ... and then it is there
    aws.advance_clock(30)
    assert _head_status(s3, "photos-bkt") == 200
    s3.put_bucket_versioning(Bucket="photos-bkt", VersioningConfiguration=versioning)
    assert s3.get_bucket_versioning(Bucket="photos-bkt")["Status"] == "Enabled"


def _head_status(s3, bucket: str) -> int:
    try:
        return s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"]
    except ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"]


# ---- AWS Backup recovery points -----------------------------------------------------------------------------------


def _points(backup, table_arn: str) -> list[dict]:
    return backup.list_recovery_points_by_resource(ResourceArn=table_arn)["RecoveryPoints"]


def test_recovery_points_are_listed_by_aws_backup_only_even_after_the_table_is_gone(aws: LocalAws) -> None:
    # GIVEN a table with items
    ddb, backup = boto3.client("dynamodb"), boto3.client("backup")
    arn = _create_table(ddb, "orders", ITEMS)["TableArn"]

    # WHEN one recovery point is made from Python and one, still being made, over the control endpoint
    first = aws.add_recovery_point("orders")
    status, made = _post(aws, "recovery-point?table=orders&region=us-east-1&status=CREATING&completes_in=60")
    second = made["RecoveryPointArn"]

    # THEN AWS Backup lists both, newest first, in the shape botocore parses; DynamoDB's backups do not show them
    assert status == 200 and second.startswith("arn:aws:backup:us-east-1:123456789012:recovery-point:")
    points = _points(backup, arn)
    assert [(p["RecoveryPointArn"], p["Status"]) for p in points] == [(second, "CREATING"), (first, "COMPLETED")]
    # no vault named: botocore's backup model, "Only Amazon EFS and Amazon EC2 recovery points return BackupVaultName"
    assert "BackupVaultName" not in points[1] and points[1]["ResourceName"] == "orders"
    assert points[1]["BackupSizeBytes"] > 0 and points[1]["CreationDate"] <= points[0]["CreationDate"]
    assert ddb.list_backups(BackupType="ALL")["BackupSummaries"] == []
    assert backup.describe_recovery_point(BackupVaultName="Default", RecoveryPointArn=second)["Status"] == "CREATING"
    assert _code(lambda: backup.describe_recovery_point(BackupVaultName="Other", RecoveryPointArn=second)) == (
        "ResourceNotFoundException"
    )
    assert _post(aws, "recovery-point?table=nothing")[0] == 404
    # AND after the table is deleted they are still listed, the second one COMPLETED in time
    ddb.delete_table(TableName="orders")
    aws.advance_clock(60)
    assert [p["Status"] for p in _points(backup, arn)] == ["COMPLETED", "COMPLETED"]


def test_a_restore_job_restores_the_snapshot_creating_for_the_restore_duration(aws: LocalAws) -> None:
    # GIVEN a recovery point of a tagged table with items, the table since deleted, and restores that take 90 s
    ddb, backup = boto3.client("dynamodb"), boto3.client("backup")
    arn = _create_table(ddb, "orders", ITEMS, Tags=[{"Key": "team", "Value": "a"}])["TableArn"]
    point = aws.add_recovery_point("orders", region="us-east-1", vault="Default")
    ddb.put_item(TableName="orders", Item={"pk": {"S": "after"}})  # not in the snapshot
    ddb.delete_table(TableName="orders")
    aws.set_clock(restore=90)

    # WHEN AWS Backup restores it under the old name with a DynamoDB-managed key
    job_id = backup.start_restore_job(
        RecoveryPointArn=point,
        IamRoleArn=ROLE,
        ResourceType="DynamoDB",
        Metadata={"targetTableName": "orders", "encryptionType": "KMS"},
    )["RestoreJobId"]

    # THEN the job is RUNNING while the table is CREATING, a restore in progress ...
    job = backup.describe_restore_job(RestoreJobId=job_id)
    assert (job["Status"], job["RecoveryPointArn"], job["IamRoleArn"], job["ResourceType"]) == (
        "RUNNING", point, ROLE, "DynamoDB",
    )  # fmt: skip
    assert "CreatedResourceArn" not in job and "CompletionDate" not in job
    table = _table(ddb, "orders")
    assert (table["TableStatus"], table["RestoreSummary"]["RestoreInProgress"]) == ("CREATING", True)
    assert table["RestoreSummary"]["SourceBackupArn"] == point
    assert _code(lambda: ddb.scan(TableName="orders")) == "ResourceNotFoundException"
    assert _points(backup, arn)[0]["RecoveryPointArn"] == point

    # ... and then COMPLETED, with the table ACTIVE, the snapshot's items, the key asked for and no tags
    aws.advance_clock(90)
    job = backup.describe_restore_job(RestoreJobId=job_id)
    assert job["Status"] == "COMPLETED"
    assert job["CreatedResourceArn"] == arn and job["CompletionDate"] > job["CreationDate"]
    table = _active(ddb, "orders")
    assert table and table["RestoreSummary"]["RestoreInProgress"] is False
    assert _scan(ddb, "orders") == ITEMS
    assert table["SSEDescription"]["SSEType"] == "KMS"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == []


def test_restore_jobs_answer_aws_backups_errors(aws: LocalAws) -> None:
    # GIVEN a table and a recovery point of it, and one still being made
    ddb, backup = boto3.client("dynamodb"), boto3.client("backup")
    _create_table(ddb, "orders", ITEMS)
    point = aws.add_recovery_point("orders")
    making = aws.add_recovery_point("orders", status="CREATING", completes_in=30)
    arn_of = "arn:aws:backup:us-east-1:123456789012:recovery-point:00000000-0000-0000-0000-000000000000"

    def start(recovery_point: str, target: str, **kwargs: Any) -> Any:
        return backup.start_restore_job(
            RecoveryPointArn=recovery_point, IamRoleArn=ROLE, Metadata={"targetTableName": target}, **kwargs
        )

    # WHEN restores are asked for what cannot be restored THEN AWS Backup's errors come back
    assert _error(lambda: start(arn_of, "copy"))[:2] == (400, "ResourceNotFoundException")
    assert _error(lambda: start(making, "copy"))[:2] == (400, "InvalidRequestException")
    assert _code(lambda: backup.describe_restore_job(RestoreJobId="NO-SUCH-JOB")) == "ResourceNotFoundException"
    # a target table that exists fails the job, as the restore runs in the job
    failed = backup.describe_restore_job(RestoreJobId=start(point, "orders")["RestoreJobId"])
    assert (failed["Status"], failed["StatusMessage"]) == ("FAILED", "Table already exists: orders")
    assert "CreatedResourceArn" not in failed
    # AND the same idempotency token starts one job, not two
    first = start(point, "copy", IdempotencyToken="tok")["RestoreJobId"]
    assert start(point, "copy", IdempotencyToken="tok")["RestoreJobId"] == first
    assert _scan(ddb, "copy") == ITEMS


def test_start_restore_job_refuses_what_aws_refuses_and_starts_nothing(aws: LocalAws) -> None:
    # GIVEN a recovery point of a table
    ddb, backup = boto3.client("dynamodb"), boto3.client("backup")
    _create_table(ddb, "orders", ITEMS)
    point = aws.add_recovery_point("orders")
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def start(metadata: dict[str, str], **kwargs: Any) -> Any:
        return backup.start_restore_job(RecoveryPointArn=point, Metadata=metadata, **kwargs)

    # WHEN a restore is asked without a role, with a key by alias, or with a metadata key DynamoDB's restore lacks
    # THEN AWS Backup refuses each, and no table is made
    assert _error(lambda: start({"targetTableName": "copy"}))[:2] == (400, "MissingParameterValueException")
    alias = {"targetTableName": "copy", "encryptionType": "KMS", "kmsMasterKeyArn": "alias/galerly"}
    assert _error(lambda: start(alias, IamRoleArn=ROLE))[:2] == (400, "InvalidParameterValueException")
    bogus = {"targetTableName": "copy", "billingMode": "PROVISIONED"}
    assert _error(lambda: start(bogus, IamRoleArn=ROLE))[:2] == (400, "InvalidParameterValueException")
    assert "copy" not in ddb.list_tables()["TableNames"]
    # AND the same restore with the key's ARN, keys in any case, goes through
    good = {"TargetTableName": "copy", "EncryptionType": "KMS", "KMSMasterKeyArn": key_arn}
    assert start(good, IamRoleArn=ROLE)["RestoreJobId"]
    assert _table(ddb, "copy")["SSEDescription"]["KMSMasterKeyArn"] == key_arn


def test_a_point_without_advanced_features_is_a_dynamodb_backup_that_dynamodb_restores(aws: LocalAws) -> None:
    # GIVEN AWS Backup without its advanced DynamoDB features made a copy of a table, still being made for a minute
    ddb, backup = boto3.client("dynamodb"), boto3.client("backup")
    arn = _create_table(ddb, "orders", ITEMS)["TableArn"]
    point = aws.add_recovery_point("orders", advanced=False, completes_in=60)

    # THEN its ARN is a DynamoDB backup's, listed by both APIs, CREATING in both until it is done
    assert point.startswith(arn + "/backup/")
    (listed,) = _points(backup, arn)
    assert (listed["RecoveryPointArn"], listed["Status"]) == (point, "CREATING") and "BackupVaultName" not in listed
    (summary,) = ddb.list_backups(TableName="orders", BackupType="ALL")["BackupSummaries"]
    assert (summary["BackupArn"], summary["BackupType"], summary["BackupStatus"]) == (point, "AWS_BACKUP", "CREATING")
    assert ddb.list_backups(TableName="orders")["BackupSummaries"] == []  # USER by default
    aws.advance_clock(60)
    assert _points(backup, arn)[0]["Status"] == "COMPLETED"
    assert ddb.describe_backup(BackupArn=point)["BackupDescription"]["BackupDetails"]["BackupStatus"] == "AVAILABLE"

    # WHEN the table is deleted and DynamoDB restores the point as a backup THEN the items come back
    ddb.delete_table(TableName="orders")
    ddb.restore_table_from_backup(TargetTableName="orders", BackupArn=point)
    assert _scan(ddb, "orders") == ITEMS


# ---- recording --------------------------------------------------------------------------------------------------


def test_calls_name_scheduler_and_aws_backup_operations(aws: LocalAws) -> None:
    # GIVEN EventBridge Scheduler and AWS Backup clients
    scheduler, backup, ddb = boto3.client("scheduler"), boto3.client("backup"), boto3.client("dynamodb")
    target = {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:selfheal", "RoleArn": ROLE}
    schedule = {"ScheduleExpression": "at(2030-01-01T00:00:00)", "FlexibleTimeWindow": {"Mode": "OFF"}}
    table_arn = _create_table(ddb, "orders")["TableArn"]
    point = aws.add_recovery_point("orders")
    aws.reset_calls()

    # WHEN each operation is called
    scheduler.create_schedule(Name="heal-later", Target=target, **schedule)
    scheduler.get_schedule(Name="heal-later")
    scheduler.update_schedule(Name="heal-later", Target=target, **schedule)
    scheduler.list_schedules()
    scheduler.delete_schedule(Name="heal-later")
    backup.list_recovery_points_by_resource(ResourceArn=table_arn)
    job = backup.start_restore_job(RecoveryPointArn=point, IamRoleArn=ROLE, Metadata={"targetTableName": "copy"})
    backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])

    # THEN each is recorded by its name, with what it names
    assert [(c["service"], c["operation"], c["write"], c["name"], c["status"]) for c in aws.calls()] == [
        ("scheduler", "CreateSchedule", True, "heal-later", 200),
        ("scheduler", "GetSchedule", False, "heal-later", 200),
        ("scheduler", "UpdateSchedule", True, "heal-later", 200),
        ("scheduler", "ListSchedules", False, None, 200),
        ("scheduler", "DeleteSchedule", True, "heal-later", 200),
        ("backup", "ListRecoveryPointsByResource", False, table_arn, 200),
        ("backup", "StartRestoreJob", True, point, 200),
        ("backup", "DescribeRestoreJob", False, job["RestoreJobId"], 200),
    ]


@pytest.mark.parametrize(
    ("method", "path", "service", "operation", "name"),
    [
        ("POST", "/schedules/nightly", "scheduler", "CreateSchedule", "nightly"),
        ("GET", "/schedules?NamePrefix=n", "scheduler", "ListSchedules", None),
        ("GET", "/schedule-groups/default", "scheduler", "GetScheduleGroup", "default"),
        ("GET", "/restore-jobs/JOB-1", "backup", "DescribeRestoreJob", "JOB-1"),
        ("GET", "/restore-jobs/", "backup", "ListRestoreJobs", None),
        (
            "GET",
            "/backup-vaults/Default/recovery-points/arn%3Aaws%3Abackup%3Aus-east-1%3A1%3Arecovery-point%3AX",
            "backup",
            "DescribeRecoveryPoint",
            "arn:aws:backup:us-east-1:1:recovery-point:X",
        ),
    ],
)
def test_classify_rest_json_services_by_their_model(
    method: str, path: str, service: str, operation: str, name: str | None
) -> None:
    auth = f"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host"
    call = classify(method, path, {"Authorization": auth}, b"")
    assert (call["service"], call["operation"], call["name"]) == (service, operation, name)


def test_calls_tell_selfheal_from_its_operator_and_from_others(aws: LocalAws) -> None:
    # GIVEN clients that say who they are in their User-Agent
    agents = {"selfheal": "selfheal/1.0", "operator": "selfheal-operator/1.0", "other": None}

    # WHEN each makes a call
    for agent in agents.values():
        boto3.client("dynamodb", config=Config(user_agent_extra=agent) if agent else None).list_tables()

    # THEN each call is recorded with who made it
    assert [c["client"] for c in aws.calls()] == list(agents)


# ---- the IAM gate ---------------------------------------------------------------------------------------------------


@pytest.fixture
def gated(aws: LocalAws) -> Iterator[Any]:
    """A proxy in this process, in front of the local AWS, whose gate a test can set (``server.state.gate``)."""
    host, port = aws.endpoint.removeprefix("http://").split(":")
    server = make_proxy(0, host, int(port), 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def test_a_gate_answers_instead_of_aws_and_reset_removes_it(aws: LocalAws, gated: Any) -> None:
    # GIVEN a gate that denies selfheal any DeleteTable
    seen: list[dict] = []
    denied = json.dumps({"__type": "AccessDeniedException", "message": "no delete for selfheal"}).encode()

    def gate(request: dict) -> tuple[int, dict[str, str], bytes] | None:
        seen.append(request)
        if request["operation"] == "DeleteTable" and request["client"] == "selfheal":
            return 400, {"Content-Type": "application/x-amz-json-1.0"}, denied
        return None

    gated.state.gate = gate
    selfheal = boto3.client("dynamodb", endpoint_url=gated.endpoint, config=Config(user_agent_extra="selfheal/1.0"))
    _create_table(selfheal, "orders")

    # WHEN selfheal deletes the table
    answer = _error(lambda: selfheal.delete_table(TableName="orders"))

    # THEN the gate's answer comes back, AWS never sees the call, and the call is recorded with the gate's status
    assert answer == (400, "AccessDeniedException", "no delete for selfheal")
    assert boto3.client("dynamodb").list_tables()["TableNames"] == ["orders"]
    assert [(c["operation"], c["status"]) for c in aws.calls()] == [("CreateTable", 200), ("ListTables", 200)]
    with gated.state.lock:
        assert [(c["operation"], c["status"], c["client"]) for c in gated.state.calls] == [
            ("CreateTable", 200, "selfheal"),
            ("DeleteTable", 400, "selfheal"),
        ]
    request = seen[-1]
    assert {k: request[k] for k in ("service", "operation", "name", "method", "path", "query", "client")} == {
        "service": "dynamodb",
        "operation": "DeleteTable",
        "name": "orders",
        "method": "POST",
        "path": "/",
        "query": {},
        "client": "selfheal",
    }
    assert json.loads(request["body"]) == {"TableName": "orders"}
    assert request["headers"]["X-Amz-Target"] == "DynamoDB_20120810.DeleteTable"
    # AND a reset takes the gate away
    urllib.request.urlopen(urllib.request.Request(f"{gated.endpoint}/_localaws/reset", method="POST", data=b""))
    assert gated.state.gate is None
