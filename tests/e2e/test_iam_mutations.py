"""Every action of the function role is needed, and none is missing: the role's policy, enforced by the local AWS.

One scenario exercises the engine's whole surface under the real template's policy (heal a broken estate: restores
from a $DeletedTableBackup still being made and from an AWS Backup recovery point, a table with a customer KMS key
created, buckets created and repaired, a follow-up scheduled, the run's message published) and must see no
AccessDenied. Then each action is
removed from the template in turn, and the very requests the scenario made are checked again by the same enforcer:
at least one is denied, with AWS's message naming that action — the scenario would fail exactly so. Four removals
are also run for real, end to end.

Twice: under template.yaml's role (the shipped Galerly estate), and under the role `make build ESTATE=` generates for
a team's estate that is not Galerly's (tests/fixtures/harbor-iam.yaml: tables under no one prefix, buckets and vaults
of other names), broken and healed the same way under its own names.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import pytest
import yaml

from devtools import buildapp, followups
from devtools.iam import Enforcer, function_role_statements
from devtools.localaws import LocalAws
from selfheal import followup, massdelete, notify
from selfheal.aws import OPERATOR_AGENT, Clients
from selfheal.engine import Engine, Options
from selfheal.kinds.backups import BackupRule, BackupSpec
from selfheal.loader import load_estate
from selfheal.report import Report
from selfheal.spec import AWS_BACKUP, Estate
from tests.e2e.conftest import put_items
from tests.support.estates import GALERLY
from tests.support.iam import conditioned, load_template, template_variables

# Its module-scoped fixture records each stack's scenario once, and costly: the tests of one stack are one group, run
# by one worker (make test: --dist loadgroup), so the two stacks' scenarios run side by side.
pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
HARBOR = ROOT / "tests" / "fixtures" / "harbor-iam.yaml"
REGION = "us-east-1"
BEING_MADE_S, POLL_ADVANCE_S = 120, 30  # the copies take 2 minutes on AWS's clock; each poll of one moves it 30 s on
TOPIC = "arn:aws:sns:us-east-1:123456789012:selfheal-AlarmTopic-1A2B3C4D5E"  # as CloudFormation names it
DELETIONS = "selfheal-DeletionCounts-1A2B3C4D5E6F"  # likewise
# Granted, but not called by the engine on a local AWS: the Lambda runtime writes the logs and traces, the stack
# status is read only when a deploy fails, ListAllMyBuckets only on a HeadBucket 403, and AWS never checks
# GetCallerIdentity ("no permissions are required", STS API reference).
NOT_EXERCISED = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                 "cloudformation:DescribeStacks", "s3:ListAllMyBuckets", "sts:GetCallerIdentity"}


class Stack(NamedTuple):
    """A role and the estate it was made for: the scenario's names (Galerly's) as that estate calls them."""

    label: str
    template: Path
    names: dict[str, str]

    def n(self, name: str) -> str:
        return self.names.get(name, name)


def generated(estate: Path) -> Path:
    """The template `make build ESTATE=estate` writes, made when the module is collected (parametrization reads its
    role) and removed when the session ends."""
    out = Path(tempfile.mkdtemp(prefix="selfheal-built-"))
    atexit.register(shutil.rmtree, out, True)
    return buildapp.write(buildapp.build([estate], out=out), out, [estate])


HARBOR_NAMES = {"galerly-photos": "media-photos", "galerly-contact": "crm-contact", "galerly-billing": "ledger-billing",
                "galerly-sessions": "auth-sessions", "galerly-users": "auth-users",
                "galerly-images-storage": "harbor-media-example", "galerly-frontend-app": "harbor-site-example",
                "galerly-backups": "vault-nightly", "galerly-backups-drift": "vault-drift"}
STACKS = [Stack("shipped", TEMPLATE, {}), Stack("generated", generated(HARBOR), HARBOR_NAMES)]


def of_stack(stack: Stack, *values: Any, id: str) -> Any:  # noqa: A002 - pytest.param's own name
    """A parameter set run by the worker that recorded its stack's scenario."""
    return pytest.param(stack, *values, id=id, marks=pytest.mark.xdist_group(f"iam_mutations:{stack.label}"))


