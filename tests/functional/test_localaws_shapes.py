"""The local AWS answers only what AWS could: every answer a fake of ours makes up (the AWS Backup stand-in, the
clock's rewrites of moto's DynamoDB answers, the DescribeBackup and PutEvents answers it builds) is checked against
botocore's output shape of the operation, as it came over the wire, and every error code against the operation's
documented errors. A fake that answers a member, type or value the model does not have fails here."""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

from devtools.localaws import LocalAws
from tests.functional.test_localaws_clock import ITEMS, KEY, ROLE, _attrs, _create_table
from tests.support.shapes import Capture, problems

# ---- the checker itself -------------------------------------------------------------------------------------------


def test_the_checker_flags_members_types_values_and_required_members_aws_would_not_answer() -> None:
    point = {"RecoveryPointArn": "arn:aws:backup:us-east-1:1:recovery-point:X", "Status": "COMPLETED",
             "CreationDate": 1.7e9, "BackupSizeBytes": 10, "IsParent": False}
    assert problems("backup", "ListRecoveryPointsByResource", {"RecoveryPoints": [point]}, "DynamoDB") == []
    bad = {**point, "Vault": "Default", "BackupSizeBytes": "10", "Status": "DONE", "IsParent": "false"}
    found = problems("backup", "ListRecoveryPointsByResource", {"RecoveryPoints": [bad]}, "DynamoDB")
    assert len(found) == 4, found
    assert any(".Vault: not a member" in p for p in found)
    assert any("BackupSizeBytes: long expected" in p for p in found)
    assert any("'DONE' is not one of" in p for p in found)
    assert any("IsParent: boolean expected" in p for p in found)
    # a member the model's documentation reserves for other resource types
    (reserved,) = problems("backup", "ListRecoveryPointsByResource",
                           {"RecoveryPoints": [{**point, "BackupVaultName": "Default"}]}, "DynamoDB")
    assert "documented only for Amazon EFS and Amazon EC2" in reserved
    assert problems("backup", "ListRecoveryPointsByResource",
                    {"RecoveryPoints": [{**point, "BackupVaultName": "Default"}]}, "EFS") == []
    # a required member left out
    assert problems("backup", "StartRestoreJob", {}) == []  # RestoreJobId is not required by the model
    missing = problems("dynamodb", "DescribeBackup", {"BackupDescription": {"BackupDetails": {"BackupArn": "a"}}})
    assert missing and all("required by BackupDetails" in p for p in missing)


# ---- the fakes ----------------------------------------------------------------------------------------------------


def _documented_errors(service: str, operation: str) -> set[str]:
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    return {shape.error_code or shape.name for shape in model.error_shapes}


