"""The SAM template's content: what cfn-lint and `sam validate` cannot see (least privilege, cron syntax, wiring)."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from tests.support.iam import (
    allowed,
    as_list,
    conditioned,
    function_role_statements,
    iam_action,
    load_template,
    policy_statements,
    resolve,
    template_variables,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION, ACCOUNT = "us-east-1", "123456789012"

# X-Ray offers no resource-level permissions for sending traces: the one write that must be on "*".
UNSCOPABLE_WRITES = {"xray:puttracesegments", "xray:puttelemetryrecords"}
READ_PREFIXES = ("get", "describe", "list", "head")

TABLES = [
    "users",
    "galleries",
    "photos",
    "sessions",
    "newsletters",
    "contact",
    "billing",
    "subscriptions",
    "analytics",
    "client-favorites",
    "client-feedback",
    "visitor-tracking",
    "notification-preferences",
]
BUCKETS = ["galerly-frontend-app", "galerly-images-storage"]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def the_function(resources: dict[str, Any]) -> dict[str, Any]:
    functions = of_type(resources, "AWS::Serverless::Function")
    # The healer, and the restore drill's function, which exists only with a DrillSchedule
    assert set(functions) == {"Function", "DrillFunction"}, functions.keys()
    assert functions["DrillFunction"]["Condition"] == "HasDrillSchedule"
    return functions["Function"]


# The restore drill's roles (template parameter DrillSchedule): the only ones that may delete, and only *-drill-* names.
DRILL_ROLES = {"DrillRole", "DrillRestoreRole"}


def allow_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Allow statement of every role but the drill's (checked on their own below)."""
    drill = [s for role in DRILL_ROLES for s in function_role_statements(template, role)]
    return [s for s in policy_statements(template) if s.get("Effect") == "Allow" and s not in drill]


# --- least privilege -----------------------------------------------------------------------------------------


def can_delete(action_pattern: str) -> bool:
    """True when an action pattern names or covers (by wildcard) any Delete action of its service."""
    pattern = action_pattern.lower()
    service = pattern.split(":", 1)[0] if ":" in pattern else "*"
    probe = f"{'anyservice' if '*' in service or '?' in service else service}:deleteanything"
    return "delete" in pattern or fnmatchcase(probe, pattern)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("dynamodb:DeleteTable", True),
        ("s3:*", True),
        ("*", True),
        ("dynamodb:*Item", False),
        ("s3:Delete*", True),
        ("dynamodb:Describe*", False),
        ("s3:PutBucketPolicy", False),
        ("*:Delete*", True),
    ],
)
def test_delete_detector_sees_wildcards(pattern: str, expected: bool) -> None:
    assert can_delete(pattern) is expected


# The item writes AWS authorizes a restore against on the target table ("Using IAM with DynamoDB backup and
# restore"): granted on the estate's tables only, never called by the function (the local AWS enforces the policy).
RESTORE_ITEM_ACTIONS = {"dynamodb:deleteitem", "dynamodb:batchwriteitem"}
ESTATE_TABLES = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Prefix}-*"


def test_the_policies_grant_no_delete_action_even_by_wildcard(template: dict[str, Any]) -> None:
    offending = [
        a
        for s in allow_statements(template)
        for a in as_list(s["Action"])
        if can_delete(str(a)) and str(a).lower() not in RESTORE_ITEM_ACTIONS
    ]
    assert offending == []


SCRATCH_TABLES = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Prefix}-*-drill-*"
SCRATCH_BUCKETS = ["arn:${AWS::Partition}:s3:::*-drill-*", "arn:${AWS::Partition}:s3:::*-drill-*/*"]


def test_the_drill_roles_delete_only_scratch_names(template: dict[str, Any]) -> None:
    # GIVEN the drill's own role and the role AWS Backup restores its scratch copies under
    for role in DRILL_ROLES:
        for statement in function_role_statements(template, role):
            deletes = [str(a) for a in as_list(statement["Action"]) if can_delete(str(a))]
            if not deletes:
                continue
            # THEN every delete they hold (tables, buckets, objects, and a restore's item writes) names only -drill-
            resources = [r.get("Fn::Sub", str(r)) for r in as_list(statement["Resource"])]
            assert resources in ([SCRATCH_TABLES], SCRATCH_BUCKETS), (role, statement["Sid"], resources)
            assert "*" not in deletes and not any(a.endswith(":*") for a in deletes)
    drill = {st["Sid"]: st for st in function_role_statements(template, "DrillRole")}
    assert as_list(drill["DeleteOnlyScratchTables"]["Action"]) == ["dynamodb:DeleteTable"]
    assert set(as_list(drill["ReadEmptyAndDeleteOnlyScratchBuckets"]["Action"])) >= {
        "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket"}
    # AND the drill passes only its own restore role, which writes nothing but scratch copies
    (passes,) = [st for st in drill.values() if "iam:PassRole" in as_list(st["Action"])]
    assert passes["Resource"] == {"Fn::GetAtt": ["DrillRestoreRole", "Arn"]}
    for statement in function_role_statements(template, "DrillRestoreRole"):
        resources = [r.get("Fn::Sub", str(r)) for r in as_list(statement["Resource"])]
        assert resources in ([SCRATCH_TABLES], SCRATCH_BUCKETS), statement["Sid"]


