"""The IAM enforcer the local AWS runs on every request of the function role (devtools/iam.py): pure, no server.

Against the real template.yaml only for what its role is meant to keep doing (reads and repairs on the declared
names, nothing on others); every IMPLIED row, condition and edge case against small inline templates, so these tests
hold whatever permissions other work adds to or removes from the real role.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

from devtools import iam
from devtools.iam import IMPLIED, Enforcer, access_denied, evaluate_condition

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION, ACCOUNT = "us-east-1", "123456789012"
PRINCIPAL = f"arn:aws:sts::{ACCOUNT}:assumed-role/selfheal-function/selfheal"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"
BACKUP_ARN = f"{TABLE}/galerly-photos/backup/01700000000000-abcdef12"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key"
FOLLOWUP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/selfheal-FollowupSchedulerRole-1A2B3C"
RESTORE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/selfheal-BackupRestoreRole-4D5E6F"
# The seven item actions AWS authorizes a restore against, as the table of implied permissions lists them.
RESTORE_ITEM_ACTIONS = list(iam.RESTORE_ITEM_ACTIONS)
DYNAMODB_KMS_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
    "kms:CreateGrant",
]


# --- requests, as the recording proxy classifies them ---------------------------------------------------------


def request(
    service: str,
    operation: str,
    name: str | None = None,
    body: Any = b"",
    method: str = "POST",
    path: str = "/",
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    headers = dict(headers or {})
    if region:
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    return {"service": service, "operation": operation, "name": name, "method": method, "path": path,
            "query": query or {}, "headers": headers, "body": body}  # fmt: skip


def ddb(operation: str, region: str | None = None, **body: Any) -> dict[str, Any]:
    name = body.get("TableName") or body.get("TargetTableName")
    headers = {"X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0"}
    return request("dynamodb", operation, name, body, headers=headers, region=region)


def s3(operation: str, bucket: str, method: str, sub: str = "", headers: dict[str, str] | None = None,
       body: bytes = b"") -> dict[str, Any]:  # fmt: skip
    query = {sub: [""]} if sub else {}
    return request("s3", operation, bucket, body, method=method, path=f"/{bucket}", headers=headers, query=query)


def restore(target: str = "galerly-photos", backup: str = BACKUP_ARN, **extra: Any) -> dict[str, Any]:
    return ddb("RestoreTableFromBackup", TargetTableName=target, BackupArn=backup, **extra)


def sse(key: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
    if key:
        spec["KMSMasterKeyId"] = key
    return spec


def create_schedule(name: str = "selfheal-followup-1", group: str | None = None, role: str = FOLLOWUP_ROLE,
                    operation: str = "CreateSchedule") -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "ScheduleExpression": "at(2026-01-01T00:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:selfheal-selfheal", "RoleArn": role},
    }
    if group:
        body["GroupName"] = group
    return request("scheduler", operation, None, body, method="POST", path=f"/schedules/{name}")


def start_restore_job(role: str = RESTORE_ROLE, operation: str = "StartRestoreJob") -> dict[str, Any]:
    body = {
        "RecoveryPointArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:1EB3B5E7-9EB0-435A-A80B",
        "IamRoleArn": role,
        "Metadata": {"targetTableName": "galerly-photos"},
        "ResourceType": "DynamoDB",
    }
    return request("backup", operation, None, body, method="PUT", path="/restore-jobs")


def denied(action: str, resource: str | None) -> str:
    on = f" on resource: {resource}" if resource else ""
    return (
        f"User: {PRINCIPAL} is not authorized to perform: {action}{on} because no identity-based policy allows the "
        f"{action} action"
    )


# --- inline templates ----------------------------------------------------------------------------------------


def allow(actions: str | list[str], resources: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def deny(actions: str | list[str], resources: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": actions, "Resource": resources, **extra}


def make_template(tmp_path: Path, *statements: dict[str, Any], resources: dict[str, Any] | None = None) -> Path:
    """A minimal SAM template: a function whose role has `statements` (plus any other `resources`)."""
    doc = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "FunctionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                         "Action": "sts:AssumeRole"}]},  # fmt: skip
                    "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17",
                                                                        "Statement": list(statements)}}],
                },
            },
            "Function": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]}, "Handler": "app.handler",
                               "Runtime": "python3.12", "CodeUri": "."},  # fmt: skip
            },
            **(resources or {}),
        },
    }
    path = tmp_path / f"template-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def enforcer(tmp_path: Path, *statements: dict[str, Any], **kw: Any) -> Enforcer:
    return Enforcer.from_template(make_template(tmp_path, *statements, **kw))


RESTORE_STATEMENTS = (
    allow("dynamodb:RestoreTableFromBackup", [f"{TABLE}/galerly-*/backup/*", f"{TABLE}/galerly-*"]),
    allow(RESTORE_ITEM_ACTIONS, f"{TABLE}/galerly-*"),
)


# --- the real template ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Enforcer:
    return Enforcer.from_template(TEMPLATE)


OWNERSHIP = {"x-amz-object-ownership": "BucketOwnerEnforced"}
ACCOUNT_BPA = "/v20180820/configuration/publicAccessBlock"


@pytest.mark.parametrize(
    "req",
    [
        ddb("DescribeTable", TableName="galerly-users"),
        ddb("DescribeContinuousBackups", TableName="galerly-notification-preferences"),
        ddb("DescribeTimeToLive", TableName="galerly-sessions"),
        ddb("ListTagsOfResource", ResourceArn=f"{TABLE}/galerly-users"),
        ddb("TagResource", ResourceArn=f"{TABLE}/galerly-users", Tags=[{"Key": "app", "Value": "galerly"}]),
        ddb("ListBackups", TableName="galerly-photos", BackupType="SYSTEM"),
        ddb("DescribeBackup", BackupArn=BACKUP_ARN),
        ddb("CreateTable", TableName="galerly-photos", SSESpecification=sse(None)),
        ddb("CreateTable", TableName="galerly-photos", SSESpecification=sse("alias/aws/dynamodb")),
        ddb("UpdateTable", TableName="galerly-users", DeletionProtectionEnabled=True),
        ddb("UpdateContinuousBackups", TableName="galerly-photos",
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}),  # fmt: skip
        ddb("UpdateTimeToLive", TableName="galerly-sessions",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}),  # fmt: skip
        s3("HeadBucket", "galerly-images-storage", "HEAD"),
        s3("GetBucketPolicy", "galerly-frontend-app", "GET", "policy"),
        s3("PutBucketPolicy", "galerly-frontend-app", "PUT", "policy", body=b"{}"),
        s3("PutBucketCors", "galerly-images-storage", "PUT", "cors"),
        s3("PutPublicAccessBlock", "galerly-images-storage", "PUT", "publicAccessBlock"),
        s3("PutBucketEncryption", "galerly-images-storage", "PUT", "encryption"),
        s3("CreateBucket", "galerly-images-storage", "PUT", headers=OWNERSHIP),
        request("s3", "ListBuckets", None, method="GET", path="/"),
        request("s3control", "GetPublicAccessBlock", None, method="GET", path=ACCOUNT_BPA,
                headers={"x-amz-account-id": ACCOUNT}),  # fmt: skip
        request("kms", "DescribeKey", "alias/aws/dynamodb", {"KeyId": "alias/aws/dynamodb"}),
        request("kms", "DescribeKey", None, {"KeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app-key"}),
        request("sts", "GetCallerIdentity", None, b"Action=GetCallerIdentity&Version=2011-06-15",
                headers={"Content-Type": "application/x-www-form-urlencoded"}),  # fmt: skip
        request("cloudformation", "DescribeStacks", "selfheal", b"Action=DescribeStacks&StackName=selfheal",
                headers={"Content-Type": "application/x-www-form-urlencoded"}),  # fmt: skip
    ],
    ids=lambda r: f"{r['service']}:{r['operation']}:{r['name']}",
)
def test_the_real_role_allows_the_engines_calls_on_the_declared_names(real: Enforcer, req: dict[str, Any]) -> None:
    assert real.check(req) is None


@pytest.mark.parametrize(
    ("req", "action", "resource"),
    [
        (ddb("DescribeTable", TableName="other-app-users"), "dynamodb:DescribeTable", f"{TABLE}/other-app-users"),
        (ddb("UpdateTable", TableName="galerly"), "dynamodb:UpdateTable", f"{TABLE}/galerly"),
        (ddb("DeleteTable", TableName="galerly-users"), "dynamodb:DeleteTable", f"{TABLE}/galerly-users"),
        (ddb("CreateBackup", TableName="galerly-users", BackupName="b"), "dynamodb:CreateBackup",
         f"{TABLE}/galerly-users"),  # fmt: skip
        (ddb("DescribeTable", region="eu-west-1", TableName="galerly-users"), "dynamodb:DescribeTable",
         f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/galerly-users"),  # fmt: skip
        (s3("PutBucketPolicy", "someone-elses-bucket", "PUT", "policy"), "s3:PutBucketPolicy",
         "arn:aws:s3:::someone-elses-bucket"),  # fmt: skip
        (s3("DeleteBucket", "galerly-images-storage", "DELETE"), "s3:DeleteBucket",
         "arn:aws:s3:::galerly-images-storage"),  # fmt: skip
        (request("s3", "GetObject", "galerly-images-storage", method="GET", path="/galerly-images-storage/a/b.jpg"),
         "s3:GetObject", "arn:aws:s3:::galerly-images-storage/a/b.jpg"),  # fmt: skip
        (request("s3control", "PutPublicAccessBlock", None, method="PUT", path=ACCOUNT_BPA),
         "s3:PutAccountPublicAccessBlock", None),  # fmt: skip
        # the template lets KMS be used only through DynamoDB and S3 (kms:ViaService): a direct call has no such key
        (request("kms", "Decrypt", None, {"KeyId": f"{KEY}/1234abcd", "CiphertextBlob": "AA=="}), "kms:Decrypt",
         f"{KEY}/1234abcd"),  # fmt: skip
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_the_real_role_denies_everything_else_with_awss_message(
    real: Enforcer, req: dict[str, Any], action: str, resource: str | None
) -> None:
    assert real.check(req) == denied(action, resource)


@pytest.mark.parametrize("req", [
    s3("HeadBucket", "galerly-images-storage", "HEAD"),
    s3("GetBucketPolicy", "galerly-images-storage", "GET", "policy"),
    s3("PutBucketPolicy", "galerly-images-storage", "PUT", "policy"),
    s3("PutLifecycleConfiguration", "galerly-images-storage", "PUT", "lifecycle"),
], ids=lambda r: r["operation"])
def test_the_real_role_touches_a_declared_bucket_only_when_this_account_owns_it(req: dict[str, Any]) -> None:
    # GIVEN the photos bucket's name is another account's (a squatted name): S3 ARNs carry no account, so only
    # s3:ResourceAccount tells it from ours
    theirs = Enforcer.from_template(TEMPLATE, bucket_owner=lambda bucket: "999999999999")
    ours = Enforcer.from_template(TEMPLATE, bucket_owner=lambda bucket: ACCOUNT)

    assert theirs.check(req) == denied(iam.iam_action("s3", req["operation"]), "arn:aws:s3:::galerly-images-storage")
    assert ours.check(req) is None


def test_a_copy_from_the_photos_replica_is_allowed_only_from_the_account_declared_to_own_it() -> None:
    # GIVEN the stack's replica parameters: galerly-images-replica, owned by the backup account 222222222222
    params = {"PhotosCopyBucketName": "galerly-images-replica", "PhotosCopyBucketAccount": "222222222222"}
    owners = {"galerly-images-storage": ACCOUNT}
    copy = request("s3", "CopyObject", "galerly-images-storage", method="PUT", path="/galerly-images-storage/a.jpg",
                   headers={"x-amz-copy-source": "/galerly-images-replica/a.jpg"})
    # WHEN the replica's name is the backup account's, THEN the copy is allowed (s3:GetObject on the source is checked
    # with the source bucket's owner as s3:ResourceAccount, s3:PutObject with the photos bucket's)
    backup = Enforcer.from_template(TEMPLATE, params,
                                    bucket_owner=lambda b: owners.get(b, "222222222222"))  # fmt: skip
    assert backup.check(copy) is None
    # WHEN another account holds that name, THEN reading the source is denied
    other = Enforcer.from_template(TEMPLATE, params, bucket_owner=lambda b: owners.get(b, "999999999999"))
    assert other.check(copy) == denied("s3:GetObject", "arn:aws:s3:::galerly-images-replica/a.jpg")


def test_create_bucket_needs_no_owner_condition_it_makes_this_accounts_bucket_or_fails() -> None:
    theirs = Enforcer.from_template(TEMPLATE, bucket_owner=lambda bucket: "999999999999")
    assert theirs.check(s3("CreateBucket", "galerly-images-storage", "PUT", headers=OWNERSHIP)) is None


def test_a_restore_is_checked_against_a_copy_of_the_real_template_without_delete_item(tmp_path: Path) -> None:
    # GIVEN the real template, less dynamodb:DeleteItem wherever it is (today's role has it or not)
    text = TEMPLATE.read_text()
    copy = tmp_path / "template.yaml"
    copy.write_text(re.sub(r"(?m)^\s*- dynamodb:DeleteItem\s*\n", "", text).replace("dynamodb:DeleteItem, ", ""))
    enforcer = Enforcer.from_template(copy)
    # WHEN the function restores a declared table
    message = enforcer.check(restore())
    # THEN the restore is denied, and DeleteItem on the target table is one of the reasons
    assert message is not None
    assert {
        "operation": "dynamodb:RestoreTableFromBackup",
        "action": "dynamodb:DeleteItem",
        "resource": f"{TABLE}/galerly-photos",
        "allowed": False,
        "implied_by": "dynamodb.restore-from-backup.target-items",
        "explicit_deny": False,
    } in enforcer.decisions


def test_the_parameters_move_what_the_real_role_allows() -> None:
    staging = Enforcer.from_template(TEMPLATE, parameters={"Prefix": "staging", "PhotosBucketName": "stg-photos"})
    assert staging.check(ddb("DescribeTable", TableName="staging-users")) is None
    assert staging.check(ddb("DescribeTable", TableName="galerly-users")) is not None
    assert staging.check(s3("GetBucketPolicy", "stg-photos", "GET", "policy")) is None
    assert staging.check(s3("GetBucketPolicy", "galerly-images-storage", "GET", "policy")) is not None


CENTRAL_BUS = "arn:aws:events:us-east-1:999999999999:event-bus/selfheal-fleet"


def put_events(*buses: str | None) -> dict[str, Any]:
    entries = [{"Source": "selfheal", "DetailType": "run", "Detail": "{}", **({"EventBusName": b} if b else {})}
               for b in buses]  # fmt: skip
    headers = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"}
    return request("events", "PutEvents", None, {"Entries": entries}, headers=headers)


def test_the_role_may_put_events_to_the_central_bus_only_when_one_is_named() -> None:
    # GIVEN the real template deployed in a fleet, with a central bus
    fleet = Enforcer.from_template(TEMPLATE, parameters={"CentralEventBusArn": CENTRAL_BUS})
    # THEN a run's summary may go to that bus, and to no other (not even the account's default bus)
    assert fleet.check(put_events(CENTRAL_BUS)) is None
    other = "arn:aws:events:us-east-1:999999999999:event-bus/another-bus"
    assert fleet.check(put_events(other)) == denied("events:PutEvents", other)
    default = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    assert fleet.check(put_events(None)) == denied("events:PutEvents", default)
    assert fleet.check(put_events(CENTRAL_BUS, other)) == denied("events:PutEvents", other)
    # AND with the parameter empty (the default: one account), the statement is not there at all
    alone = Enforcer.from_template(TEMPLATE)
    assert alone.check(put_events(CENTRAL_BUS)) == denied("events:PutEvents", CENTRAL_BUS)
    assert alone.check(put_events("")) is not None


def test_empty_bucket_names_mean_the_per_account_names_in_the_real_role() -> None:
    # GIVEN a fleet member (bucket names left empty) in account 210987654321, eu-west-1
    member = Enforcer.from_template(TEMPLATE, parameters={"FrontendBucketName": "", "PhotosBucketName": ""},
                                    region="eu-west-1", account="210987654321")  # fmt: skip
    # THEN the role repairs the per-account buckets, and not the single-account defaults
    for bucket in ("galerly-frontend-app-210987654321-eu-west-1", "galerly-images-storage-210987654321-eu-west-1"):
        assert member.check(s3("PutBucketPolicy", bucket, "PUT", "policy", body=b"{}")) is None
    for bucket in ("galerly-frontend-app", "galerly-images-storage", "galerly-images-storage-123456789012-eu-west-1"):
        assert member.check(s3("PutBucketPolicy", bucket, "PUT", "policy", body=b"{}")) is not None


def test_conditions_are_decided_with_the_parameters(tmp_path: Path) -> None:
    template = iam.load_template(TEMPLATE)
    defaults = iam.evaluate_conditions(template, iam.template_variables(template))
    assert defaults["HasCentralBus"] is False and defaults["PerAccountPhotosBucket"] is False
    fleet = iam.evaluate_conditions(template, iam.template_variables(
        template, parameters={"CentralEventBusArn": CENTRAL_BUS, "PhotosBucketName": ""}))  # fmt: skip
    assert fleet["HasCentralBus"] is True and fleet["PerAccountPhotosBucket"] is True
    # a resource whose Condition is false is not deployed; one naming an unknown condition is a clear error
    guarded = {"Type": "AWS::SNS::Topic", "Condition": "HasAlarmEmail", "Properties": {}}
    broken = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::If": ["Nope", "a", "b"]}}}
    shaped = {"Conditions": template["Conditions"], "Parameters": template["Parameters"],
              "Resources": {"Guarded": guarded, "Broken": broken}}
    with pytest.raises(iam.ConditionError, match="Nope"):
        iam.conditioned(shaped, iam.template_variables(shaped))
    del shaped["Resources"]["Broken"]
    assert iam.conditioned(shaped, iam.template_variables(shaped))["Resources"] == {}
    with_email = iam.conditioned(shaped, iam.template_variables(shaped, parameters={"AlarmEmail": "ops@example.com"}))
    assert list(with_email["Resources"]) == ["Guarded"]


# --- IMPLIED: DynamoDB restore --------------------------------------------------------------------------------


def test_a_restore_needs_item_read_and_write_on_the_target_table(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(make_template(tmp_path, *RESTORE_STATEMENTS))
    assert enforcer.check(restore()) is None
    checked = [(d["action"], d["resource"], d["implied_by"]) for d in enforcer.decisions]
    assert checked == [
        ("dynamodb:RestoreTableFromBackup", BACKUP_ARN, None),
        ("dynamodb:RestoreTableFromBackup", f"{TABLE}/galerly-photos", None),
    ] + [(a, f"{TABLE}/galerly-photos", "dynamodb.restore-from-backup.target-items") for a in RESTORE_ITEM_ACTIONS]


def test_a_restore_without_delete_item_is_denied_naming_it(tmp_path: Path) -> None:
    without = [a for a in RESTORE_ITEM_ACTIONS if a not in ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem")]
    enforcer = Enforcer.from_template(make_template(tmp_path, RESTORE_STATEMENTS[0], allow(without, f"{TABLE}/*")))
    assert enforcer.check(restore()) == (
        f"User: {PRINCIPAL} is not authorized to perform: dynamodb:DeleteItem on resource: "
        f"arn:aws:dynamodb:us-east-1:123456789012:table/galerly-photos because no identity-based policy allows the "
        "dynamodb:DeleteItem action"
    )
    assert [d["action"] for d in enforcer.decisions if not d["allowed"]] == [
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ]


def test_a_restore_needs_the_restore_action_on_the_source_backup(tmp_path: Path) -> None:
    # (`table/galerly-*` would match the backup ARN too: IAM's * spans slashes)
    on_tables_only = allow("dynamodb:RestoreTableFromBackup", f"{TABLE}/galerly-photos")
    enforcer = Enforcer.from_template(make_template(tmp_path, on_tables_only, RESTORE_STATEMENTS[1]))
    assert enforcer.check(restore()) == denied("dynamodb:RestoreTableFromBackup", BACKUP_ARN)
    assert [d["allowed"] for d in enforcer.decisions[:2]] == [False, True]  # the backup, then the target table


def test_item_access_on_other_tables_does_not_count_for_the_restore_target(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(
        make_template(tmp_path, RESTORE_STATEMENTS[0], allow(RESTORE_ITEM_ACTIONS, f"{TABLE}/galerly-users"))
    )
    assert enforcer.check(restore()) == denied("dynamodb:GetItem", f"{TABLE}/galerly-photos")


def test_a_point_in_time_restore_needs_the_same_item_access_on_its_target(tmp_path: Path) -> None:
    pitr = allow("dynamodb:RestoreTableToPointInTime", f"{TABLE}/*")
    enforcer = Enforcer.from_template(make_template(tmp_path, pitr))
    req = ddb("RestoreTableToPointInTime", SourceTableName="galerly-users", TargetTableName="galerly-users-copy")
    assert enforcer.check(req) == denied("dynamodb:GetItem", f"{TABLE}/galerly-users-copy")


# --- IMPLIED: DynamoDB encryption with a customer managed key -------------------------------------------------

KMS_THROUGH_DYNAMODB = allow(
    DYNAMODB_KMS_ACTIONS, f"{KEY}/*", Condition={"StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"}}
)
TABLE_WRITES = allow(["dynamodb:CreateTable", "dynamodb:UpdateTable"], f"{TABLE}/*")


@pytest.mark.parametrize(
    "req",
    [
        ddb("CreateTable", TableName="galerly-photos", SSESpecification=sse("alias/app-key")),
        ddb("UpdateTable", TableName="galerly-photos", SSESpecification=sse(f"{KEY}/1234abcd-12ab")),
        restore(SSESpecificationOverride=sse("1234abcd-12ab")),
    ],
    ids=["create-alias", "update-key-arn", "restore-key-id"],
)
def test_a_customer_key_needs_kms_permissions_through_dynamodb(tmp_path: Path, req: dict[str, Any]) -> None:
    enforcer = Enforcer.from_template(make_template(tmp_path, TABLE_WRITES, *RESTORE_STATEMENTS, KMS_THROUGH_DYNAMODB))
    assert enforcer.check(req) is None
    kms = [d for d in enforcer.decisions if d["implied_by"] == "dynamodb.sse.customer-managed-key"]
    assert [d["action"] for d in kms] == DYNAMODB_KMS_ACTIONS
    assert len({d["resource"] for d in kms}) == 1 and kms[0]["resource"].startswith(f"{KEY}/")


def test_kms_permissions_granted_only_through_s3_do_not_count_for_dynamodb(tmp_path: Path) -> None:
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
    through_s3 = allow(DYNAMODB_KMS_ACTIONS, f"{KEY}/*", Condition=via_s3)
    enforcer = Enforcer.from_template(make_template(tmp_path, TABLE_WRITES, through_s3))
    req = ddb("CreateTable", TableName="galerly-photos", SSESpecification=sse("alias/app-key"))
    assert enforcer.check(req) == denied("kms:Encrypt", f"{KEY}/key-behind-alias-app-key")


def test_an_alias_is_authorized_against_its_key_not_against_a_named_key(tmp_path: Path) -> None:
    one_key = allow(DYNAMODB_KMS_ACTIONS, f"{KEY}/1111", Condition={"StringLike": {"kms:ViaService": "dynamodb.*"}})
    enforcer = Enforcer.from_template(make_template(tmp_path, TABLE_WRITES, one_key))
    assert enforcer.check(ddb("CreateTable", TableName="t", SSESpecification=sse(f"{KEY}/1111"))) is None
    assert enforcer.check(ddb("CreateTable", TableName="t", SSESpecification=sse(f"{KEY}/2222"))) is not None
    assert enforcer.check(ddb("CreateTable", TableName="t", SSESpecification=sse("alias/app-key"))) is not None


@pytest.mark.parametrize("key", [None, "alias/aws/dynamodb", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/dynamodb"])
def test_the_aws_owned_or_managed_key_needs_no_kms_permission(tmp_path: Path, key: str | None) -> None:
    enforcer = Enforcer.from_template(make_template(tmp_path, TABLE_WRITES))
    assert enforcer.check(ddb("CreateTable", TableName="galerly-photos", SSESpecification=sse(key))) is None
    assert [d["action"] for d in enforcer.decisions] == ["dynamodb:CreateTable"]


def test_the_grant_dynamodb_creates_is_for_an_aws_resource(tmp_path: Path) -> None:
    others = [a for a in DYNAMODB_KMS_ACTIONS if a != "kms:CreateGrant"]
    enforcer = Enforcer.from_template(make_template(
        tmp_path, TABLE_WRITES, allow(others, f"{KEY}/*", Condition={"StringLike": {"kms:ViaService": "dynamodb.*"}}),
        allow("kms:CreateGrant", f"{KEY}/*", Condition={"Bool": {"kms:GrantIsForAWSResource": True}}),
    ))  # fmt: skip
    assert enforcer.check(ddb("CreateTable", TableName="t", SSESpecification=sse("alias/app-key"))) is None
    # a direct CreateGrant is not made by a service for a resource: the key is absent, so the Bool test fails
    direct = request("kms", "CreateGrant", None, {"KeyId": f"{KEY}/1111", "GranteePrincipal": "x", "Operations": []})
    assert enforcer.check(direct) == denied("kms:CreateGrant", f"{KEY}/1111")


def test_a_direct_kms_call_has_no_via_service(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(make_template(tmp_path, KMS_THROUGH_DYNAMODB))
    req = request("kms", "DescribeKey", None, {"KeyId": "alias/app-key"})
    assert enforcer.check(req) == denied("kms:DescribeKey", f"{KEY}/key-behind-alias-app-key")


# --- IMPLIED: S3 ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "implied"),
    [
        ({}, []),
        ({"x-amz-object-ownership": "BucketOwnerEnforced"}, ["s3:PutBucketOwnershipControls"]),
        ({"x-amz-acl": "private"}, []),
        ({"x-amz-acl": "public-read"}, ["s3:PutBucketAcl"]),
        ({"x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'}, ["s3:PutBucketAcl"]),
        ({"x-amz-bucket-object-lock-enabled": "true"},
         ["s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"]),  # fmt: skip
        ({"x-amz-bucket-object-lock-enabled": "false"}, []),
        ({"X-Amz-Object-Ownership": "ObjectWriter", "x-amz-acl": "log-delivery-write"},
         ["s3:PutBucketOwnershipControls", "s3:PutBucketAcl"]),  # fmt: skip
    ],
)
def test_create_bucket_headers_imply_their_put_permissions(
    tmp_path: Path, headers: dict[str, str], implied: list[str]
) -> None:
    bucket = "arn:aws:s3:::galerly-images-storage"
    only_create = Enforcer.from_template(make_template(tmp_path, allow("s3:CreateBucket", bucket)))
    message = only_create.check(s3("CreateBucket", "galerly-images-storage", "PUT", headers=headers))
    assert [d["action"] for d in only_create.decisions] == ["s3:CreateBucket", *implied]
    assert message == (denied(implied[0], bucket) if implied else None)
    everything = Enforcer.from_template(make_template(tmp_path, allow(["s3:CreateBucket", *implied], bucket)))
    assert everything.check(s3("CreateBucket", "galerly-images-storage", "PUT", headers=headers)) is None


def test_bucket_default_encryption_with_a_kms_key_needs_only_put_encryption_configuration(tmp_path: Path) -> None:
    body = (
        b'<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
        b"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>"
        b"<KMSMasterKeyID>alias/app-key</KMSMasterKeyID></ApplyServerSideEncryptionByDefault>"
        b"<BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"
    )
    enforcer = Enforcer.from_template(make_template(tmp_path, allow("s3:PutEncryptionConfiguration", "arn:aws:s3:::b")))
    assert enforcer.check(s3("PutBucketEncryption", "b", "PUT", "encryption", body=body)) is None
    assert [d["action"] for d in enforcer.decisions] == ["s3:PutEncryptionConfiguration"]


# --- IMPLIED: EventBridge Scheduler and AWS Backup pass a role ------------------------------------------------

SCHEDULES = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule"


def pass_role(role: str, service: str, operator: str = "StringEquals") -> dict[str, Any]:
    return allow("iam:PassRole", role, Condition={operator: {"iam:PassedToService": service}})


@pytest.mark.parametrize("operation", ["CreateSchedule", "Post/schedules/selfheal-followup-1"])
def test_a_schedule_passes_its_role_to_scheduler(tmp_path: Path, operation: str) -> None:
    enforcer = Enforcer.from_template(make_template(
        tmp_path, allow("scheduler:CreateSchedule", f"{SCHEDULES}/default/selfheal-followup-*"),
        pass_role(FOLLOWUP_ROLE, "scheduler.amazonaws.com"),
    ))  # fmt: skip
    assert enforcer.check(create_schedule(operation=operation)) is None
    assert [(d["action"], d["resource"], d["implied_by"]) for d in enforcer.decisions] == [
        ("scheduler:CreateSchedule", f"{SCHEDULES}/default/selfheal-followup-1", None),
        ("iam:PassRole", FOLLOWUP_ROLE, "scheduler.schedule.pass-role"),
    ]


def test_a_schedule_is_authorized_in_its_group(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(make_template(
        tmp_path, allow("scheduler:CreateSchedule", f"{SCHEDULES}/default/*"), pass_role("*", "scheduler.amazonaws.com")
    ))  # fmt: skip
    assert enforcer.check(create_schedule(group="ops")) == denied(
        "scheduler:CreateSchedule", f"{SCHEDULES}/ops/selfheal-followup-1"
    )


@pytest.mark.parametrize(
    ("statement", "role"),
    [
        (pass_role(FOLLOWUP_ROLE, "lambda.amazonaws.com"), FOLLOWUP_ROLE),  # passed to another service
        (pass_role(FOLLOWUP_ROLE, "scheduler.amazonaws.com"), RESTORE_ROLE),  # another role
        (allow("iam:GetRole", FOLLOWUP_ROLE), FOLLOWUP_ROLE),  # no PassRole at all
    ],
    ids=["other-service", "other-role", "no-pass-role"],
)
def test_a_schedule_without_pass_role_for_scheduler_is_denied(
    tmp_path: Path, statement: dict[str, Any], role: str
) -> None:
    enforcer = Enforcer.from_template(make_template(tmp_path, allow("scheduler:*", "*"), statement))
    assert enforcer.check(create_schedule(role=role)) == denied("iam:PassRole", role)


def test_an_update_of_a_schedule_passes_its_role_too(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(make_template(tmp_path, allow("scheduler:UpdateSchedule", "*")))
    req = create_schedule(operation="UpdateSchedule")
    req["method"] = "PUT"
    assert enforcer.check(req) == denied("iam:PassRole", FOLLOWUP_ROLE)


def test_a_restore_job_passes_its_role_to_aws_backup(tmp_path: Path) -> None:
    recovery_points = f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:*"
    good = Enforcer.from_template(make_template(
        tmp_path, allow("backup:StartRestoreJob", recovery_points), pass_role(RESTORE_ROLE, "backup.amazonaws.com")
    ))  # fmt: skip
    assert good.check(start_restore_job()) is None
    assert good.check(start_restore_job(operation="Put/restore-jobs")) is None
    assert [d["action"] for d in good.decisions[:2]] == ["backup:StartRestoreJob", "iam:PassRole"]
    wrong = Enforcer.from_template(make_template(
        tmp_path, allow("backup:StartRestoreJob", recovery_points), pass_role(RESTORE_ROLE, "scheduler.amazonaws.com")
    ))  # fmt: skip
    assert wrong.check(start_restore_job()) == denied("iam:PassRole", RESTORE_ROLE)


@pytest.mark.parametrize(
    ("req", "action"),
    [
        (request("backup", "ListRecoveryPointsByResource", None, method="GET",
                 path=f"/resources/{TABLE.replace(':', '%3A')}%2Fgalerly-photos/recovery-points/"),
         "backup:ListRecoveryPointsByResource"),  # fmt: skip
        (request("backup", "Get/restore-jobs/abc", None, method="GET", path="/restore-jobs/abc"),
         "backup:DescribeRestoreJob"),  # fmt: skip
    ],
)
def test_backup_listing_and_job_status_have_no_resource_type(tmp_path: Path, req: dict[str, Any], action: str) -> None:
    scoped = Enforcer.from_template(make_template(tmp_path, allow("backup:*", f"arn:aws:backup:{REGION}:{ACCOUNT}:*")))
    assert scoped.check(req) == denied(action, None)
    anywhere = Enforcer.from_template(make_template(tmp_path, allow(action, "*")))
    assert anywhere.check(req) is None


# --- IMPLIED: CloudFormation ----------------------------------------------------------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_describing_every_stack_needs_list_stacks(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(make_template(tmp_path, allow("cloudformation:DescribeStacks", "*")))
    everything = request("cloudformation", "DescribeStacks", None, b"Action=DescribeStacks", headers=FORM)
    assert enforcer.check(everything) == denied("cloudformation:ListStacks", None)
    one = request("cloudformation", "DescribeStacks", "s", b"Action=DescribeStacks&StackName=s", headers=FORM)
    assert enforcer.check(one) is None


# --- the table itself -----------------------------------------------------------------------------------------


def test_every_implied_row_names_its_documentation() -> None:
    assert len({rule.id for rule in IMPLIED}) == len(IMPLIED)
    for rule in IMPLIED:
        assert rule.source and rule.url.startswith("https://docs.aws.amazon.com/"), rule.id
        assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a) for a in rule.actions), rule.id
    covered = {(rule.service, op) for rule in IMPLIED for op in rule.operations}
    assert {("dynamodb", "RestoreTableFromBackup"), ("dynamodb", "CreateTable"), ("dynamodb", "UpdateTable"),
            ("s3", "CreateBucket"), ("s3", "PutBucketEncryption"), ("scheduler", "CreateSchedule"),
            ("scheduler", "UpdateSchedule"), ("backup", "StartRestoreJob")} <= covered  # fmt: skip


# --- evaluation: conditions, Deny, unknown operations, role selection -----------------------------------------

VIA_DYNAMODB = "dynamodb.us-east-1.amazonaws.com"
CTX = {"aws:SecureTransport": "true", "kms:ViaService": "dynamodb.us-east-1.amazonaws.com", "aws:SourceVpc": None,
       "aws:TagKeys": ["app", "env"]}  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}}, True),
        ({"StringEquals": {"kms:viaservice": ["s3.us-east-1.amazonaws.com", VIA_DYNAMODB]}}, True),
        ({"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}, False),
        ({"StringNotEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}, True),
        ({"StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"}}, True),
        ({"StringLike": {"kms:ViaService": "dynamodb.?.amazonaws.com"}}, False),
        ({"StringEqualsIgnoreCase": {"kms:ViaService": "DynamoDB.US-EAST-1.amazonaws.com"}}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, False),
        ({"Bool": {"aws:SecureTransport": True}}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/selfheal-*"}}, True),
        ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/other"}}, False),
        ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/other-*"}}, True),
        # a key known to be absent: no match; IfExists and negated operators then hold
        ({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, False),
        ({"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}, True),
        ({"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}, True),
        ({"Null": {"aws:SourceVpc": "true"}}, True),
        ({"Null": {"kms:ViaService": "true"}}, False),
        # a key the enforcer cannot know: undecided (the statement does not allow; a Deny applies)
        ({"StringEquals": {"aws:SourceIp": "10.0.0.1"}}, None),
        ({"StringEqualsIfExists": {"aws:SourceIp": "10.0.0.1"}}, None),
        ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, None),
        # several tests: all must hold
        ({"StringEquals": {"kms:ViaService": VIA_DYNAMODB}, "Bool": {"aws:SecureTransport": "false"}}, False),
        # multivalued keys
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["app", "env", "team"]}}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["app"]}}, False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, True),
    ],
)
def test_conditions(condition: dict[str, Any], expected: bool | None) -> None:
    context = {**CTX, "aws:PrincipalArn": "arn:aws:iam::123456789012:role/selfheal-function"}
    assert evaluate_condition(condition, context) is expected


def test_an_explicit_deny_wins_over_any_allow(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(make_template(
        tmp_path, allow("dynamodb:*", "*"), deny(["dynamodb:Delete*", "dynamodb:BatchWriteItem"], f"{TABLE}/*")
    ))  # fmt: skip
    assert enforcer.check(ddb("DescribeTable", TableName="galerly-users")) is None
    assert enforcer.check(ddb("DeleteTable", TableName="galerly-users")) == (
        f"User: {PRINCIPAL} is not authorized to perform: dynamodb:DeleteTable on resource: {TABLE}/galerly-users "
        "with an explicit deny in an identity-based policy"
    )
    message = enforcer.check(restore())  # the restore's implied DeleteItem falls under the Deny too
    assert message is not None and "dynamodb:DeleteItem" in message and "explicit deny" in message
    assert enforcer.decisions[-1]["explicit_deny"] is True


def test_a_deny_applies_when_its_condition_holds_or_cannot_be_decided(tmp_path: Path) -> None:
    tls_only = deny("s3:*", "*", Condition={"Bool": {"aws:SecureTransport": "false"}})
    from_vpc = deny("dynamodb:*", "*", Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-1"}})
    enforcer = Enforcer.from_template(make_template(tmp_path, allow(["s3:*", "dynamodb:*"], "*"), tls_only, from_vpc))
    assert enforcer.check(s3("GetBucketPolicy", "b", "GET", "policy")) is None  # requests to AWS are HTTPS
    assert "explicit deny" in (enforcer.check(ddb("DescribeTable", TableName="t")) or "")


def test_an_allow_whose_condition_cannot_be_decided_does_not_allow(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(make_template(
        tmp_path, allow("dynamodb:DescribeTable", "*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    ))  # fmt: skip
    assert enforcer.check(ddb("DescribeTable", TableName="t")) == denied("dynamodb:DescribeTable", f"{TABLE}/t")


def test_not_action_and_not_resource(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(make_template(
        tmp_path, {"Effect": "Allow", "NotAction": "dynamodb:Delete*", "NotResource": f"{TABLE}/secret"}
    ))  # fmt: skip
    assert enforcer.check(ddb("DescribeTable", TableName="t")) is None
    assert enforcer.check(ddb("DescribeTable", TableName="secret")) is not None
    assert enforcer.check(ddb("DeleteTable", TableName="t")) is not None


@pytest.mark.parametrize(
    ("req", "action"),
    [
        (request("ssm", "GetParameter", None, {"Name": "/x"}, headers={"X-Amz-Target": "AmazonSSM.GetParameter"}),
         "ssm:GetParameter"),  # fmt: skip
        (request("scheduler", "Post/nowhere", None, method="POST", path="/nowhere"), "scheduler:Post/nowhere"),
    ],
)
def test_an_operation_without_a_rule_is_its_action_on_everything_never_allowed_silently(
    real: Enforcer, tmp_path: Path, req: dict[str, Any], action: str
) -> None:
    assert real.check(req) == denied(action, None)
    assert Enforcer.from_template(make_template(tmp_path, allow("*", "*"))).check(req) is None


def test_a_lambda_call_is_authorized_against_the_function_it_names(real: Enforcer, tmp_path: Path) -> None:
    # The drill's hand-over invokes its own function: lambda:InvokeFunction on that function's ARN (SAR: function*)
    invoke = request("lambda", "Post/2015-03-31/functions/f/invocations", None, method="POST",
                     path="/2015-03-31/functions/f/invocations")
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
    assert real.check(invoke) == denied("lambda:InvokeFunction", f"{function}:f")
    assert Enforcer.from_template(make_template(tmp_path, allow("lambda:InvokeFunction", f"{function}:f"))).check(
        invoke) is None
    assert Enforcer.from_template(make_template(tmp_path, allow("lambda:InvokeFunction", f"{function}:g"))).check(
        invoke) == denied("lambda:InvokeFunction", f"{function}:f")


def test_get_caller_identity_needs_no_permission_even_under_a_deny(tmp_path: Path) -> None:
    enforcer = Enforcer.from_template(make_template(tmp_path, deny("sts:*", "*")))
    assert enforcer.check(request("sts", "GetCallerIdentity", None, b"Action=GetCallerIdentity", headers=FORM)) is None
    assert enforcer.check(request("sts", "AssumeRole", None, b"Action=AssumeRole", headers=FORM)) is not None


def test_only_the_function_role_counts(tmp_path: Path) -> None:
    other_role = {
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": {}, "Policies": [
            {"PolicyName": "x", "PolicyDocument": {"Statement": [allow("dynamodb:*", "*")]}}]},  # fmt: skip
    }
    attached = {"Type": "AWS::IAM::Policy", "Properties": {"Roles": [{"Ref": "FunctionRole"}],
                "PolicyDocument": {"Statement": [allow("s3:GetBucketPolicy", "*")]}}}  # fmt: skip
    enforcer = Enforcer.from_template(
        make_template(tmp_path, allow("sts:GetCallerIdentity"), resources={"Other": other_role, "Extra": attached})
    )
    assert enforcer.check(ddb("DescribeTable", TableName="t")) is not None
    assert enforcer.check(s3("GetBucketPolicy", "b", "GET", "policy")) is None


def test_short_tags_resources_and_parameters_resolve(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        """
Parameters:
  Prefix: {Type: String, Default: app}
