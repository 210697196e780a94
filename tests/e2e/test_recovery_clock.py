"""Recovery on AWS's clock, end to end: the real handler against a local AWS whose restores, backups and new buckets
take time, with the function role's policy (template.yaml) enforced on every call it makes.

A restore that outlives the Lambda hands over to a follow-up run through an EventBridge Scheduler one-time schedule;
the test plays Scheduler (devtools/followups.py): it moves AWS's clock on until the schedule is due (no test waits for
AWS), deletes it as ActionAfterCompletion DELETE does, and invokes the handler with the schedule's Input.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from devtools import followups
from devtools.breakage import delete_table
from devtools.invoke import LambdaContext
from devtools.localaws import LocalAws
from tests.e2e.conftest import heal_from_empty, put_items, role_calls
from tests.support.estates import GALERLY
from tests.support.handler import invoke

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

EVENTS = os.path.join(os.path.dirname(__file__), "..", "..", "events")
PHOTOS = "galerly-photos"


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, enforced: LocalAws) -> LocalAws:
    """The function's environment as the template sets it, with the schedule group it creates."""
    for name in list(os.environ):
        if name.startswith("SELFHEAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SELFHEAL_ESTATE", str(GALERLY))  # as the stack names /var/task/estate.yaml
    followups.create_group(enforced.endpoint)
    return enforced


def scheduled_event() -> dict[str, Any]:
    with open(os.path.join(EVENTS, "scheduled.json"), encoding="utf-8") as fh:
        return json.load(fh)


def photos(report: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in report["resources"] if r["name"] == PHOTOS)


def test_a_90s_restore_meets_a_30s_lambda_and_a_followup_finishes_it(
    function_env: LocalAws, monkeypatch, ddb: Any
) -> None:
    aws = function_env
    # GIVEN a healthy estate whose photos table holds 2,000 items, and a local AWS where a restore takes 90 s
    heal_from_empty(aws.endpoint)
    put_items(ddb, PHOTOS, 2000)
    aws.set_clock(restore=90)
    delete_table(ddb, PHOTOS)
    monkeypatch.setenv("SELFHEAL_FOLLOWUP_DELAY_SECONDS", "95")
    for name, value in followups.function_environment(95).items():
        monkeypatch.setenv(name, value)
    aws.reset_calls()

    # WHEN the nightly event reaches a function with a 30-second timeout
    started = time.monotonic()
    first = invoke(scheduled_event(), timeout_s=30).result

    # THEN the run ends in time, reports the table restoring, hands over to one follow-up, and created nothing
    assert time.monotonic() - started < 30
    assert photos(first)["outcome"] == "restoring", photos(first)
    assert photos(first)["reason"].startswith("restoring from backup galerly-photos$DeletedTableBackup (SYSTEM")
    assert first["summary"]["failed"] == 0 and first["summary"]["restoring"] == 1
    assert first["followup"]["link"] == 1 and first["followup"]["followup_at"]
    calls = role_calls(aws)
    assert [c["operation"] for c in calls].count("RestoreTableFromBackup") == 1
    assert "CreateTable" not in {c["operation"] for c in calls}
    (schedule,) = followups.pending(aws.endpoint)
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["RoleArn"] == followups.SCHEDULER_ROLE
    assert schedule["Target"]["Arn"] == LambdaContext().invoked_function_arn
    assert ddb.describe_table(TableName=PHOTOS)["Table"]["TableStatus"] == "CREATING"

    # WHEN Scheduler fires the follow-up (after the restore has finished)
    fired = followups.due(aws.endpoint, timeout=120, advance=aws.advance_clock)
    aws.reset_calls()
    second = invoke(fired.event, timeout_s=30).result

    # THEN the table is back with every item and its declared settings, and nothing more is scheduled
    assert photos(second)["outcome"] == "restored", photos(second)
    assert second["summary"]["failed"] == 0 and second["summary"]["unfinished"] == 0
    assert "followup" not in second
    assert ddb.scan(TableName=PHOTOS, Select="COUNT")["Count"] == 2000
    table = ddb.describe_table(TableName=PHOTOS)["Table"]
    assert table["TableStatus"] == "ACTIVE" and table["DeletionProtectionEnabled"] is True
    pitr = ddb.describe_continuous_backups(TableName=PHOTOS)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]}
    assert tags.get("managed-by") == "selfheal"
    ttl = ddb.describe_time_to_live(TableName=PHOTOS)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] in ("ENABLED", "DISABLED")  # photos declares no TTL: left as restored
    assert followups.pending(aws.endpoint) == []
    operations = [c["operation"] for c in role_calls(aws)]
    assert not [op for op in operations if op.startswith("Delete")]
    assert "CreateSchedule" not in operations and "RestoreTableFromBackup" not in operations