def test_the_drill_is_off_by_default_and_runs_under_its_own_role(resources: dict[str, Any]) -> None:
    drill = [name for name, r in resources.items() if "Drill" in name]
    assert all(resources[name]["Condition"] == "HasDrillSchedule" for name in drill)
    assert sorted(drill) == ["DrillFailedAlarm", "DrillFunction", "DrillLogGroup", "DrillRestoreRole", "DrillRole",
                             "DrillRtoAlarm"]
    fn = resources["DrillFunction"]["Properties"]
    assert fn["Role"] == {"Fn::GetAtt": ["DrillRole", "Arn"]}
    assert fn["Environment"]["Variables"]["SELFHEAL_BACKUP_RESTORE_ROLE_ARN"] == {
        "Fn::GetAtt": ["DrillRestoreRole", "Arn"]}
    (event,) = fn["Events"].values()
    assert event["Properties"]["Schedule"] == {"Ref": "DrillSchedule"}
    assert event["Properties"]["Input"] == '{"action": "drill"}'


def test_the_item_writes_a_restore_requires_are_scoped_to_the_estates_tables(template: dict[str, Any]) -> None:
    holders = [s for s in allow_statements(template)
               if {str(a).lower() for a in as_list(s["Action"])} & RESTORE_ITEM_ACTIONS]
    assert {s["Sid"] for s in holders} == {"RestoreTargetTableItemAccessAwsRequires", "RestoreIntoEstateTables"}
    for statement in holders:  # the function's own restores, and AWS Backup's (its restore role)
        assert [r.get("Fn::Sub") for r in as_list(statement["Resource"])] == [ESTATE_TABLES]
        assert {str(a).lower() for a in as_list(statement["Action"])} >= RESTORE_ITEM_ACTIONS


def test_the_functions_only_item_write_outside_a_restore_is_the_deletion_counter(template: dict[str, Any]) -> None:
    item_writes = {"dynamodb:putitem", "dynamodb:updateitem", "dynamodb:deleteitem", "dynamodb:batchwriteitem"}
    holders = {st["Sid"]: st for st in function_role_statements(template)
               if {str(a).lower() for a in as_list(st["Action"])} & item_writes}
    assert set(holders) == {"RestoreTargetTableItemAccessAwsRequires", "CountDeletedObjects"}
    counter = holders["CountDeletedObjects"]
    assert as_list(counter["Action"]) == ["dynamodb:UpdateItem"]
    assert counter["Resource"] == {"Fn::GetAtt": ["DeletionCounts", "Arn"]}  # the stack's own table, no other


def test_no_policy_uses_not_action_or_not_resource(template: dict[str, Any]) -> None:
    assert [s for s in policy_statements(template) if "NotAction" in s or "NotResource" in s] == []


def test_no_write_action_is_granted_on_every_resource(template: dict[str, Any]) -> None:
    unscoped_writes = [
        a
        for s in allow_statements(template)
        if "*" in as_list(s["Resource"])
        for a in (str(x).lower() for x in as_list(s["Action"]))
        if not a.split(":", 1)[1].startswith(READ_PREFIXES) and a not in UNSCOPABLE_WRITES
    ]
    assert unscoped_writes == []


