"""The `backups:` kind on the local AWS with the function role's policy (template.yaml) enforced: a vault with its
governance lock, a plan and its selection are created, drift is repaired, a healthy estate costs reads only, a shorter
retention or a compliance lock is a conflict, and nothing of AWS Backup is ever deleted (the role cannot).

moto has vaults, locks and plans but no UpdateBackupPlan and no selections: the local AWS answers those
(devtools/awsbackup.py), in the fields botocore's output shapes name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.iam import allowed
from devtools.localaws import LocalAws
from selfheal import cli
from tests.e2e.conftest import role_calls
from tests.support.enforce import TEMPLATE
from tests.support.shapes import Capture

ROLE = "arn:aws:iam::123456789012:role/selfheal-BackupRole-1A2B3C4D5E6F"  # the stack's BackupRole, as CFN names it
ESTATE = f"""\
version: 1
backups:
  - name: galerly-backups
    lock: {{min_retention_days: 7, max_retention_days: 400}}
    rules:
      - name: nightly
        schedule: cron(0 2 * * ? *)
        retention_days: 35
      - name: continuous
        schedule: cron(0 * * * ? *)
        retention_days: 35
        continuous: true
    selection:
      role: {ROLE}
      tables: [galerly-users]
      buckets: [galerly-photos]