def _code(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.operation_name, error.value.response["Error"]["Code"]


def test_every_answer_of_the_aws_backup_stand_in_is_one_aws_documents_for_a_dynamodb_point(aws: LocalAws) -> None:
    capture = Capture()
    ddb = boto3.client("dynamodb")
    backup = capture.attach(boto3.client("backup"))
    arn = _create_table(ddb, "orders", ITEMS)["TableArn"]
    # GIVEN points of both kinds (advanced features or not), finished and still being made
    advanced = aws.add_recovery_point("orders")
    native = aws.add_recovery_point("orders", advanced=False)
    aws.add_recovery_point("orders", completes_in=30)
    aws.add_recovery_point("orders", advanced=False, completes_in=30)
    ddb.delete_table(TableName="orders")
    aws.set_clock(restore=2)

    # WHEN every operation is asked, in every state of what it answers about, and its errors are provoked
    backup.list_recovery_points_by_resource(ResourceArn=arn)
    backup.list_recovery_points_by_resource(ResourceArn=arn, MaxResults=1)
    for point in (advanced, native):
        backup.describe_recovery_point(BackupVaultName="Default", RecoveryPointArn=point)
    meta = {"targetTableName": "orders", "encryptionType": "KMS"}
    job = backup.start_restore_job(RecoveryPointArn=advanced, IamRoleArn=ROLE, Metadata=meta)["RestoreJobId"]
    backup.describe_restore_job(RestoreJobId=job)  # RUNNING
    aws.advance_clock(2)
    assert backup.describe_restore_job(RestoreJobId=job)["Status"] == "COMPLETED"
    failed = backup.start_restore_job(RecoveryPointArn=advanced, IamRoleArn=ROLE, Metadata=meta)["RestoreJobId"]
    assert backup.describe_restore_job(RestoreJobId=failed)["Status"] == "FAILED"
    errors = [
        _code(lambda: backup.describe_recovery_point(BackupVaultName="Other", RecoveryPointArn=advanced)),
        _code(lambda: backup.start_restore_job(RecoveryPointArn=advanced, Metadata=meta)),
        _code(lambda: backup.start_restore_job(RecoveryPointArn=advanced, IamRoleArn=ROLE,
                                               Metadata={**meta, "kmsMasterKeyArn": "alias/k"})),
        _code(lambda: backup.describe_restore_job(RestoreJobId="NO-SUCH-JOB")),
    ]

    # THEN every answer fits botocore's output shape, with no member AWS reserves for other resource types ...
    assert len(capture.answers) >= 10
    assert capture.problems("backup", resource_type="DynamoDB") == []
    listed = [body for op, _, body in capture.answers if op == "ListRecoveryPointsByResource"]
    assert all("BackupVaultName" not in p for body in listed for p in body["RecoveryPoints"])
    # ... and every error is one the operation documents
    assert all(code in _documented_errors("backup", op) for op, code in errors), errors


def test_every_clock_rewrite_of_a_dynamodb_answer_fits_its_shape(aws: LocalAws) -> None:
    capture = Capture()
    ddb = capture.attach(boto3.client("dynamodb"))
    gsi = {"IndexName": "by-sk", "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"}],
           "Projection": {"ProjectionType": "ALL"}}
    attrs = [*_attrs()["AttributeDefinitions"], {"AttributeName": "sk", "AttributeType": "S"}]
    aws.set_clock(create=30, restore=30, backup=30, gsi=30)

    # WHEN tables, indexes, backups and restores are on their way (the clock rewrites what moto answers) ...
    ddb.create_table(TableName="new", **KEY, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST",
                     GlobalSecondaryIndexes=[gsi])
    ddb.describe_table(TableName="new")  # CREATING, its index CREATING
    aws.set_clock(create=0)
    _create_table(boto3.client("dynamodb"), "orders", ITEMS)
    ddb.update_continuous_backups(TableName="orders",
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.update_table(TableName="orders", AttributeDefinitions=attrs, GlobalSecondaryIndexUpdates=[{"Create": gsi}])
    ddb.describe_table(TableName="orders")  # the index backfilling
    made = ddb.create_backup(TableName="orders", BackupName="nightly")["BackupDetails"]["BackupArn"]
    ddb.describe_backup(BackupArn=made)  # CREATING
    ddb.list_backups(TableName="orders", BackupType="ALL")
    aws.set_clock(backup=0)
    ready = ddb.create_backup(TableName="orders", BackupName="ready")["BackupDetails"]["BackupArn"]
    ddb.describe_backup(BackupArn=ready)
    ddb.restore_table_from_backup(TargetTableName="copy", BackupArn=ready, BillingModeOverride="PROVISIONED",
                                  ProvisionedThroughputOverride={"ReadCapacityUnits": 2, "WriteCapacityUnits": 1},
                                  GlobalSecondaryIndexOverride=[{**gsi, "ProvisionedThroughput": {
                                      "ReadCapacityUnits": 2, "WriteCapacityUnits": 1}}],
                                  SSESpecificationOverride={"Enabled": True, "SSEType": "KMS"})
    ddb.describe_table(TableName="copy")  # a restore in progress
    ddb.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="pitr", UseLatestRestorableTime=True)
    ddb.describe_table(TableName="pitr")
    ddb.delete_table(TableName="orders")  # PITR on: its $DeletedTableBackup, CREATING
    ddb.list_backups(TableName="orders", BackupType="SYSTEM")

    # THEN every answer fits botocore's output shape
    operations = {op for op, _, _ in capture.answers}
    assert {"DescribeTable", "CreateBackup", "DescribeBackup", "ListBackups", "RestoreTableFromBackup",
            "RestoreTableToPointInTime", "UpdateTable", "DeleteTable"} <= operations
    assert capture.problems("dynamodb") == []


def test_the_put_events_answer_for_another_accounts_bus_fits_its_shape(aws: LocalAws) -> None:
    # GIVEN a bus in another account that lets nobody in
    capture = Capture()
    events = capture.attach(boto3.client("events"))
    bus = "arn:aws:events:us-east-1:222222222222:event-bus/central"
    entry = {"Source": "selfheal", "DetailType": "run", "Detail": json.dumps({"a": 1})}

    # WHEN events go to it and to the account's own bus (the local AWS answers the other account's entries itself)
    events.put_events(Entries=[{**entry, "EventBusName": bus}, {**entry, "EventBusName": "default"}])

    # THEN the answer, a failed entry beside a delivered one, fits botocore's output shape
    (answer,) = [body for op, _, body in capture.answers if op == "PutEvents"]
    assert answer["FailedEntryCount"] == 1
    assert capture.problems("events") == []
