"""A simulated fleet on the local AWS: an Organization of 3 member accounts × 2 regions, each running the real handler
with its own estate and its own credentials, and the administration account holding fleet/central.yaml's bus.

GIVEN fleet/central.yaml deployed by the local CloudFormation in the administration account (moto's default account)
and 6 stacks' first deploys (the custom resource heals each empty account and region)
WHEN one account's table is deleted (PITR on: a $DeletedTableBackup remains), another's bucket is made public, and
all 6 nightly runs go
THEN the central bus got one event per run, each within PutEvents' limits; `selfheal fleet` (the administration
account's credentials) shows 6 rows whose latest runs are the nightly ones: the restored table, the repaired bucket,
no error. The bus's policy is the template's: an account outside the Organization is refused.

Each run's role policy is template.yaml's, enforced for that account and region with CentralEventBusArn set.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools import breakage, followups
from devtools.invoke import LambdaContext
from devtools.localaws import LocalAws, other_account_session
from tests.support.cli import Run, environment, selfheal
from tests.support.enforce import TEMPLATE
from tests.support.estates import GALERLY
from tests.support.handler import app
from tests.support.handler import invoke as invoke_handler

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

ROOT = Path(__file__).resolve().parents[2]
CENTRAL = "123456789012"  # moto's default account: the Organization's administration account holds the bus
REGIONS = ("us-east-1", "eu-west-1")
KB256 = 256 * 1024
SCHEDULER_ROLE = followups.SCHEDULER_ROLE.rsplit("/", 1)[1]  # each account's stack has its own
FUNCTION_ROLE = "selfheal/galerly-FunctionRole-1A2B3C"  # template.yaml's FunctionRole: its path is /selfheal/


@dataclass(frozen=True)
class Member:
    account: str
    region: str
    credentials: Any  # botocore Credentials of a role in that account

    @property
    def frontend_bucket(self) -> str:  # template.yaml's per-account name when FrontendBucketName is empty
        return f"galerly-frontend-app-{self.account}-{self.region}"

    @property
    def photos_bucket(self) -> str:
        return f"galerly-images-storage-{self.account}-{self.region}"

    def client(self, service: str, endpoint: str) -> Any:
        return boto3.client(service, region_name=self.region, endpoint_url=endpoint,
                            aws_access_key_id=self.credentials.access_key,
                            aws_secret_access_key=self.credentials.secret_key,
                            aws_session_token=self.credentials.token)


@dataclass
class Fleet:
    aws: LocalAws
    bus_arn: str
    log_group: str
    members: list[Member]
    sent: list[dict[str, Any]]  # every PutEvents request body the function roles sent


@pytest.fixture
def fleet(aws: LocalAws) -> Iterator[Fleet]:
    admin = {"region_name": "us-east-1", "endpoint_url": aws.endpoint}
    orgs = boto3.client("organizations", **admin)
    org = orgs.create_organization(FeatureSet="ALL")["Organization"]
    accounts = [orgs.create_account(AccountName=name, Email=f"{name}@galerly.com")["CreateAccountStatus"]["AccountId"]
                for name in ("team-a", "team-b", "team-c")]
    cfn = boto3.client("cloudformation", **admin)
    cfn.create_stack(StackName="selfheal-fleet", TemplateBody=(ROOT / "fleet" / "central.yaml").read_text(),
                     Parameters=[{"ParameterKey": "OrganizationId", "ParameterValue": org["Id"]}])
    stack = cfn.describe_stacks(StackName="selfheal-fleet")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    members = [Member(account, region,
                      other_account_session(aws.endpoint, account, region, FUNCTION_ROLE).get_credentials())
               for account in accounts for region in REGIONS]
    for member in members:  # each stack's schedule group for its follow-ups
        member.client("scheduler", aws.endpoint).create_schedule_group(Name=followups.GROUP)
    yield Fleet(aws, outputs["BusArn"], outputs["RunLogGroup"], members, [])


def invoke(fleet: Fleet, member: Member, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The handler as the member's deployed stack runs it: its account's role credentials, its region, the
    template's environment (per-account bucket names, the central bus), that role's policy enforced."""
    parameters = {"CentralEventBusArn": fleet.bus_arn, "FrontendBucketName": "", "PhotosBucketName": ""}
    fleet.aws.enforce_iam(TEMPLATE, parameters, region=member.region, account=member.account)
    with monkeypatch.context() as env:
        for name in list(os.environ):
            if name.startswith("SELFHEAL_"):
                env.delenv(name)
        env.setenv("SELFHEAL_ESTATE", str(GALERLY))  # as the stack names /var/task/estate.yaml
        env.setenv("AWS_ACCESS_KEY_ID", member.credentials.access_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", member.credentials.secret_key)
        env.setenv("AWS_SESSION_TOKEN", member.credentials.token)
        env.setenv("AWS_DEFAULT_REGION", member.region)
        env.setenv("AWS_REGION", member.region)
        env.setenv("SELFHEAL_VAR_REGION", member.region)
        env.setenv("SELFHEAL_VAR_PREFIX", "galerly")
        env.setenv("SELFHEAL_VAR_FRONTEND_BUCKET", member.frontend_bucket)
        env.setenv("SELFHEAL_VAR_PHOTOS_BUCKET", member.photos_bucket)
        env.setenv("SELFHEAL_VAR_BACKUP_ROLE", f"arn:aws:iam::{member.account}:role/galerly-BackupRole-1A2B3C4D5E6F")
        env.setenv("SELFHEAL_CENTRAL_EVENT_BUS_ARN", fleet.bus_arn)
        env.setenv("SELFHEAL_FOLLOWUP_ROLE_ARN", f"arn:aws:iam::{member.account}:role/{SCHEDULER_ROLE}")
        env.setenv("SELFHEAL_FOLLOWUP_GROUP", followups.GROUP)
        env.setenv("SELFHEAL_FOLLOWUP_DELAY_SECONDS", "1")
        env.setattr(app, "_CLIENTS", {})  # warm clients belong to one account's function
        context = LambdaContext(function_name="selfheal-Function-4F5G6H7J8K9L", region=member.region,
                                account=member.account, timeout_s=300)
        if "ResponseURL" in event:  # CloudFormation's request names the member's own stack
            event = {**event, "StackId": f"arn:aws:cloudformation:{member.region}:{member.account}:stack/galerly/1"}
        invoked = invoke_handler(event, context)
        answer: Any = invoked.result
        if invoked.server is not None:  # a CloudFormation request: CloudFormation's one response
            (answer,) = invoked.responses
    denied = [r for r in fleet.aws.iam_log() if r["denied"]]
    assert denied == [], denied
    fleet.sent += [json.loads(r["body"]) for r in fleet.aws.iam_log()
                   if (r["service"], r["operation"]) == ("events", "PutEvents")]
    return answer


def load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


def selfheal_fleet(fleet: Fleet, *args: str) -> Run:
    """`selfheal fleet` as an operator of the administration account runs it (moto's default credentials)."""
    env = {k: v for k, v in environment().items() if k != "AWS_SESSION_TOKEN"}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    return selfheal("fleet", "--endpoint-url", fleet.aws.endpoint, "--region", "us-east-1", *args, env=env)


def test_six_accounts_and_regions_heal_and_report_to_the_central_bus(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    # GIVEN each stack's first deploy: the custom resource heals an empty account and region, and reports it
    for member in fleet.members:
        response = invoke(fleet, member, load("cfn-create.json"), monkeypatch)
        assert response["Status"] == "SUCCESS", response["Reason"]
        assert response["Data"]["created"] == 16  # 13 tables, 2 buckets, the AWS Backup plan
    deployed = time.monotonic() - started

    # WHEN team-a's photos table is deleted in us-east-1 and team-b's photos bucket is made public there
    team_a, team_b = fleet.members[0], fleet.members[2]
    assert (team_a.region, team_b.region) == ("us-east-1", "us-east-1") and team_a.account != team_b.account
    breakage.delete_table(team_a.client("dynamodb", fleet.aws.endpoint), "galerly-photos")
    breakage.make_public(team_b.client("s3", fleet.aws.endpoint), team_b.photos_bucket)

    # ... and the 6 nightly runs go
    nightly = time.monotonic()
    answers = [invoke(fleet, member, load("scheduled.json"), monkeypatch) for member in fleet.members]
    nightly = time.monotonic() - nightly

    # THEN each healed its own estate: the two breakages, nothing else, in the right account; the restore, on AWS's
    # clock, is handed to a follow-up run that finishes it
    outcomes = [{r["name"]: r["outcome"] for r in a["resources"] if r["outcome"] != "ok"} for a in answers]
    assert outcomes == [{"galerly-photos": "restoring"}, {}, {team_b.photos_bucket: "repaired"}, {}, {}, {}]
    with monkeypatch.context() as env:  # Scheduler fires team-a's one-time schedule, in team-a's account
        env.setenv("AWS_ACCESS_KEY_ID", team_a.credentials.access_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", team_a.credentials.secret_key)
        env.setenv("AWS_SESSION_TOKEN", team_a.credentials.token)
        fired = followups.due(fleet.aws.endpoint, timeout=30, advance=fleet.aws.advance_clock)
    finished = invoke(fleet, team_a, fired.event, monkeypatch)
    assert {r["name"]: r["outcome"] for r in finished["resources"] if r["outcome"] != "ok"} == {
        "galerly-photos": "restored"}
    ddb = team_a.client("dynamodb", fleet.aws.endpoint)
    source = ddb.describe_table(TableName="galerly-photos")["Table"]["RestoreSummary"]["SourceBackupArn"]
    assert ddb.describe_backup(BackupArn=source)["BackupDescription"]["BackupDetails"]["BackupName"] == (
        "galerly-photos$DeletedTableBackup")

    # ... the central bus got one event per run, each within PutEvents' limits
    entries = [entry for body in fleet.sent for entry in body["Entries"]]
    assert len(fleet.sent) == 13 and all(len(body["Entries"]) <= 10 for body in fleet.sent)
    assert {e["EventBusName"] for e in entries} == {fleet.bus_arn}
    sizes = [len(e["Source"].encode()) + len(e["DetailType"].encode()) + len(e["Detail"].encode())
             + sum(len(r.encode()) for r in e.get("Resources", [])) + (14 if "Time" in e else 0) for e in entries]
    assert max(sizes) <= KB256 - 2048, sizes
    print(f"\nrun events: {min(sizes)}-{max(sizes)} bytes; 6 first deploys {deployed:.1f} s, "
          f"6 nightly runs {nightly:.1f} s")

    logs = boto3.client("logs", region_name="us-east-1", endpoint_url=fleet.aws.endpoint)
    stored = [json.loads(e["message"]) for e in logs.filter_log_events(logGroupName=fleet.log_group)["events"]]
    assert len(stored) == 13 and {e["account"] for e in stored} == {m.account for m in fleet.members}  # the senders

    # ... and `selfheal fleet` shows the 6 latest runs: the two heals, no error
    done = selfheal_fleet(fleet, "--json")
    assert done.code == 0, done.err + done.out
    view = json.loads(done.out)
    rows = {(r["account"], r["region"]): r for r in view["rows"]}
    assert sorted(rows) == sorted((m.account, m.region) for m in fleet.members)
    triggers = {key: (r["trigger"], r["runs"]) for key, r in rows.items()}
    assert triggers == {key: ("followup", 3) if key == (team_a.account, "us-east-1") else ("schedule", 2)
                        for key in rows}
    assert rows[(team_a.account, "us-east-1")]["healed"] == ["table galerly-photos: restored"]
    assert rows[(team_b.account, "us-east-1")]["healed"] == [f"bucket {team_b.photos_bucket}: repaired"]
    assert sum(r["counts"]["healed"] for r in rows.values()) == 2
    assert all(r["in_error"] == [] and r["counts"]["failed"] == 0 and not r["stale"] for r in rows.values())
    assert all(r["counts"]["ok"] + r["counts"]["healed"] == 16 for r in rows.values())
    assert (view["accounts"], view["account_regions"], view["failing"]) == (3, 6, 0)

    table = selfheal_fleet(fleet)
    assert table.code == 0 and "3 account(s), 6 account/region(s); 2 healed, 0 failing" in table.out


def test_the_bus_refuses_an_account_outside_the_organization_and_the_run_still_stands(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    outsider = Member("999999999999", "us-east-1",
                      other_account_session(fleet.aws.endpoint, "999999999999", "us-east-1").get_credentials())

    answer = invoke(fleet, outsider, {"action": "apply", "only": ["galerly-newsletters"]}, monkeypatch)

    assert answer["summary"]["created"] == 1 and answer["summary"]["failed"] == 0
    assert len(fleet.sent) == 1  # it tried, once
    done = selfheal_fleet(fleet, "--json")
    assert done.code == 1 and json.loads(done.out)["rows"] == []  # nothing stored: no row, and exit 1


def test_the_bus_refuses_a_member_role_that_is_not_selfheals(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a role of an Organization member that is not on selfheal's path (any principal could otherwise speak
    # for its account on the central bus)
    member = fleet.members[0]
    other = Member(member.account, member.region, other_account_session(
        fleet.aws.endpoint, member.account, member.region, "deploy-admin").get_credentials())

    answer = invoke(fleet, other, {"action": "apply", "only": ["galerly-newsletters"]}, monkeypatch)

    assert answer["summary"]["created"] == 1 and len(fleet.sent) == 1
    done = selfheal_fleet(fleet, "--json")
    assert done.code == 1 and json.loads(done.out)["rows"] == []  # refused: nothing stored


def test_selfheal_fleet_refuses_bad_input_before_any_aws_call(fleet: Fleet) -> None:
    fleet.aws.reset_calls()
    for args, said in ((("--since", "a week"), "--since: 'a week' is not an age"),
                       (("--stale-after", "0h"), "--stale-after: '0h' is not an age"),
                       (("--log-group", "no spaces"), "--log-group 'no spaces': not a log group name")):
        done = selfheal_fleet(fleet, *args)
        assert (done.code, done.out) == (1, ""), done
        assert done.err.startswith(f"selfheal: error: {said}") and done.err.count("\n") == 1
    assert fleet.aws.calls() == []
    missing = selfheal_fleet(fleet, "--log-group", "/aws/events/elsewhere")
    assert missing.code == 1 and "no such log group in us-east-1 — deploy fleet/central.yaml" in missing.err