"""


def run(aws: LocalAws, capsys: pytest.CaptureFixture[str], estate: Path, command: str) -> tuple[int, dict[str, Any]]:
    code = cli.main([command, "--json", "--estate", str(estate), "--endpoint-url", aws.endpoint,
                     "--region", "us-east-1"])
    return code, json.loads(capsys.readouterr().out)


def the(report: dict[str, Any]) -> dict[str, Any]:
    (found,) = [r for r in report["resources"] if r["kind"] == "backup"]
    return found


def writes(aws: LocalAws) -> list[str]:
    return sorted(c["operation"] for c in role_calls(aws) if c["write"])


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    path = tmp_path / "estate.yaml"
    path.write_text(ESTATE)
    return path


@pytest.fixture
def backup(aws: LocalAws) -> Any:
    return boto3.client("backup", region_name="us-east-1", endpoint_url=aws.endpoint)


def plan_of(backup: Any) -> dict[str, Any]:
    (listed,) = [p for p in backup.list_backup_plans()["BackupPlansList"] if p["BackupPlanName"] == "galerly-backups"]
    return dict(backup.get_backup_plan(BackupPlanId=listed["BackupPlanId"]))


def test_created_repaired_and_healthy_with_the_role_enforced(
    aws: LocalAws, estate: Path, backup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, planned = run(aws, capsys, estate, "plan")
    assert code == 2 and the(planned)["outcome"] == "pending"
    assert writes(aws) == []

    aws.reset_calls()
    code, applied = run(aws, capsys, estate, "apply")
    assert code == 0, applied
    result = the(applied)
    assert result["outcome"] == "created"
    assert [c["path"] for c in result["changes"]] == ["vault", "lock", "plan", "selection"]
    assert writes(aws) == ["CreateBackupPlan", "CreateBackupSelection", "CreateBackupVault",
                           "PutBackupVaultLockConfiguration"]
    assert [c for c in role_calls(aws) if c["status"] == 403] == []  # every call inside the role's policy
    vault = backup.describe_backup_vault(BackupVaultName="galerly-backups")
    assert (vault["Locked"], vault["MinRetentionDays"], vault["MaxRetentionDays"]) == (True, 7, 400)
    assert "LockDate" not in vault  # governance mode: no ChangeableForDays was sent
    plan = plan_of(backup)
    rules = {r["RuleName"]: r for r in plan["BackupPlan"]["Rules"]}
    assert rules["nightly"]["Lifecycle"] == {"DeleteAfterDays": 35} and rules["continuous"]["EnableContinuousBackup"]
    (selection,) = backup.list_backup_selections(BackupPlanId=plan["BackupPlanId"])["BackupSelectionsList"]
    got = backup.get_backup_selection(BackupPlanId=plan["BackupPlanId"], SelectionId=selection["SelectionId"])
    assert got["BackupSelection"]["IamRoleArn"] == ROLE
    assert got["BackupSelection"]["Resources"] == ["arn:aws:dynamodb:us-east-1:123456789012:table/galerly-users",
                                                   "arn:aws:s3:::galerly-photos"]

    # healthy: reads only, and few of them (DescribeBackupVault, ListBackupPlans, GetBackupPlan, ListBackupSelections)
    aws.reset_calls()
    code, healthy = run(aws, capsys, estate, "apply")
    assert code == 0 and the(healthy)["outcome"] == "ok"
    assert writes(aws) == []
    assert sorted(c["operation"] for c in role_calls(aws) if c["service"] == "backup") == [
        "DescribeBackupVault", "GetBackupPlan", "ListBackupPlans", "ListBackupSelections"]

    # drift: someone moves the nightly backup and makes a longer retention for it; only that rule is rewritten
    doc = plan["BackupPlan"]
    changed = [{**r, "ScheduleExpression": "cron(0 5 * * ? *)"} if r["RuleName"] == "nightly" else r
               for r in doc["Rules"]]
    inputs = [{k: v for k, v in r.items() if k != "RuleId"} for r in changed]
    backup.update_backup_plan(BackupPlanId=plan["BackupPlanId"],
                              BackupPlan={"BackupPlanName": "galerly-backups", "Rules": inputs})
    aws.reset_calls()
    code, repaired = run(aws, capsys, estate, "apply")
    assert code == 0
    result = the(repaired)
    assert result["outcome"] == "repaired"
    assert result["changes"] == [{"path": "rules.nightly", "from": "cron(0 5 * * ? *), 35 days",
                                  "to": "cron(0 2 * * ? *), 35 days"}]
    assert writes(aws) == ["UpdateBackupPlan"]
    assert {r["RuleName"]: r["ScheduleExpression"] for r in plan_of(backup)["BackupPlan"]["Rules"]} == {
        "nightly": "cron(0 2 * * ? *)", "continuous": "cron(0 * * * ? *)"}

    # someone deletes the plan: it is made again, with its selection
    backup.delete_backup_plan(BackupPlanId=plan["BackupPlanId"])
    aws.reset_calls()
    code, remade = run(aws, capsys, estate, "apply")
    assert code == 0 and the(remade)["outcome"] == "created"
    assert writes(aws) == ["CreateBackupPlan", "CreateBackupSelection"]
    assert [c for c in role_calls(aws) if c["status"] == 403] == []


def test_a_shorter_retention_than_aws_keeps_is_a_conflict_and_nothing_is_written(
    aws: LocalAws, estate: Path, backup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(aws, capsys, estate, "apply")[0] == 0
    plan = plan_of(backup)
    longer = [{**{k: v for k, v in r.items() if k != "RuleId"}, "Lifecycle": {"DeleteAfterDays": 90}}
              if r["RuleName"] == "nightly" else {k: v for k, v in r.items() if k != "RuleId"}
              for r in plan["BackupPlan"]["Rules"]]
    extra = {"RuleName": "monthly", "TargetBackupVaultName": "galerly-backups",
             "ScheduleExpression": "cron(0 3 1 * ? *)", "Lifecycle": {"DeleteAfterDays": 365}}
    backup.update_backup_plan(BackupPlanId=plan["BackupPlanId"],
                              BackupPlan={"BackupPlanName": "galerly-backups", "Rules": [*longer, extra]})
    aws.reset_calls()
    code, report = run(aws, capsys, estate, "apply")
    assert code == 1
    result = the(report)
    assert result["outcome"] == "conflict"
    assert "rule nightly: retention 35 days is shorter than the 90 days" in result["reason"]
    assert "never shortens" in result["reason"]
    assert any("rule(s) monthly" in n and "kept" in n for n in result["notes"])  # an undeclared rule is kept
    assert writes(aws) == []


def test_a_compliance_locked_vault_with_other_settings_is_a_conflict(
    aws: LocalAws, estate: Path, backup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    backup.create_backup_vault(BackupVaultName="galerly-backups")
    backup.put_backup_vault_lock_configuration(BackupVaultName="galerly-backups", MinRetentionDays=1,
                                               MaxRetentionDays=30, ChangeableForDays=3)  # compliance mode
    aws.reset_calls()
    code, report = run(aws, capsys, estate, "apply")
    assert code == 1
    result = the(report)
    assert result["outcome"] == "conflict"
    assert "compliance mode" in result["reason"] and "1-30 days" in result["reason"]
    # the rules' 35 days are outside what the locked vault accepts: reported, not sent to fail on AWS's side
    assert "outside the vault lock's 1-30 days" in result["reason"]
    assert "PutBackupVaultLockConfiguration" not in writes(aws)


@pytest.mark.parametrize("operation", ["DeleteBackupVault", "DeleteBackupPlan", "DeleteBackupSelection",
                                       "DeleteRecoveryPoint", "DeleteBackupVaultLockConfiguration",
                                       "UpdateRecoveryPointLifecycle", "DeleteBackupVaultAccessPolicy"])
def test_the_role_cannot_delete_or_shorten_anything_of_aws_backup(operation: str) -> None:
    for resource in ("arn:aws:backup:us-east-1:123456789012:backup-vault:galerly-backups",
                     "arn:aws:backup:us-east-1:123456789012:backup-plan:0a1b2c3d",
                     "arn:aws:backup:us-east-1:123456789012:recovery-point:ABC"):
        assert not allowed(TEMPLATE, operation, "backup", resource, "us-east-1", "123456789012")


def test_the_role_is_passed_only_to_aws_backup_and_only_the_stacks_backup_role(
    aws: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "estate.yaml"
    other.write_text(ESTATE.replace(ROLE, "arn:aws:iam::123456789012:role/AdminRole"))
    code, report = run(aws, capsys, other, "apply")
    assert code == 1
    result = the(report)
    assert "iam:PassRole" in result["reason"]  # the selection's role must be the stack's BackupRole
    assert "CreateBackupSelection" not in [c["operation"] for c in role_calls(aws) if c["status"] == 200]


def test_the_local_aws_answers_plans_and_selections_only_as_aws_documents(
    aws: LocalAws, estate: Path, backup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the local AWS answers itself (UpdateBackupPlan, the selections) and what moto does, against botocore's
    output shapes: no member the model lacks, no wrong type, nothing required left out."""
    assert run(aws, capsys, estate, "apply")[0] == 0
    capture = Capture()
    client = capture.attach(backup)
    plan = plan_of(client)
    plan_id = plan["BackupPlanId"]
    rules = [{k: v for k, v in r.items() if k != "RuleId"} for r in plan["BackupPlan"]["Rules"]]
    client.update_backup_plan(BackupPlanId=plan_id, BackupPlan={"BackupPlanName": "galerly-backups", "Rules": rules})
    (listed,) = client.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    client.get_backup_selection(BackupPlanId=plan_id, SelectionId=listed["SelectionId"])
    client.describe_backup_vault(BackupVaultName="galerly-backups")
    operations = {operation for operation, _, _ in capture.answers}
    assert {"UpdateBackupPlan", "ListBackupSelections", "GetBackupSelection", "GetBackupPlan"} <= operations
    assert capture.problems("backup") == []