Resources:
  Group:
    Type: AWS::Scheduler::ScheduleGroup
    Properties: {Name: !Sub "${AWS::StackName}-followups"}
  Named:
    Type: AWS::IAM::Role
    Properties: {RoleName: !Sub "${Prefix}-restore", AssumeRolePolicyDocument: {}}
  Generated:
    Type: AWS::IAM::Role
    Properties: {AssumeRolePolicyDocument: {}}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: scheduler:CreateSchedule
                Resource: !Sub arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${Group}/*
              - Effect: Allow
                Action: iam:PassRole
                Resource: [!GetAtt Named.Arn, !GetAtt Generated.Arn]
                Condition: {StringEquals: {iam:PassedToService: [backup.amazonaws.com, scheduler.amazonaws.com]}}
  Function:
    Type: AWS::Serverless::Function
    Properties: {Role: !GetAtt Role.Arn}
"""
    )
    enforcer = Enforcer.from_template(path, parameters={"Prefix": "prod"})
    named = f"arn:aws:iam::{ACCOUNT}:role/prod-restore"  # RoleName !Sub ${Prefix}-restore, Prefix given
    assert enforcer.check(create_schedule(group="mystack-followups", role=named)) is None
    assert enforcer.check(create_schedule(group="mystack-followups", role=named.replace("prod", "app"))) is not None
    generated = f"arn:aws:iam::{ACCOUNT}:role/mystack-Generated-AB12CD"
    assert enforcer.check(create_schedule(group="mystack-followups", role=generated)) is None
    assert enforcer.check(create_schedule(group="default", role=generated)) is not None


# --- AccessDenied on the wire: what botocore makes of it -------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


@pytest.mark.parametrize(
    ("service", "operation", "params", "status", "code"),
    [
        ("dynamodb", "describe_table", {"TableName": "t"}, 400, "AccessDeniedException"),
        ("kms", "describe_key", {"KeyId": "alias/app-key"}, 400, "AccessDeniedException"),
        ("s3", "get_bucket_policy", {"Bucket": "b"}, 403, "AccessDenied"),
        ("s3control", "get_public_access_block", {"AccountId": ACCOUNT}, 403, "AccessDenied"),
        ("scheduler", "create_schedule", {"Name": "n", "ScheduleExpression": "rate(1 day)",
         "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": {"Arn": "arn:aws:lambda:us-east-1:1:function:f",
                                                             "RoleArn": FOLLOWUP_ROLE}}, 403, "AccessDeniedException"),
        ("backup", "start_restore_job", {"RecoveryPointArn": "arn:x", "Metadata": {}}, 403, "AccessDeniedException"),
        ("sts", "get_caller_identity", {}, 403, "AccessDenied"),
        ("cloudformation", "describe_stacks", {"StackName": "s"}, 403, "AccessDenied"),
        ("sns", "publish", {"TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms", "Message": "m"}, 403,
         "AuthorizationError"),
    ],  # fmt: skip
    ids=lambda v: v if isinstance(v, str) and v.islower() else None,
)
def test_access_denied_is_the_error_botocore_raises_against_aws(
    service: str, operation: str, params: dict[str, Any], status: int, code: str
) -> None:
    message = denied(f"{service}:X", "arn:aws:x:::<&>")  # XML-special characters survive
    answer = access_denied(service, message)
    assert answer[0] == status
    client = boto3.client(service, region_name=REGION, endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip

    def send(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, answer[0], HeadersDict(answer[1]), _Raw(answer[2]))

    client.meta.events.register("before-send", send)
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(**params)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["Error"]["Message"] == message
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_dynamodbs_access_denied_parses_with_botocores_json_parser() -> None:
    status, headers, body = access_denied("dynamodb", "no")
    model = boto3.client("dynamodb", region_name=REGION).meta.service_model.operation_model("RestoreTableFromBackup")
    parsed = create_parser("json").parse(
        {"status_code": status, "headers": HeadersDict(headers), "body": body}, model.output_shape
    )
    assert parsed["Error"] == {"Code": "AccessDeniedException", "Message": "no"}
    assert json.loads(body)["__type"] == "com.amazonaws.dynamodb.v20120810#AccessDeniedException"


def test_tests_support_iam_re_exports_the_evaluator() -> None:
    from tests.support import iam as support

    assert support.allowed is iam.allowed and support.iam_action is iam.iam_action
    assert support.Enforcer is Enforcer and support.IMPLIED is IMPLIED
    assert support.allowed(TEMPLATE, "DescribeTable", "dynamodb", "galerly-users", REGION, ACCOUNT)
    assert not support.allowed(TEMPLATE, "DescribeTable", "dynamodb", "other-users", REGION, ACCOUNT)
