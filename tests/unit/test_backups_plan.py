"""The backups kind's plan, pure: what it writes, and what it refuses to (delete, shorten, unlock)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from selfheal.kinds.backups import (
    BackupRule,
    BackupSpec,
    BackupState,
    CopyTo,
    plan_backups,
    rule_input,
    selection_input,
)

ROLE = "arn:aws:iam::123456789012:role/selfheal-BackupRole-1A2B3C"
DR = "arn:aws:backup:us-west-2:123456789012:backup-vault:galerly-dr"
SPEC = BackupSpec("galerly-backups", "us-east-1", (BackupRule("nightly", "cron(0 2 * * ? *)", 35,
                                                              copy_to=(CopyTo(DR, 90),)),),
                  ROLE, tables=("galerly-users",), lock=(7, 400))
VAULT = {"BackupVaultName": "galerly-backups", "Locked": True, "MinRetentionDays": 7, "MaxRetentionDays": 400,
         "BackupVaultArn": "arn:aws:backup:us-east-1:123456789012:backup-vault:galerly-backups"}
PLAN_ARN = "arn:aws:backup:us-east-1:123456789012:backup-plan:p-1"


def healthy(spec: BackupSpec = SPEC, **changes: Any) -> BackupState:
    rules = tuple({**rule_input(r, spec.name), "RuleId": f"r-{i}"} for i, r in enumerate(spec.rules))
    selection = {"SelectionName": selection_input(spec, "123456789012")["SelectionName"], "SelectionId": "s-1"}
    return replace(BackupState(spec.name, True, VAULT, "p-1", PLAN_ARN, rules, (selection,)), **changes)


def test_a_healthy_plan_is_in_sync() -> None:
    assert plan_backups(SPEC, healthy()).in_sync


def test_a_copy_kept_for_less_time_than_now_is_a_conflict_and_nothing_is_written() -> None:
    longer = ({**rule_input(SPEC.rules[0], SPEC.name),
               "CopyActions": [{"DestinationBackupVaultArn": DR, "Lifecycle": {"DeleteAfterDays": 365}}]},)
    plan = plan_backups(SPEC, healthy(rules=longer))
    assert plan.steps == ()
    assert plan.conflicts == (f"rule nightly: the copy to {DR} would be kept 90 days, less than the 365 days now, "
                              "and selfheal never shortens a retention: declare no fewer days",)


def test_a_longer_retention_is_written_and_undeclared_rules_are_sent_back() -> None:
    extra = {"RuleName": "monthly", "TargetBackupVaultName": SPEC.name, "ScheduleExpression": "cron(0 3 1 * ? *)",
             "Lifecycle": {"DeleteAfterDays": 365}, "RuleId": "r-9"}
    shorter = ({**rule_input(SPEC.rules[0], SPEC.name), "Lifecycle": {"DeleteAfterDays": 14}}, extra)
    plan = plan_backups(SPEC, healthy(rules=shorter))
    (step,) = plan.steps
    assert step.operation == "update_backup_plan"
    assert [r["RuleName"] for r in step.params["BackupPlan"]["Rules"]] == ["nightly", "monthly"]
    assert "RuleId" not in step.params["BackupPlan"]["Rules"][1]  # UpdateBackupPlan takes rule inputs
    assert plan.conflicts == () and any("monthly" in n for n in plan.notes)


def test_a_governance_lock_is_set_as_declared_and_an_undeclared_one_is_left() -> None:
    plan = plan_backups(SPEC, healthy(vault={**VAULT, "MinRetentionDays": 1}))
    (step,) = plan.steps
    assert step.operation == "put_backup_vault_lock_configuration"
    assert step.params == {"BackupVaultName": SPEC.name, "MinRetentionDays": 7, "MaxRetentionDays": 400}
    unlocked = replace(SPEC, lock=None)
    plan = plan_backups(unlocked, healthy(unlocked))
    assert plan.steps == () and any("never removes a lock" in n for n in plan.notes)


def test_a_changed_selection_is_created_beside_the_old_one() -> None:
    wider = replace(SPEC, buckets=("galerly-images-storage",))
    plan = plan_backups(wider, healthy())
    (step,) = plan.steps
    assert step.operation == "create_backup_selection"
    assert step.params["BackupSelection"]["Resources"] == [
        "arn:aws:dynamodb:us-east-1:123456789012:table/galerly-users", "arn:aws:s3:::galerly-images-storage"]
    assert any("kept beside the new one" in n for n in plan.notes)


def test_no_step_ever_deletes() -> None:
    for state in (healthy(), BackupState(SPEC.name, False), healthy(rules=()), healthy(selections=())):
        assert all(not s.operation.startswith("delete") for s in plan_backups(SPEC, state).steps)
