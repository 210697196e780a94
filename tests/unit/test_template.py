"""The SAM template's content: what cfn-lint and `sam validate` cannot see (least privilege, cron syntax, wiring)."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from tests.support.iam import allowed, as_list, iam_action, load_template, policy_statements

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
    assert len(functions) == 1, functions.keys()
    return next(iter(functions.values()))


def allow_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in policy_statements(template) if s.get("Effect") == "Allow"]


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


def test_the_item_writes_a_restore_requires_are_scoped_to_the_estates_tables(template: dict[str, Any]) -> None:
    holders = [s for s in allow_statements(template)
               if {str(a).lower() for a in as_list(s["Action"])} & RESTORE_ITEM_ACTIONS]
    assert len(holders) == 1
    (statement,) = holders
    assert [r.get("Fn::Sub") for r in as_list(statement["Resource"])] == [ESTATE_TABLES]
    assert {str(a).lower() for a in as_list(statement["Action"])} >= RESTORE_ITEM_ACTIONS


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
    # The one managed policy is AWS Backup's own restore policy, on the role only AWS Backup can assume.
    managed = {name: r["Properties"]["ManagedPolicyArns"] for name, r in roles.items()
               if r["Properties"].get("ManagedPolicyArns")}
    assert managed == {"BackupRestoreRole": [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"}]}
    trust = roles["BackupRestoreRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "backup.amazonaws.com"}]


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
        ("s3", "GetObject", "arn:aws:s3:::galerly-images-storage/photo.jpg"),
        ("s3", "PutBucketPolicy", "someone-elses-bucket"),
        ("s3control", "PutPublicAccessBlock", ""),
        ("kms", "ScheduleKeyDeletion", "arn:aws:kms:us-east-1:123456789012:key/1234abcd"),
        ("kms", "Decrypt", "arn:aws:kms:us-east-1:123456789012:key/1234abcd"),  # only via DynamoDB/S3 (condition)
    ],
)
def test_hand_picked_calls_are_denied(service: str, operation: str, resource: str) -> None:
    assert not allowed(TEMPLATE, operation, service, resource, REGION, ACCOUNT)


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
    for parameter in ("Prefix", "FrontendBucketName", "PhotosBucketName"):
        assert {"Ref": parameter} in values
    assert the_function(resources)["Properties"]["AutoPublishAlias"]


def test_the_deps_layer_is_built_for_python312(resources: dict[str, Any]) -> None:
    (layer,) = of_type(resources, "AWS::Serverless::LayerVersion").values()
    assert layer["Metadata"]["BuildMethod"] == "python3.12"
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/deps"
    assert {"Ref": "DepsLayer"} in the_function(resources)["Properties"]["Layers"]


def test_the_function_logs_to_its_own_log_group_with_retention(resources: dict[str, Any]) -> None:
    ((name, group),) = of_type(resources, "AWS::Logs::LogGroup").items()
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    fn = the_function(resources)["Properties"]
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": name}
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
