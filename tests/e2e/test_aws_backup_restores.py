"""A deleted table whose only copy is in AWS Backup, brought back by `selfheal apply` as a person runs it (a
subprocess, the function role's policy enforced on every call it makes), on the local AWS's clock.

The copy is each of what AWS Backup makes of a DynamoDB table: a recovery point arn:aws:backup:...:recovery-point:...
(its advanced DynamoDB features on) or a DynamoDB backup arn:aws:dynamodb:...:table/T/backup/... (off, older
accounts' default); finished, or still CREATING and listed, as AWS lists a DynamoDB point, with no vault name. Each is
run with and without a restore role. Every run either brings the items back or, while the copy cannot be restored
by this run, leaves no table, exits non-zero and prints one reason, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.breakage import delete_table, switch_off_pitr
from devtools.followups import RESTORE_ROLE
from devtools.localaws import LocalAws
from selfheal.loader import load_estate
from tests.e2e.conftest import put_items
from tests.support import cli
from tests.support.cli import Run
from tests.support.estates import GALERLY
from tests.support.shapes import problems

pytestmark = pytest.mark.e2e

PHOTOS = "galerly-photos"
ITEMS = 40


@pytest.fixture(scope="module")
def polling_estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' Galerly estate, checking on AWS's slow work every 0.2 s, not every 5: a 1 s restore is waited for
    about 1 s on the wall clock, not a whole 5 s poll."""
    path = tmp_path_factory.mktemp("polling") / "estate.yaml"
    path.write_text(GALERLY.read_text(encoding="utf-8").replace("settings:\n", "settings:\n  poll_seconds: 0.2\n", 1),
                    encoding="utf-8")
    assert load_estate(path, env={}).settings.poll_seconds == 0.2
    return path


@pytest.fixture
def selfheal(aws: LocalAws, polling_estate: Path) -> Callable[..., Run]:
    """`selfheal ARGS --only galerly-photos` in a subprocess, as a person runs it (on the local AWS of `aws`)."""
    env = cli.environment(SELFHEAL_ESTATE=str(polling_estate))
    return lambda *args: cli.selfheal(*args, "--only", PHOTOS, env=env)


def points(aws: LocalAws) -> list[dict[str, Any]]:
    backup = boto3.client("backup", region_name="us-east-1", endpoint_url=aws.endpoint)
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{PHOTOS}"
    answer = backup.list_recovery_points_by_resource(ResourceArn=arn)
    return list(answer["RecoveryPoints"])


def assert_refused_cleanly(run: Run, ddb: Any) -> None:
    """No table, a non-zero exit, a reason, and no traceback."""
    assert run.code != 0, run.out
    assert "Traceback" not in run.err + run.out, run.err
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName=PHOTOS)


@pytest.fixture
def only_copy_in_aws_backup(aws: LocalAws, selfheal: Callable[..., Run]) -> Any:
    """GIVEN the photos table with items, PITR off (no $DeletedTableBackup), restores taking 1 s on AWS's clock."""
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.endpoint)
    made = selfheal("apply")
    assert made.code == 0, made.err
    put_items(ddb, PHOTOS, ITEMS)
    switch_off_pitr(ddb, PHOTOS)
    aws.set_clock(restore=1)
    return ddb


@pytest.mark.parametrize("role", [True, False], ids=["with a restore role", "without one"])
@pytest.mark.parametrize("advanced", [True, False], ids=["backup ARN", "DynamoDB backup ARN"])
def test_a_table_whose_only_copy_is_an_aws_backup_point_comes_back_with_its_items(
    aws: LocalAws, only_copy_in_aws_backup: Any, selfheal: Callable[..., Run], advanced: bool, role: bool
) -> None:
    ddb = only_copy_in_aws_backup
    point = aws.add_recovery_point(PHOTOS, advanced=advanced)
    delete_table(ddb, PHOTOS)
    # the listing is AWS's: no vault name for a DynamoDB point, nothing the model does not have
    assert problems("backup", "ListRecoveryPointsByResource", {"RecoveryPoints": points(aws)}, "DynamoDB") == []
    aws.reset_calls()

    # WHEN a person runs apply, with or without AWS Backup's restore role
    run = selfheal("apply", *(["--restore-role", RESTORE_ROLE] if role else []))
    operations = {c["operation"] for c in aws.calls() if c.get("client") == "selfheal"}

    if advanced and not role:
        # THEN only AWS Backup can restore this point, under a role: the reason names the point and the command
        assert_refused_cleanly(run, ddb)
        assert point in run.out + run.err and "start-restore-job" in run.out + run.err
        assert not operations & {"CreateTable", "StartRestoreJob", "RestoreTableFromBackup"}
        # AND the same run with the role brings it back
        run = selfheal("apply", "--restore-role", RESTORE_ROLE)
        operations = {c["operation"] for c in aws.calls() if c.get("client") == "selfheal"}

    # THEN the table is back with its items; a DynamoDB backup is restored by DynamoDB, never by StartRestoreJob
    assert run.code == 0, run.out + run.err
    assert ddb.scan(TableName=PHOTOS, Select="COUNT")["Count"] == ITEMS
    assert ddb.describe_table(TableName=PHOTOS)["Table"]["RestoreSummary"]["SourceBackupArn"] == point
    assert "CreateTable" not in operations
    assert ("StartRestoreJob" in operations) is advanced
    assert ("RestoreTableFromBackup" in operations) is not advanced


@pytest.mark.parametrize("role", [True, False], ids=["with a restore role", "without one"])
@pytest.mark.parametrize("advanced", [True, False], ids=["backup ARN", "DynamoDB backup ARN"])
def test_a_point_still_being_made_listed_without_a_vault_is_waited_for_never_replaced_by_an_empty_table(
    aws: LocalAws, only_copy_in_aws_backup: Any, selfheal: Callable[..., Run], advanced: bool, role: bool
) -> None:
    ddb = only_copy_in_aws_backup
    # GIVEN the only copy is still CREATING for 10 minutes
    aws.add_recovery_point(PHOTOS, advanced=advanced, completes_in=600)
    delete_table(ddb, PHOTOS)
    (listed,) = points(aws)
    assert listed["Status"] == "CREATING" and "BackupVaultName" not in listed
    aws.reset_calls()
    role_args = ["--restore-role", RESTORE_ROLE] if role else []

    # WHEN apply runs with 1 s to spend while AWS is still making the copy
    first = selfheal("apply", "--time-budget", "1", *role_args)

    # THEN no table, a non-zero exit, a reason, no traceback; nothing created or restored
    assert_refused_cleanly(first, ddb)
    made = {c["operation"] for c in aws.calls() if c.get("client") == "selfheal"}
    assert not made & {"CreateTable", "StartRestoreJob", "RestoreTableFromBackup", "DescribeRecoveryPoint"}

    # WHEN the copy is done and apply runs again (with the role where AWS Backup must restore)
    aws.advance_clock(600)
    assert [p["Status"] for p in points(aws)] == ["COMPLETED"]
    second = selfheal("apply", *(role_args or (["--restore-role", RESTORE_ROLE] if advanced else [])))

    # THEN the items are back, never an empty table
    assert second.code == 0, second.out + second.err
    assert ddb.scan(TableName=PHOTOS, Select="COUNT")["Count"] == ITEMS
    assert "CreateTable" not in {c["operation"] for c in aws.calls() if c.get("client") == "selfheal"}