def role_actions(template: dict[str, Any]) -> list[tuple[str, str]]:
    """(statement Sid, action) for every action the function role grants, inline or in its managed policies,
    deployed with the default parameters (the fleet's central-bus statement is absent then;
    tests/unit/test_iam_enforcer.py covers it)."""
    done = conditioned(template, template_variables(template))
    return [(st["Sid"], action) for st in function_role_statements(done)
            for action in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]


SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's: a template dumped per test, 5x faster


def without(stack: Stack, sid: str, action: str, tmp_path: Path) -> Path:
    """The stack's template with one action removed from one statement of the function role (the statement dropped
    if it was its only one), wherever the statement is: an inline policy or a managed one."""
    template = load_template(stack.template)
    resources = template["Resources"]
    role = resources["FunctionRole"]["Properties"]
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    documents += [resources[ref["Ref"]]["Properties"]["PolicyDocument"] for ref in role.get("ManagedPolicyArns", [])
                  if isinstance(ref, dict) and "Ref" in ref]
    for document in documents:
        statements = document["Statement"]
        for st in list(statements):
            if st.get("Sid") != sid:  # a conditional statement (Fn::If) has no Sid of its own
                continue
            actions = [a for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]]) if a != action]
            if actions:
                st["Action"] = actions
            else:
                statements.remove(st)
    path = tmp_path / f"{stack.label}-without-{sid}-{action.replace(':', '-').replace('*', 'x')}.yaml"
    path.write_text(yaml.dump(template, Dumper=SAFE_DUMPER, sort_keys=False))
    return path


BACKUP_ROLE = "arn:aws:iam::123456789012:role/selfheal-BackupRole-1A2B3C4D5E6F"  # the stack's, as CFN names it


def scenario_estate(stack: Stack, key_arn: str) -> Estate:
    if stack.names:  # the team's estate declares its own AWS Backup plans
        estate = load_estate(HARBOR, env={})
    else:
        estate = load_estate(GALERLY, env={})
        # Two AWS Backup plans: one whose vault and plan are deleted (created again), one whose rule drifts
        # (repaired).
        backups = tuple(BackupSpec(name, REGION, (BackupRule("nightly", "cron(0 2 * * ? *)", 35),), BACKUP_ROLE,
                                   tables=("galerly-users",), buckets=("galerly-images-storage",), lock=(7, 400))
                        for name in ("galerly-backups", "galerly-backups-drift"))
        estate = estate.with_section("backups", backups)
        # The site bucket comes back from its AWS Backup recovery point (a restore job started and watched).
        estate = estate.with_section("buckets", tuple(
            replace(b, copy_from=AWS_BACKUP) if b.name == "galerly-frontend-app" else b
            for b in estate.section("buckets")))
    billing = stack.n("galerly-billing")
    return estate.with_section("tables", tuple(replace(t, kms_key=key_arn) if t.name == billing else t
                                               for t in estate.tables))