def test_a_deploy_during_a_slow_restore_answers_success_with_the_counts(
    function_env: LocalAws, monkeypatch, ddb: Any
) -> None:
    aws = function_env
    heal_from_empty(aws.endpoint)
    put_items(ddb, PHOTOS, 20)
    aws.set_clock(restore=90)
    delete_table(ddb, PHOTOS)
    for name, value in followups.function_environment(300).items():
        monkeypatch.setenv(name, value)
    with open(os.path.join(EVENTS, "cfn-create.json"), encoding="utf-8") as fh:
        event = json.load(fh)

    # WHEN CloudFormation creates the stack's custom resource while the restore runs
    (response,) = invoke(event, timeout_s=30).responses

    # THEN one SUCCESS (no rollback), with the restoring count and when the follow-up runs
    assert response["Status"] == "SUCCESS", response
    assert response["Data"]["restoring"] == 1 and response["Data"]["failed"] == 0
    assert response["Data"]["followup_at"]
    assert [s["Name"] for s in followups.pending(aws.endpoint)] == ["selfheal-followup-01"]


def test_a_deleted_table_backup_still_being_made_is_waited_for_never_replaced_by_an_empty_table(
    function_env: LocalAws, monkeypatch, ddb: Any
) -> None:
    aws = function_env
    heal_from_empty(aws.endpoint)
    put_items(ddb, PHOTOS, 50)
    # GIVEN the deleted table's backup takes 8 minutes to become AVAILABLE, and a restore 2; follow-ups 10 minutes on
    aws.set_clock(backup=480, restore=120)
    delete_table(ddb, PHOTOS)
    for name, value in followups.function_environment(600).items():
        monkeypatch.setenv(name, value)
    aws.reset_calls()

    # WHEN a run with 5 s to live (2 s after the 3 s margin: the one wait on the wall clock here) lands while the
    # backup is CREATING
    first = invoke(scheduled_event(), timeout_s=5).result

    # THEN it waited what it could, deferred, and neither created the table nor restored an unfinished backup
    assert photos(first)["outcome"] == "deferred", photos(first)
    assert "still being made" in photos(first)["reason"]
    operations = {c["operation"] for c in role_calls(aws)}
    assert "CreateTable" not in operations and "RestoreTableFromBackup" not in operations
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName=PHOTOS)

    # WHEN the follow-ups run (each fired by its schedule) until nothing is left
    outcomes = []
    report = first
    while "followup" in report:
        report = invoke(followups.due(aws.endpoint, timeout=3600, advance=aws.advance_clock).event, timeout_s=30).result
        outcomes.append(photos(report)["outcome"])

    # THEN the backup was restored once it was AVAILABLE, with its items; never an empty create
    assert outcomes[-1] == "restored" and set(outcomes) <= {"deferred", "restoring", "restored"}, outcomes
    assert ddb.scan(TableName=PHOTOS, Select="COUNT")["Count"] == 50
    assert "CreateTable" not in {c["operation"] for c in role_calls(aws)}