def test_the_role_has_no_managed_policies_that_would_widen_it(resources: dict[str, Any]) -> None:
    roles = of_type(resources, "AWS::IAM::Role")
    assert not roles["FunctionRole"]["Properties"].get("ManagedPolicyArns")
    assert "Policies" not in the_function(resources)["Properties"]
    # The restore role has no managed policy (AWSBackupServiceRolePolicyForRestores would restore EBS, RDS, EFS... and
    # write every table of every region); the only managed policies are AWS Backup's own backup policies, on the role
    # only AWS Backup of this account can assume.
    managed = {name: r["Properties"]["ManagedPolicyArns"] for name, r in roles.items()
               if r["Properties"].get("ManagedPolicyArns")}
    assert managed == {
        "BackupRole": [
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"},
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup"}],
    }
    for role in managed:
        trust = roles[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [{"Service": "backup.amazonaws.com"}]


ESTATE_TABLE_BACKUPS = ESTATE_TABLES + "/backup/*"
PHOTOS_BUCKET = ("arn:${AWS::Partition}:s3:::${Prefix}-images-storage-${AWS::AccountId}-${AWS::Region}",
                 "arn:${AWS::Partition}:s3:::${PhotosBucketName}")  # per-account name, or the given one
# AWSBackupServiceRolePolicyForS3Restore (v2), as AWS's managed-policy reference prints it: on arn:aws:s3:::* ...
S3_RESTORE_BUCKET_ACTIONS = {"s3:CreateBucket", "s3:ListBucketVersions", "s3:ListBucket", "s3:GetBucketVersioning",
                             "s3:GetBucketLocation", "s3:PutBucketVersioning", "s3:PutBucketOwnershipControls",
                             "s3:GetBucketOwnershipControls"}
# ... and on arn:aws:s3:::*/*
S3_RESTORE_OBJECT_ACTIONS = {"s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:PutObjectVersionAcl",
                             "s3:GetObjectVersionAcl", "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:GetObjectAcl",
                             "s3:PutObjectAcl", "s3:ListMultipartUploadParts", "s3:PutObject"}


def _resources(resource: Any) -> list[str]:
    """A statement's resource as text: both branches of an Fn::If, a Ref as "Ref:Name"."""
    if isinstance(resource, dict) and "Fn::If" in resource:
        return [r for branch in resource["Fn::If"][1:] for r in _resources(branch)]
    if isinstance(resource, dict) and "Ref" in resource:
        return [f"Ref:{resource['Ref']}"]
    return [resource.get("Fn::Sub", str(resource)) if isinstance(resource, dict) else str(resource)]


def test_the_restore_role_restores_only_the_estates_tables_and_photos_for_aws_backup_of_this_account(
    resources: dict[str, Any], template: dict[str, Any]
) -> None:
    role = of_type(resources, "AWS::IAM::Role")["BackupRestoreRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "backup.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = function_role_statements(template, "BackupRestoreRole")
    by_resource: dict[str, set[str]] = {}
    for st in statements:
        assert st["Effect"] == "Allow"
        for resource in as_list(st["Resource"]):
            for name in _resources(resource):
                by_resource.setdefault(name, set()).update(str(a) for a in as_list(st["Action"]))
    kms = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"
    photos_objects = tuple(f"{bucket}/*" for bucket in PHOTOS_BUCKET)
    assert set(by_resource) == {ESTATE_TABLES, ESTATE_TABLE_BACKUPS, kms, *PHOTOS_BUCKET, *photos_objects,
                                "Ref:PhotosBucketKeyArn"}
    # S3: the managed S3 restore policy's actions on the photos bucket alone, in this account, less a new bucket's
    # settings (selfheal restores into the bucket it recreated and configured) and any delete.
    for bucket, objects in zip(PHOTOS_BUCKET, photos_objects, strict=True):
        assert by_resource[bucket] == S3_RESTORE_BUCKET_ACTIONS - {
            "s3:CreateBucket", "s3:PutBucketVersioning", "s3:PutBucketOwnershipControls"}
        assert by_resource[objects] == S3_RESTORE_OBJECT_ACTIONS - {"s3:DeleteObject"}
    for st in statements:
        if any(str(a).startswith("s3:") for a in as_list(st["Action"])):
            assert st["Condition"] == {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}
    # KMS for the photos: only the key the estate declares for them (a parameter, none by default), through S3 only.
    (photos_key,) = [st for st in statements if st["Resource"] == {"Ref": "PhotosBucketKeyArn"}]
    assert set(as_list(photos_key["Action"])) == {"kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"}
    assert photos_key["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}}
    assert template["Parameters"]["PhotosBucketKeyArn"]["Default"] == ""
    assert template["Conditions"]["HasPhotosBucketKey"] == {"Fn::Not": [{"Fn::Equals": [
        {"Ref": "PhotosBucketKeyArn"}, ""]}]}
    assert "AWSBackupServiceRolePolicyForS3Restore" not in str(role)
    # AWSBackupServiceRolePolicyForRestores' DynamoDB part (and RestoreTableFromAwsBackup for advanced backups)
    assert by_resource[ESTATE_TABLES] == {
        "dynamodb:RestoreTableFromAwsBackup", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query",
        "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert by_resource[ESTATE_TABLE_BACKUPS] == {"dynamodb:RestoreTableFromBackup"}
    (key_use,) = [st for st in statements if kms in [r.get("Fn::Sub") for r in as_list(st["Resource"])]]
    assert key_use["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}}}
    # The function may pass only the stack's AWS Backup roles, only to AWS Backup; its StartRestoreJob cannot name the
    # estate's points.
    function = function_role_statements(template)
    (start,) = [st for st in function if "backup:StartRestoreJob" in as_list(st["Action"])]
    assert as_list(start["Resource"]) == [
        {"Fn::Sub": "arn:${AWS::Partition}:backup:${AWS::Region}:${AWS::AccountId}:recovery-point:*"}]
    passes = [st for st in function if "iam:PassRole" in as_list(st["Action"])
              and st["Condition"]["StringEquals"]["iam:PassedToService"] == "backup.amazonaws.com"]
    # (BackupRole is what a declared backup selection names: AWS Backup assumes it to make copies, never to restore.)
    assert sorted(st["Resource"]["Fn::GetAtt"][0] for st in passes) == ["BackupRestoreRole", "BackupRole"]


def test_every_s3_statement_on_the_buckets_requires_this_accounts_buckets(template: dict[str, Any]) -> None:
    on_buckets = [st for st in function_role_statements(template)
                  if any(str(a).startswith("s3:") for a in as_list(st["Action"])) and st["Resource"] != "*"]
    assert {st["Sid"] for st in on_buckets} == {"ObserveBuckets", "CreateBuckets", "RepairOwnBuckets",
                                                "ReadThePhotosCopy", "RefillThePhotosBucketFromItsCopy"}
    for st in on_buckets:
        if st["Sid"] == "CreateBuckets":  # makes this account's bucket or fails: it cannot reach another's
            assert as_list(st["Action"]) == ["s3:CreateBucket"]
            continue
        if st["Sid"] == "ReadThePhotosCopy":  # the replica's declared owner (a backup account), else this account
            assert st["Condition"] == {"StringEquals": {"s3:ResourceAccount": {"Fn::If": [
                "PhotosCopyInThisAccount", {"Ref": "AWS::AccountId"}, {"Ref": "PhotosCopyBucketAccount"}]}}}
            continue
        assert st["Condition"] == {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}
    copy_account = template["Parameters"]["PhotosCopyBucketAccount"]
    assert copy_account["Default"] == "" and re.fullmatch(copy_account["AllowedPattern"], "012345678901")
    assert not re.fullmatch(copy_account["AllowedPattern"], "12345678901")


def test_the_function_role_lives_on_the_path_the_fleets_bus_trusts(resources: dict[str, Any]) -> None:
    role = of_type(resources, "AWS::IAM::Role")["FunctionRole"]["Properties"]
    central = load_template(ROOT / "fleet" / "central.yaml")["Resources"]["BusPolicy"]["Properties"]["Statement"]
    assert role["Path"] == "/selfheal/"
    assert central["Condition"]["ArnLike"]["aws:PrincipalArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::*:role/selfheal/*"}


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_alarms_may_use(resources: dict[str, Any]) -> None:
    topic = resources["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    alarms = [st for st in key["KeyPolicy"]["Statement"] if st["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert [set(st["Action"]) for st in alarms] == [{"kms:Decrypt", "kms:GenerateDataKey*"}]
    assert alarms[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert key["EnableKeyRotation"] is True


def test_reserved_concurrency_and_code_signing_are_options_off_by_default(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    function = the_function(resources)["Properties"]
    parameters = template["Parameters"]
    assert (parameters["ReservedConcurrency"]["Default"], parameters["CodeSigningConfigArn"]["Default"]) == (0, "")
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    assert function["CodeSigningConfigArn"] == {
        "Fn::If": ["HasCodeSigning", {"Ref": "CodeSigningConfigArn"}, {"Ref": "AWS::NoValue"}]}


ENGINE_CALLS = [
    *[
        ("dynamodb", op)
        for op in (
            "DescribeTable",
            "DescribeContinuousBackups",
            "DescribeTimeToLive",
            "ListTagsOfResource",
            "CreateTable",
            "UpdateTable",
            "UpdateContinuousBackups",
            "UpdateTimeToLive",
            "TagResource",
            "RestoreTableFromBackup",
        )
    ],
    *[
        ("s3", op)
        for op in (
            "HeadBucket",
            "CreateBucket",
            "GetPublicAccessBlock",
            "PutPublicAccessBlock",
            "GetBucketOwnershipControls",
            "PutBucketOwnershipControls",
            "GetBucketEncryption",
            "PutBucketEncryption",
            "GetBucketVersioning",
            "PutBucketVersioning",
            "GetBucketWebsite",
            "PutBucketWebsite",
            "GetBucketPolicy",
            "PutBucketPolicy",
            "GetBucketCors",
            "PutBucketCors",
            "GetBucketLifecycleConfiguration",
            "PutBucketLifecycleConfiguration",
            "GetBucketTagging",
            "PutBucketTagging",
        )
    ],
]


@pytest.mark.parametrize(("service", "operation"), ENGINE_CALLS)
def test_every_engine_call_is_allowed_on_every_declared_resource(service: str, operation: str) -> None:
    names = [f"galerly-{t}" for t in TABLES] if service == "dynamodb" else BUCKETS
    denied = [n for n in names if not allowed(TEMPLATE, operation, service, n, REGION, ACCOUNT)]
    assert denied == []


@pytest.mark.parametrize(
    ("service", "operation", "resource"),
    [
        ("dynamodb", "ListBackups", ""),
        ("dynamodb", "DescribeBackup", "arn:aws:dynamodb:us-east-1:123456789012:table/galerly-users/backup/0169-x"),
        (
            "dynamodb",
            "RestoreTableFromBackup",
            "arn:aws:dynamodb:us-east-1:123456789012:table/galerly-users/backup/0169-x",
        ),
        ("s3control", "GetPublicAccessBlock", ""),
        ("sts", "GetCallerIdentity", ""),
        ("kms", "DescribeKey", "alias/aws/dynamodb"),
        ("kms", "describe_key", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("s3", "head_bucket", "galerly-images-storage"),
    ],
)
def test_hand_picked_calls_are_allowed(service: str, operation: str, resource: str) -> None:
    assert allowed(TEMPLATE, operation, service, resource, REGION, ACCOUNT)


@pytest.mark.parametrize(
    ("service", "operation", "resource"),
    [
        ("dynamodb", "DeleteTable", "galerly-users"),
        ("dynamodb", "DeleteItem", "other-app-users"),  # the restore's item writes: the estate's tables only
        ("dynamodb", "BatchWriteItem", "other-app-users"),
        ("dynamodb", "DeleteBackup", "arn:aws:dynamodb:us-east-1:123456789012:table/galerly-users/backup/0169-x"),
        ("dynamodb", "CreateBackup", "galerly-users"),  # only the CLI's delete command backs up; never the Lambda
        ("dynamodb", "DescribeTable", "other-app-users"),  # outside the prefix
        ("dynamodb", "UpdateTable", "galerly-users"[:-6]),  # "galerly" alone is not "galerly-*"
        ("dynamodb", "DescribeTable", "arn:aws:dynamodb:eu-west-1:123456789012:table/galerly-users"),  # other region
        ("dynamodb", "DescribeTable", "arn:aws:dynamodb:us-east-1:999999999999:table/galerly-users"),  # other account
        ("s3", "DeleteBucket", "galerly-images-storage"),
        ("s3", "DeleteBucketPolicy", "galerly-frontend-app"),
        ("s3", "DeleteObject", "arn:aws:s3:::galerly-images-storage/photo.jpg"),
        ("s3", "PutBucketPolicy", "someone-elses-bucket"),
        ("s3control", "PutPublicAccessBlock", ""),
        ("kms", "ScheduleKeyDeletion", "arn:aws:kms:us-east-1:123456789012:key/1234abcd"),
        ("kms", "Decrypt", "arn:aws:kms:us-east-1:123456789012:key/1234abcd"),  # only via DynamoDB/S3 (condition)
    ],
)
def test_hand_picked_calls_are_denied(service: str, operation: str, resource: str) -> None:
    assert not allowed(TEMPLATE, operation, service, resource, REGION, ACCOUNT)


def test_the_function_reads_no_photo_only_aws_backup_restoring_the_photos_bucket_does() -> None:
    photo, page = "arn:aws:s3:::galerly-images-storage/photo.jpg", "arn:aws:s3:::galerly-frontend-app/index.html"
    assert not allowed(TEMPLATE, "GetObject", "s3", photo, REGION, ACCOUNT, role="FunctionRole")
    assert allowed(TEMPLATE, "GetObject", "s3", photo, REGION, ACCOUNT, role="BackupRestoreRole")
    assert not allowed(TEMPLATE, "PutObject", "s3", page, REGION, ACCOUNT, role="BackupRestoreRole")
    assert not allowed(TEMPLATE, "DeleteObject", "s3", photo, REGION, ACCOUNT, role="BackupRestoreRole")


def test_s3_deletes_that_iam_authorizes_as_puts_map_to_the_put(template: dict[str, Any]) -> None:
    # DeleteBucketCors needs s3:PutBucketCORS: the role can technically clear CORS. Only code review prevents it.
    assert iam_action("s3", "DeleteBucketCors") == "s3:PutBucketCORS"
    assert allowed(TEMPLATE, "DeleteBucketCors", "s3", "galerly-images-storage", REGION, ACCOUNT)


def test_allowed_follows_the_prefix_parameter() -> None:
    assert allowed(
        TEMPLATE,
        "DescribeTable",
        "dynamodb",
        "galerly-dev-users",
        REGION,
        ACCOUNT,
        parameters={"Prefix": "galerly-dev"},
    )
    assert not allowed(
        TEMPLATE, "DescribeTable", "dynamodb", "galerly-users", REGION, ACCOUNT, parameters={"Prefix": "galerly-dev"}
    )


# --- schedule ------------------------------------------------------------------------------------------------

_CRON_FIELD = r"[0-9A-Za-z*?,/\-#L W]+"


def valid_schedule(expression: str) -> bool:
    """EventBridge syntax: rate(N unit) or cron() with 6 fields and '?' in exactly one of day-of-month/day-of-week."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        return value >= 1 and (value == 1) == (not unit.endswith("s"))
    cron = re.fullmatch(r"cron\((.*)\)", expression)
    if not cron:
        return False
    fields = cron.group(1).split()
    if len(fields) != 6 or not all(re.fullmatch(_CRON_FIELD, f) for f in fields):
        return False
    day_of_month, day_of_week = fields[2], fields[4]
    return (day_of_month == "?") != (day_of_week == "?")


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("cron(0 3 * * ? *)", True),
        ("rate(1 day)", True),
        ("rate(12 hours)", True),
        ("cron(0 3 * * *)", False),
        ("cron(0 3 * * * *)", False),
        ("rate(1 days)", False),
        ("rate(0 minutes)", False),
        ("0 3 * * ?", False),
    ],
)
def test_schedule_validator(expression: str, ok: bool) -> None:
    assert valid_schedule(expression) is ok


def test_the_nightly_schedule_is_valid_and_delivers_the_real_scheduled_event(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert valid_schedule(template["Parameters"]["ScheduleExpression"]["Default"])
    schedules = [e for e in the_function(resources)["Properties"]["Events"].values() if e["Type"] == "Schedule"]
    assert len(schedules) == 1
    props = schedules[0]["Properties"]
    assert props["Schedule"] == {"Ref": "ScheduleExpression"}
    assert "Input" not in props  # EventBridge then sends {"source": "aws.events", "detail-type": "Scheduled Event"}


# --- custom resource, layer, logs, alarms, environment --------------------------------------------------------


def test_the_custom_resource_reruns_when_code_estate_parameters_or_nonce_change(resources: dict[str, Any]) -> None:
    (estate,) = [r for r in resources.values() if r["Type"] == "Custom::Estate"]
    props = estate["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["Function", "Arn"]}
    assert 0 < props["ServiceTimeout"] <= 900
    values = list(props.values())
    assert {"Ref": "Function.Version"} in values
    assert {"Ref": "DeployNonce"} in values
    assert {"Ref": "Prefix"} in values
    # the bucket names exactly as the function gets them (the given name, or the per-account one)
    env = the_function(resources)["Properties"]["Environment"]["Variables"]
    assert props["FrontendBucketName"] == env["SELFHEAL_VAR_FRONTEND_BUCKET"]
    assert props["PhotosBucketName"] == env["SELFHEAL_VAR_PHOTOS_BUCKET"]
    assert {"Ref": "FrontendBucketName"} in props["FrontendBucketName"]["Fn::If"]
    assert {"Ref": "PhotosBucketName"} in props["PhotosBucketName"]["Fn::If"]
    assert the_function(resources)["Properties"]["AutoPublishAlias"]


def deployed(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """The template as CloudFormation deploys it in 123456789012/us-east-1 with `parameters`."""
    return conditioned(template, template_variables(template, REGION, ACCOUNT, parameters=parameters))


def bucket_names_everywhere(template: dict[str, Any], **parameters: str) -> set[tuple[str, str | None]]:
    """(where, resolved bucket name) for every place the template uses the two bucket names."""
    variables = template_variables(template, REGION, ACCOUNT, parameters=parameters)
    done = deployed(template, **parameters)
    resources, outputs = done["Resources"], template["Outputs"]
    env = resources["Function"]["Properties"]["Environment"]["Variables"]
    estate = resources["Estate"]["Properties"]
    pattern = resources["Function"]["Properties"]["Events"]["Changes"]["Properties"]["Pattern"]
    (by_bucket,) = [c for c in pattern["detail"]["$or"] if "bucketName" in c.get("requestParameters", {})]
    out = {("env", resolve(env[k], variables)) for k in ("SELFHEAL_VAR_FRONTEND_BUCKET", "SELFHEAL_VAR_PHOTOS_BUCKET")}
    out |= {("custom resource", resolve(estate[k], variables)) for k in ("FrontendBucketName", "PhotosBucketName")}
    out |= {("change rule", resolve(v, variables)) for v in by_bucket["requestParameters"]["bucketName"]}
    out |= {("output", resolve(conditioned({**template, "Resources": {"o": outputs[k]}}, variables)["Resources"]["o"]
                                ["Value"], variables)) for k in ("FrontendBucket", "PhotosBucket")}  # fmt: skip
    for statement in function_role_statements(done):
        if "s3:PutBucketPolicy" in as_list(statement["Action"]) or "s3:GetBucketPolicy" in as_list(statement["Action"]):
            out |= {("policy", (resolve(r, variables) or "").removeprefix("arn:aws:s3:::"))
                    for r in as_list(statement["Resource"])}  # fmt: skip
    return out


def test_bucket_names_are_the_given_ones_or_per_account_everywhere(template: dict[str, Any]) -> None:
    places = {"env", "custom resource", "change rule", "output", "policy"}
    seed = {(where, name) for where in places for name in BUCKETS}
    assert bucket_names_everywhere(template) == seed
    fleet = {(where, name) for where in places for name in (
        "galerly-frontend-app-123456789012-us-east-1", "galerly-images-storage-123456789012-us-east-1")}
    assert bucket_names_everywhere(template, FrontendBucketName="", PhotosBucketName="") == fleet
    mixed = bucket_names_everywhere(template, Prefix="shop", FrontendBucketName="shop-site", PhotosBucketName="")
    assert {name for _, name in mixed} == {"shop-site", "shop-images-storage-123456789012-us-east-1"}


def test_the_documented_prefix_limit_keeps_per_account_bucket_names_within_63_characters(
    template: dict[str, Any]
) -> None:
    # 20 characters (the Prefix description's limit) in the longest region name there is today
    longest = bucket_names_everywhere(template, Prefix="p" * 20, FrontendBucketName="", PhotosBucketName="")
    names = {name.replace("us-east-1", "ap-southeast-7") for _, name in longest if name}
    assert max(len(n) for n in names) == 63
    assert "at most 20" in template["Parameters"]["Prefix"]["Description"]


def test_the_central_bus_is_off_by_default_and_then_the_only_put_events_target(template: dict[str, Any]) -> None:
    bus = "arn:aws:events:us-east-1:999999999999:event-bus/selfheal-fleet"
    env = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert env["SELFHEAL_CENTRAL_EVENT_BUS_ARN"] == {"Ref": "CentralEventBusArn"}
    param = template["Parameters"]["CentralEventBusArn"]
    assert param["Default"] == ""
    assert re.fullmatch(param["AllowedPattern"], "") and re.fullmatch(param["AllowedPattern"], bus)
    for wrong in ("arn:aws:sns:us-east-1:999999999999:topic", "event-bus/selfheal-fleet", "arn:aws:events:::bus"):
        assert not re.fullmatch(param["AllowedPattern"], wrong)

    def put_events(done: dict[str, Any]) -> list[dict[str, Any]]:
        return [s for s in function_role_statements(done) if "events:PutEvents" in as_list(s.get("Action", []))]

    assert put_events(deployed(template)) == []
    (statement,) = put_events(deployed(template, CentralEventBusArn=bus))
    assert statement["Effect"] == "Allow" and as_list(statement["Action"]) == ["events:PutEvents"]
    assert statement["Resource"] == {"Ref": "CentralEventBusArn"}
    assert "Condition" not in statement


def test_the_deps_layer_is_built_for_python312(resources: dict[str, Any]) -> None:
    (layer,) = of_type(resources, "AWS::Serverless::LayerVersion").values()
    assert layer["Metadata"]["BuildMethod"] == "python3.12"
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/deps"
    assert {"Ref": "DepsLayer"} in the_function(resources)["Properties"]["Layers"]


def test_the_function_logs_to_its_own_log_group_with_retention(resources: dict[str, Any]) -> None:
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert set(groups) == {"FunctionLogGroup", "DrillLogGroup"}
    for function in of_type(resources, "AWS::Serverless::Function").values():  # the healer's, the drill's
        fn = function["Properties"]
        group = groups[fn["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        # ... and the log group is the one Lambda would use anyway.
        assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/" + fn["FunctionName"]["Fn::Sub"]}


def test_every_alarm_notifies_the_topic(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    (topic,) = of_type(resources, "AWS::SNS::Topic")
    assert len(alarms) >= 3
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]


def test_the_run_alarms_watch_the_selfheal_metrics(resources: dict[str, Any]) -> None:
    expressions = " ".join(
        m.get("Expression", "")
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        for m in a["Properties"].get("Metrics", [])
    )
    for metric in ("conflicts", "errors", "healed"):
        assert f"SUM({metric}) FROM Selfheal WHERE service = 'selfheal'" in expressions


def test_the_email_subscription_exists_only_with_an_address(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    (subscription,) = of_type(resources, "AWS::SNS::Subscription").values()
    condition = template["Conditions"][subscription["Condition"]]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def test_the_function_gets_the_engine_and_powertools_settings(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    fn = the_function(resources)["Properties"]
    env = {**template["Globals"]["Function"]["Environment"]["Variables"], **fn["Environment"]["Variables"]}
    for name in (
        "SELFHEAL_ESTATE",
        "SELFHEAL_VAR_PREFIX",
        "SELFHEAL_VAR_FRONTEND_BUCKET",
        "SELFHEAL_VAR_PHOTOS_BUCKET",
        "SELFHEAL_VAR_CORS_ORIGINS",
        "SELFHEAL_MAX_MISSING_PERCENT",
        "LOG_LEVEL",
    ):
        assert name in env
    assert env["POWERTOOLS_SERVICE_NAME"] == "selfheal"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Selfheal"
    assert env["SELFHEAL_VAR_PREFIX"] == {"Ref": "Prefix"}
    settings = {**template["Globals"]["Function"], **fn}
    assert settings["Runtime"] == "python3.12"
    assert settings["Handler"] == "app.lambda_handler"
    assert settings["CodeUri"].rstrip("/") == "functions/selfheal"
    assert settings["Timeout"] == 900
    assert settings["Tracing"] == "Active"


def test_the_parameter_defaults_describe_the_production_estate(template: dict[str, Any]) -> None:
    params = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    assert params["Prefix"] == "galerly"
    assert params["FrontendBucketName"] == "galerly-frontend-app"
    assert params["PhotosBucketName"] == "galerly-images-storage"
    assert params["LogRetentionDays"] == 30
    assert params["MaxMissingPercent"] == 50
    assert params["DeployNonce"] == ""


def test_samconfig_environments_deploy_to_us_east_1_with_iam_capability(template: dict[str, Any]) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    for env in ("default", "dev", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["region"] == "us-east-1"
        assert deploy["resolve_s3"] is True
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        names = {item.split("=", 1)[0] for item in deploy["parameter_overrides"]}
        assert names <= set(template["Parameters"])
    assert config["prod"]["deploy"]["parameters"]["stack_name"] != config["dev"]["deploy"]["parameters"]["stack_name"]


# --- docs/reliability.md's "What the role can do" ----------------------------------------------------------------


def _role_table() -> dict[tuple[str, str], set[str]]:
    """(role, statement Sid) -> the actions docs/reliability.md's table says it grants."""
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    section = text.split("## What the role can do", 1)[1].split("\n## ", 1)[0]
    rows: dict[tuple[str, str], set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] not in ("function", "restore", "drill", "drill-restore"):
            continue
        rows[(cells[0], cells[1])] = {a.lower() for a in re.findall(r"`([a-z0-9-]+:[A-Za-z*]+)`", cells[2])}
    return rows


def test_the_role_table_in_the_docs_matches_the_template(template: dict[str, Any]) -> None:
    # Both branches of a conditional statement count (the fleet's bus statement is there only with a bus).
    granted: dict[tuple[str, str], set[str]] = {}
    for label, role in (("function", "FunctionRole"), ("restore", "BackupRestoreRole"), ("drill", "DrillRole"),
                        ("drill-restore", "DrillRestoreRole")):
        for statement in function_role_statements(template, role):
            granted[(label, statement["Sid"])] = {str(a).lower() for a in as_list(statement["Action"])}
    documented = _role_table()
    assert sorted(documented) == sorted(granted)
    assert {k: v for k, v in documented.items() if granted[k] != v} == {}


def test_every_var_the_stack_gives_the_function_is_taken_by_the_estate_it_ships(resources: dict[str, Any]) -> None:
    # The function refuses an undeclared SELFHEAL_VAR_*: whatever the stack sets (its own region, its BackupRole...)
    # must load with the shipped estate, or every deploy would fail to read it.
    from selfheal.loader import ENV_VAR_PREFIX, load_estate

    variables = the_function(resources)["Properties"]["Environment"]["Variables"]
    env = {name: "arn:aws:iam::123456789012:role/x" if name.endswith("_ROLE") else
           "https://example.com" if name.endswith("_ORIGINS") else "us-east-1" if name.endswith("_REGION") else
           name[len(ENV_VAR_PREFIX):].lower().replace("_", "-")
           for name in variables if name.startswith(ENV_VAR_PREFIX)}
    assert env, "the stack passes the estate's vars"
    load_estate(ROOT / "functions/selfheal/estate.yaml", env=env)