def break_the_estate(aws: LocalAws, estate: Estate, stack: Stack) -> None:
    """A healthy estate (built by an operator, not the role), then broken in every way the engine repairs."""
    n = stack.n
    boto3.client("sns", region_name=REGION, endpoint_url=aws.endpoint).create_topic(Name=TOPIC.rsplit(":", 1)[1])
    operator = Clients(session=boto3.Session(region_name=REGION), endpoint_url=aws.endpoint, user_agent=OPERATOR_AGENT)
    assert Engine(estate, operator).apply().exit_code == 0
    ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws.endpoint)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws.endpoint)
    put_items(ddb, n("galerly-photos"), 30)
    for table in (n("galerly-photos"), n("galerly-contact"), n("galerly-billing")):
        ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
    ddb.update_continuous_backups(TableName=n("galerly-billing"),
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    ddb.delete_table(TableName=n("galerly-billing"))  # no copy at all: created again, with its customer key
    ddb.update_table(TableName=n("galerly-sessions"), GlobalSecondaryIndexUpdates=[
        {"Delete": {"IndexName": "UserSessionsIndex"}}])
    ddb.update_time_to_live(TableName=n("galerly-sessions"),
                            TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"})
    ddb.update_continuous_backups(TableName=n("galerly-users"),
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    users = ddb.describe_table(TableName=n("galerly-users"))["Table"]["TableArn"]
    ddb.untag_resource(ResourceArn=users, TagKeys=["app"])
    ddb.update_table(TableName=n("galerly-users"), DeletionProtectionEnabled=False, BillingMode="PROVISIONED",
                     ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    photos_bucket, site = n("galerly-images-storage"), n("galerly-frontend-app")
    for call in (s3.delete_public_access_block, s3.delete_bucket_cors, s3.delete_bucket_policy,
                 s3.delete_bucket_lifecycle, s3.delete_bucket_tagging, s3.delete_bucket_ownership_controls):
        call(Bucket=photos_bucket)
    # (A deleted encryption configuration reads as SSE-S3, S3's base encryption, which the photos declare: drift is
    # another algorithm.)
    s3.put_bucket_encryption(Bucket=photos_bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    s3.put_bucket_versioning(Bucket=photos_bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_notification_configuration(Bucket=photos_bucket, NotificationConfiguration={})
    s3.delete_bucket_website(Bucket=site)
    s3.delete_bucket_policy(Bucket=site)
    s3.put_object(Bucket=site, Key="index.html", Body=b"<h1>galerly</h1>")
    aws.add_bucket_recovery_point(site)
    for obj in s3.list_objects_v2(Bucket=site).get("Contents", []):
        s3.delete_object(Bucket=site, Key=obj["Key"])
    s3.delete_bucket(Bucket=site)
    backup = boto3.client("backup", region_name=REGION, endpoint_url=aws.endpoint)
    plans = {p["BackupPlanName"]: p["BackupPlanId"] for p in backup.list_backup_plans()["BackupPlansList"]}
    backup.delete_backup_plan(BackupPlanId=plans[n("galerly-backups")])
    backup.delete_backup_vault_lock_configuration(BackupVaultName=n("galerly-backups"))  # governance: removable
    backup.delete_backup_vault(BackupVaultName=n("galerly-backups"))  # empty: no recovery point in it
    drifted = backup.get_backup_plan(BackupPlanId=plans[n("galerly-backups-drift")])["BackupPlan"]
    backup.update_backup_plan(BackupPlanId=plans[n("galerly-backups-drift")], BackupPlan={
        "BackupPlanName": drifted["BackupPlanName"],
        "Rules": [{**{k: v for k, v in r.items() if k != "RuleId"}, "ScheduleExpression": "cron(0 9 * * ? *)"}
                  for r in drifted["Rules"]]})
    ddb.create_table(TableName=DELETIONS, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "window", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "window", "KeyType": "HASH"}])
    # Copies still being made when the role's run starts: AWS's clock moves on only as the run polls them.
    aws.set_clock(backup=BEING_MADE_S, restore=60)
    ddb.delete_table(TableName=n("galerly-photos"))  # PITR on: its $DeletedTableBackup is CREATING for a while
    ddb.update_continuous_backups(TableName=n("galerly-contact"),
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    aws.add_recovery_point(n("galerly-contact"), status="CREATING", completes_in=BEING_MADE_S)
    ddb.delete_table(TableName=n("galerly-contact"))  # only an AWS Backup recovery point is left


def heal_as_the_role(aws: LocalAws, estate: Estate, stack: Stack) -> tuple[Report, followup.Followup]:
    """What the function does on a schedule: apply (restores not waited for), hand over to a follow-up, and tell the
    alarm topic."""
    session = boto3.Session(region_name=REGION)
    # Each poll of a copy being made sees AWS later. A restore job's poll does not move the clock: the bucket's
    # restore would otherwise finish the table's backups before their own poll, and DescribeBackup go unexercised.
    for poll in ("after-call.dynamodb.DescribeBackup", "after-call.backup.ListRecoveryPointsByResource"):
        session.events.register(poll, lambda **_: aws.advance_clock(POLL_ADVANCE_S))
    clients = Clients(session=session, endpoint_url=aws.endpoint)
    options = Options(trigger="schedule", wait_for_restores=False, restore_role=followups.RESTORE_ROLE,
                      poll_seconds=0.1, retry_base_seconds=0.01)
    report = Engine(estate, clients, options).apply()
    config = followup.FollowupConfig("arn:aws:lambda:us-east-1:123456789012:function:selfheal-selfheal",
                                     followups.SCHEDULER_ROLE, followups.GROUP, 300)
    handed_over = followup.schedule(clients, config, 1, report)
    message = notify.compose(report, None, handed_over)
    assert message is not None
    problem = notify.publish(clients, TOPIC, message)
    # An object deleted from the photos bucket meanwhile: counted toward its mass-delete warning.
    deletion = {"source": "aws.s3", "detail-type": "Object Deleted", "time": "2026-12-05T10:00:00Z",
                "detail": {"bucket": {"name": stack.n("galerly-images-storage")}, "object": {"key": "a/b.jpg"},
                           "requester": "123456789012", "reason": "DeleteObject"}}
    assert massdelete.count(clients, estate, DELETIONS, TOPIC, deletion)["counted"]
    if problem:
        handed_over = replace(handed_over, problem=f"{handed_over.problem} {problem}".strip())
    return report, handed_over


def record(aws: LocalAws, stack: Stack) -> list[dict[str, Any]]:
    """The role's requests in the scenario, under the stack's role, with none denied."""
    aws.reset()
    kms = boto3.client("kms", region_name=REGION, endpoint_url=aws.endpoint)
    estate = scenario_estate(stack, kms.create_key(Description="billing")["KeyMetadata"]["Arn"])
    break_the_estate(aws, estate, stack)
    followups.create_group(aws.endpoint)
    aws.enforce_iam(stack.template)
    report, handed_over = heal_as_the_role(aws, estate, stack)
    log = aws.iam_log()
    aws.reset()
    assert [r["denied"] for r in log if r["denied"]] == []
    assert not report.failed, [r.to_dict() for r in report.failures()]
    assert handed_over.at is not None, handed_over
    operations = {r["operation"] for r in log}
    for expected in ("RestoreTableFromBackup", "DescribeBackup", "StartRestoreJob",
                     "CreateTable", "CreateBucket", "UpdateTable", "TagResource", "UpdateTimeToLive",
                     "PutBucketPolicy", "PutBucketCors", "PutPublicAccessBlock", "ListRecoveryPointsByResource",
                     "CreateBackupVault", "PutBackupVaultLockConfiguration", "CreateBackupPlan", "UpdateBackupPlan",
                     "CreateBackupSelection", "DescribeRestoreJob", "UpdateItem", "PutBucketNotificationConfiguration"):
        assert expected in operations, (expected, sorted(operations))  # exactly: DescribeBackup is not ...Vault
    return log


@pytest.fixture(scope="module")
def recorded(local_aws: LocalAws) -> Any:
    """stack label -> its scenario's recorded requests, each scenario run once for the module."""
    logs: dict[str, list[dict[str, Any]]] = {}

    def of(stack: Stack) -> list[dict[str, Any]]:
        if stack.label not in logs:
            logs[stack.label] = record(local_aws, stack)
        return logs[stack.label]

    return of


def denials(template: Path, log: list[dict[str, Any]]) -> Iterator[str]:
    """AccessDenied messages of the recorded requests under `template`, lazily: a test may stop at the one it wants."""
    enforcer = Enforcer.from_template(template)
    for request in log:
        denied = enforcer.check({**request, "body": request["body"].encode("latin-1")})
        if denied:
            yield denied


@pytest.mark.parametrize("stack", [of_stack(s, id=s.label) for s in STACKS])
def test_the_scenario_needs_no_permission_the_role_lacks(stack: Stack, recorded: Any) -> None:
    log = recorded(stack)
    assert log and list(denials(stack.template, log)) == []


# Granted, but not checked on a local AWS: moto's SNS does not encrypt, so publishing never uses the topic's key.
NOT_EXERCISED_STATEMENTS = {"EncryptForTheAlarmTopic"}
MUTATIONS = [(stack, sid, action) for stack in STACKS for sid, action in role_actions(load_template(stack.template))
             if action not in NOT_EXERCISED and sid not in NOT_EXERCISED_STATEMENTS]


@pytest.mark.parametrize(("stack", "sid", "action"),
                         [of_stack(k, s, a, id=f"{k.label}:{s}:{a}") for k, s, a in MUTATIONS])
def test_removing_any_action_the_engine_needs_denies_a_call_naming_it(
    stack: Stack, sid: str, action: str, recorded: Any, tmp_path: Path
) -> None:
    template = without(stack, sid, action, tmp_path)
    named = action.rstrip("*").lower()
    if not any(f"perform: {named}" in m.lower() for m in denials(template, recorded(stack))):
        pytest.fail(f"{action}: {list(denials(template, recorded(stack)))[:3]}")


@pytest.mark.parametrize("stack", STACKS, ids=[s.label for s in STACKS])
def test_every_granted_action_is_either_exercised_or_known_not_to_be(stack: Stack) -> None:
    granted = {a for _, a in role_actions(load_template(stack.template))}
    assert NOT_EXERCISED <= granted  # the exception list names real grants, not stale ones


REMOVALS = [
    ("RestoreTargetTableItemAccessAwsRequires", "dynamodb:DeleteItem", "galerly-photos", "dynamodb:DeleteItem"),
    ("RepairOwnBuckets", "s3:PutBucketOwnershipControls", "galerly-frontend-app", "s3:PutBucketOwnershipControls"),
    ("PassOnlyTheFollowupRoleToScheduler", "iam:PassRole", None, "iam:PassRole"),
    ("TellTheAlarmTopic", "sns:Publish", None, "sns:Publish"),
]
REAL_RUNS = [(stack, *removal) for stack in STACKS for removal in REMOVALS]


@pytest.mark.parametrize(("stack", "sid", "action", "resource", "fragment"), REAL_RUNS,
                         ids=[f"{k.label}:{s}:{a}" for k, s, a, *_ in REAL_RUNS])
def test_a_removed_action_fails_the_real_run_naming_it(
    aws: LocalAws, tmp_path: Path, stack: Stack, sid: str, action: str, resource: str | None, fragment: str
) -> None:
    kms = boto3.client("kms", region_name=REGION, endpoint_url=aws.endpoint)
    estate = scenario_estate(stack, kms.create_key(Description="billing")["KeyMetadata"]["Arn"])
    break_the_estate(aws, estate, stack)
    followups.create_group(aws.endpoint)
    aws.enforce_iam(without(stack, sid, action, tmp_path))

    report, handed_over = heal_as_the_role(aws, estate, stack)

    if resource is None:  # a follow-up or the message could not be sent: said, and alarmed by the function
        assert fragment in handed_over.problem
        return
    failed = {r.name: r.reason for r in report.failures()}
    assert stack.n(resource) in failed and fragment in failed[stack.n(resource)], failed
    role = [c for c in aws.calls() if c["client"] == "selfheal"]
    assert "CreateTable" not in {c["operation"] for c in role if c["name"] == stack.n("galerly-photos")}