def test_a_table_kept_only_by_aws_backup_is_restored_by_aws_backup_never_created_empty(
    function_env: LocalAws, monkeypatch, ddb: Any
) -> None:
    aws = function_env
    heal_from_empty(aws.endpoint)
    put_items(ddb, PHOTOS, 30)
    # GIVEN the table's only copy is an AWS Backup recovery point (PITR was off, so no $DeletedTableBackup)
    ddb.update_continuous_backups(TableName=PHOTOS,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    point = aws.add_recovery_point(PHOTOS)
    delete_table(ddb, PHOTOS)
    assert ddb.list_backups(TableName=PHOTOS, BackupType="ALL")["BackupSummaries"] == []
    aws.set_clock(restore=120)
    aws.reset_calls()

    # WHEN a run without a restore role (the CLI's case) meets it
    for name in ("SELFHEAL_BACKUP_RESTORE_ROLE_ARN", "SELFHEAL_FOLLOWUP_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    bare = invoke(scheduled_event(), timeout_s=30).result
    # THEN it is an error naming the recovery point and the command, and nothing is created
    assert photos(bare)["outcome"] == "error" and point in photos(bare)["reason"]
    assert "start-restore-job" in photos(bare)["reason"]
    assert "CreateTable" not in {c["operation"] for c in role_calls(aws)}

    # WHEN the deployed function (with its restore role) runs, then its follow-up
    for name, value in followups.function_environment(180).items():
        monkeypatch.setenv(name, value)
    first = invoke(scheduled_event(), timeout_s=30).result
    assert photos(first)["outcome"] == "restoring", photos(first)
    second = invoke(followups.due(aws.endpoint, timeout=3600, advance=aws.advance_clock).event, timeout_s=30).result

    # THEN AWS Backup restored it with its items; the role passed only the restore role; never an empty create
    assert photos(second)["outcome"] == "restored", photos(second)
    assert ddb.scan(TableName=PHOTOS, Select="COUNT")["Count"] == 30
    jobs = [c for c in role_calls(aws) if c["operation"] == "StartRestoreJob"]
    assert len(jobs) == 1
    assert "CreateTable" not in {c["operation"] for c in role_calls(aws)}


def test_index_builds_are_started_one_at_a_time_and_never_waited_for(
    function_env: LocalAws, monkeypatch, ddb: Any
) -> None:
    aws = function_env
    heal_from_empty(aws.endpoint)
    put_items(ddb, PHOTOS, 40)
    # GIVEN both of the photos table's indexes were dropped, and an index backfills for 5 minutes
    for index in ("PhotoIdIndex", "UserPhotosIndex"):
        ddb.update_table(TableName=PHOTOS, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index}}])
    aws.set_clock(gsi=300)
    for name, value in followups.function_environment(300).items():
        monkeypatch.setenv(name, value)
    aws.reset_calls()

    # WHEN the nightly run reaches it
    started = time.monotonic()
    first = invoke(scheduled_event(), timeout_s=30).result

    # THEN it starts one build and ends without waiting for the backfill; the other index waits its turn
    assert time.monotonic() - started < 10
    assert photos(first)["outcome"] == "in_progress", photos(first)
    assert "is being built (backfilling)" in photos(first)["reason"]
    assert "waits for index" in photos(first)["reason"]
    builds = [c for c in role_calls(aws) if c["operation"] == "UpdateTable"]
    assert len(builds) == 1 and builds[0]["status"] == 200
    described = ddb.describe_table(TableName=PHOTOS)["Table"]
    (building,) = described["GlobalSecondaryIndexes"]
    assert (building["IndexStatus"], building.get("Backfilling")) == ("CREATING", True)

    # WHEN the follow-ups run until nothing is left
    outcomes, report = [], first
    while "followup" in report:
        report = invoke(followups.due(aws.endpoint, timeout=3600, advance=aws.advance_clock).event, timeout_s=30).result
        outcomes.append(photos(report)["outcome"])

    # THEN both indexes end ACTIVE, built one after the other, never refused by AWS, with every item kept
    assert outcomes[-1] == "ok" and set(outcomes[:-1]) == {"in_progress"}, outcomes
    indexes = ddb.describe_table(TableName=PHOTOS)["Table"]["GlobalSecondaryIndexes"]
    assert sorted((i["IndexName"], i["IndexStatus"]) for i in indexes) == [
        ("PhotoIdIndex", "ACTIVE"), ("UserPhotosIndex", "ACTIVE")]
    updates = [c for c in role_calls(aws) if c["operation"] == "UpdateTable"]
    assert [c["status"] for c in updates] == [200, 200]
    assert ddb.scan(TableName=PHOTOS, Select="COUNT")["Count"] == 40
