"""Recovery on AWS's clock, as pure plans and outcomes: which copy a missing table comes back from, what waits for
AWS (a backup still being made, a restore under way, one index build at a time), and how a run is classified."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from selfheal.kinds import kind_named
from selfheal.model import Change, Outcome, ResourcePlan, Step
from selfheal.observe.tables import newest_first
from selfheal.outcome import Attempt, classify
from selfheal.plan import plan_table
from selfheal.spec import IndexSpec, KeyAttr
from selfheal.state.account import KeyInfo
from selfheal.state.tables import Backup, IndexState, TableState
from tests.unit.test_plan import MANAGED, TABLES, healthy_table

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/selfheal-backup-restore"
RP_ARN = "arn:aws:backup:us-east-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45"
# What AWS Backup lists without its advanced DynamoDB features: a DynamoDB backup, restored by DynamoDB itself
DDB_RP_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/galerly-photos/backup/01733390400000-1a2b3c4d"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/galerly-photos"


def system(created: datetime = T0, status: str = "AVAILABLE") -> Backup:
    return Backup("arn:sys", "galerly-photos$DeletedTableBackup", "SYSTEM", created, status)


def recovery_point(created: datetime = T0, status: str = "AVAILABLE", arn: str = RP_ARN) -> Backup:
    return Backup(arn, "galerly-photos", "RECOVERY_POINT", created, status, resource_arn=TABLE_ARN)


def missing(*copies: Backup) -> TableState:
    return TableState("galerly-photos", False, backups=newest_first(copies))


# --- which copy -------------------------------------------------------------------------------------------------


def test_the_newest_copy_wins_whatever_its_type():
    older_user = Backup("arn:user", "nightly", "USER", T0 - timedelta(days=1))
    plan = plan_table(TABLES["galerly-photos"], missing(older_user, system()))
    (step,) = plan.steps
    assert (step.operation, step.params["BackupArn"]) == ("restore_table_from_backup", "arn:sys")
    newer_user = replace(older_user, created=T0 + timedelta(minutes=5))
    newest = plan_table(TABLES["galerly-photos"], missing(newer_user, system())).steps[0]
    assert newest.params["BackupArn"] == "arn:user"


def test_a_copy_listed_by_both_apis_is_one_copy():
    native = Backup("arn:aws:dynamodb:us-east-1:1:table/t/backup/1", "b", "AWS_BACKUP", T0)
    same = replace(native, type="RECOVERY_POINT", resource_arn="arn:aws:dynamodb:us-east-1:1:table/t")
    assert newest_first([native, same]) == (same,)


def test_a_backup_still_being_made_is_waited_for_never_skipped_and_never_replaced_by_an_empty_table():
    # GIVEN the deleted table's backup is CREATING, and an older on-demand backup is ready
    ready_but_older = Backup("arn:user", "nightly", "USER", T0 - timedelta(hours=3))
    plan = plan_table(TABLES["galerly-photos"], missing(ready_but_older, system(status="CREATING")))
    # THEN the plan waits for the newest copy and restores that one; nothing creates the table
    assert [(s.operation, s.params.get("BackupArn")) for s in plan.steps] == [
        ("wait_backup", "arn:sys"), ("restore_table_from_backup", "arn:sys")]
    assert "create_table" not in {s.operation for s in plan.steps}


def test_a_recovery_point_is_restored_by_aws_backup_with_the_restore_role_and_the_keys_arn():
    # GIVEN the estate names its key by alias; the plan has it resolved (DescribeKey) to the key's ARN
    spec = replace(TABLES["galerly-photos"], kms_key="alias/galerly")
    key = KeyInfo("arn:aws:kms:us-east-1:123456789012:key/k", True)
    plan = plan_table(spec, missing(recovery_point()), declared_key=key, restore_role=ROLE)
    (step,) = plan.steps
    assert (step.service, step.operation) == ("backup", "start_restore_job")
    assert step.params["RecoveryPointArn"] == RP_ARN and step.params["IamRoleArn"] == ROLE
    assert step.params["Metadata"] == {"targetTableName": "galerly-photos", "encryptionType": "KMS",
                                       "kmsMasterKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"}
    # two runs racing on the same recovery point start one job
    again = plan_table(spec, missing(recovery_point()), declared_key=key, restore_role=ROLE).steps[0]
    assert again.params["IdempotencyToken"] == step.params["IdempotencyToken"]
    assert plan.then_reconcile and {c.path for c in plan.predicted} >= {"pitr", "deletion_protection"}


def test_a_recovery_point_without_a_restore_role_is_an_error_naming_it_and_the_command():
    plan = plan_table(TABLES["galerly-photos"], missing(recovery_point()))
    assert plan.steps == ()
    assert RP_ARN in plan.error and "aws backup start-restore-job" in plan.error
    assert "never created empty" in plan.error
    assert classify(plan) == (Outcome.ERROR, plan.error)


def test_a_recovery_point_being_made_is_waited_for_by_listing_the_tables_points_never_by_a_vault():
    # AWS Backup's listing names no vault for a DynamoDB point (botocore's backup model: only EFS and EC2 points)
    plan = plan_table(TABLES["galerly-photos"], missing(recovery_point(status="CREATING")), restore_role=ROLE)
    assert [(s.service, s.operation) for s in plan.steps] == [
        ("backup", "wait_backup"), ("backup", "start_restore_job")]
    assert plan.steps[0].params == {"ResourceArn": TABLE_ARN, "RecoveryPointArn": RP_ARN}


@pytest.mark.parametrize("role", [ROLE, None], ids=["with a restore role", "without"])
@pytest.mark.parametrize("status", ["AVAILABLE", "CREATING"])
def test_a_recovery_point_that_is_a_dynamodb_backup_is_restored_by_dynamodb_with_or_without_a_role(role, status):
    # GIVEN the newest copy is a point AWS Backup made without its advanced DynamoDB features (arn:aws:dynamodb:...)
    plan = plan_table(TABLES["galerly-photos"], missing(recovery_point(status=status, arn=DDB_RP_ARN)),
                      restore_role=role)
    # THEN DynamoDB's RestoreTableFromBackup restores it (the role holds it on the estate's backups), never
    # StartRestoreJob (the role may start that only on arn:aws:backup:...:recovery-point:*), role or not
    assert plan.error is None
    restore = plan.steps[-1]
    assert (restore.service, restore.operation) == ("dynamodb", "restore_table_from_backup")
    assert restore.params["BackupArn"] == DDB_RP_ARN and restore.params["TargetTableName"] == "galerly-photos"
    if status == "CREATING":  # waited for as the recovery point it was listed as
        assert plan.steps[0].params == {"ResourceArn": TABLE_ARN, "RecoveryPointArn": DDB_RP_ARN}
    else:
        assert len(plan.steps) == 1


def test_a_restore_to_provisioned_billing_names_every_index_of_the_backup_with_its_capacity():
    # GIVEN a provisioned table declaring one index, whose backup holds it and an index no longer declared
    declared = IndexSpec("by-user", KeyAttr("user_id", "S"), None, "ALL", read_capacity=7, write_capacity=3)
    spec = replace(TABLES["galerly-photos"], billing="PROVISIONED", read_capacity=5, write_capacity=2,
                   gsis=(declared,))
    kept = IndexState("by-gallery", KeyAttr("gallery_id", "S"), KeyAttr("created_at", "S"), "INCLUDE", ("title",))
    backup = replace(system(), gsis=(IndexState("by-user", KeyAttr("user_id", "S"), None, "ALL"), kept))
    (step,) = plan_table(spec, missing(backup)).steps
    # THEN every index of the backup is named (one left out would not be restored), each with its capacity
    assert step.params["BillingModeOverride"] == "PROVISIONED"
    assert step.params["ProvisionedThroughputOverride"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}
    assert step.params["GlobalSecondaryIndexOverride"] == [
        {"IndexName": "by-user", "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "ALL"},
         "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3}},
        {"IndexName": "by-gallery", "KeySchema": [{"AttributeName": "gallery_id", "KeyType": "HASH"},
                                                 {"AttributeName": "created_at", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]},
         "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}},
    ]
    # an on-demand restore names no index: the backup's come back as they were
    assert "GlobalSecondaryIndexOverride" not in plan_table(TABLES["galerly-photos"], missing(backup)).steps[0].params


def test_restore_never_still_creates_empty_on_purpose():
    spec = replace(TABLES["galerly-photos"], restore=False)
    plan = plan_table(spec, missing(system()))
    assert plan.steps[0].operation == "create_table"


# --- a table AWS is still making ------------------------------------------------------------------------------


def test_a_table_found_restoring_is_in_progress_with_its_age_never_an_error_or_a_second_restore():
    state = TableState("galerly-photos", True, "CREATING", created_at=T0, restore_in_progress=True,
                       restore_source="arn:sys")
    plan = plan_table(TABLES["galerly-photos"], state, now=T0 + timedelta(minutes=42, seconds=7))
    assert [s.operation for s in plan.steps] == ["wait_active"]  # only waiting; no write of any kind
    assert plan.restoring and plan.then_reconcile
    assert plan.progress == ("restoring from arn:sys for 42m07s",)
    assert classify(plan) == (Outcome.RESTORING, "restoring from arn:sys for 42m07s")
    long = plan_table(TABLES["galerly-photos"], state, now=T0 + timedelta(hours=2, minutes=3))
    assert long.progress == ("restoring from arn:sys for 2h03m",)


def test_a_table_someone_is_creating_is_in_progress_not_restoring():
    plan = plan_table(TABLES["galerly-photos"], TableState("galerly-photos", True, "CREATING"), now=T0)
    assert not plan.restoring and classify(plan)[0] is Outcome.IN_PROGRESS


# --- indexes: one build at a time, never waited for -----------------------------------------------------------


def two_missing_indexes() -> tuple:
    spec = TABLES["galerly-sessions"]
    extra = IndexSpec("ByDevice", KeyAttr("device", "S"), None, "KEYS_ONLY")
    spec = replace(spec, gsis=(*spec.gsis, extra))
    state = replace(healthy_table("galerly-sessions"), gsis=())
    return spec, state


def test_of_two_missing_indexes_one_is_built_and_the_other_waits():
    spec, state = two_missing_indexes()
    plan = plan_table(spec, state, MANAGED)
    creates = [s for s in plan.steps if s.params.get("GlobalSecondaryIndexUpdates")]
    assert len(creates) == 1
    assert creates[0].params["GlobalSecondaryIndexUpdates"][0]["Create"]["IndexName"] == "UserSessionsIndex"
    assert plan.progress == ("index UserSessionsIndex is being built (backfilling)",
                             "index ByDevice waits for index UserSessionsIndex to finish building")


def test_while_an_index_is_building_no_other_is_started_but_other_repairs_go_on():
    spec, state = two_missing_indexes()
    declared = spec.gsis[0]
    building = IndexState(declared.name, declared.hash_key, declared.range_key, declared.projection, status="CREATING")
    plan = plan_table(spec, replace(state, gsis=(building,), pitr=False), MANAGED)
    assert [s.operation for s in plan.steps] == ["update_continuous_backups"]
    assert plan.progress == ("index UserSessionsIndex is being built (backfilling)",
                             "index ByDevice waits for index UserSessionsIndex to finish building")
    assert classify(plan)[0] is Outcome.PENDING  # a write is still due
    quiet = plan_table(spec, replace(state, gsis=(building,)), MANAGED)
    assert classify(quiet)[0] is Outcome.IN_PROGRESS


# --- classify: outcome precedence, one pure function ------------------------------------------------------------

RESTORE = Step("dynamodb", "restore_table_from_backup", {}, (Change("table", "missing", "restored from b"),))
REPAIR = Step("dynamodb", "update_continuous_backups", {}, (Change("pitr", False, True),))


@pytest.mark.parametrize(
    ("run", "conflicts", "expected"),
    [
        (Attempt(failures=["boom"], deferred="late", progress=["restoring"]), ["c"], Outcome.ERROR),
        (Attempt(deferred="late", progress=["restoring"]), ["c"], Outcome.CONFLICT),
        (Attempt(deferred="late", progress=["restoring"], restoring=True), [], Outcome.DEFERRED),
        (Attempt(progress=["restoring"], restoring=True), [], Outcome.RESTORING),
        (Attempt(progress=["index x is being built"]), [], Outcome.IN_PROGRESS),
        (Attempt(), [], Outcome.RESTORED),
    ],
)
def test_outcome_precedence(run: Attempt, conflicts: list[str], expected: Outcome):
    plan = ResourcePlan("table", "t", False, (RESTORE,), then_reconcile=True)
    assert run_(plan, run, conflicts, list(RESTORE.changes))[0] is expected


def test_a_restore_finished_by_a_later_run_is_restored_and_a_repair_is_repaired():
    resumed = ResourcePlan("table", "t", True, (Step("dynamodb", "wait_active", {}),), then_reconcile=True,
                           progress=("restoring",), restoring=True)
    assert run_(resumed, Attempt(waited=True), [], list(REPAIR.changes)) == (
        Outcome.RESTORED, "restore finished; 1 setting(s) set")
    drift = ResourcePlan("table", "t", True, (REPAIR,))
    assert run_(drift, Attempt(), [], list(REPAIR.changes))[0] is Outcome.REPAIRED
    assert run_(drift, Attempt(), [], []) == (Outcome.OK, "")


def test_settings_set_on_a_table_restored_lately_finish_the_restore_an_old_restore_is_drift():
    # GIVEN a table an earlier run restored (ACTIVE now) that still lacks what a restore never carries: PITR, tags
    restored = replace(healthy_table("galerly-photos"), pitr=False, tags=(), restore_source="arn:sys", created_at=T0)
    lately = plan_table(TABLES["galerly-photos"], restored, MANAGED, now=T0 + timedelta(hours=2))
    run_changes = [c for s in lately.steps for c in s.changes]
    # THEN setting them finishes the restore; a restore from last week that drifted is a plain repair
    assert lately.restored_from == "arn:sys"
    assert run_(lately, Attempt(), [], run_changes) == (Outcome.RESTORED, "restore finished; 3 setting(s) set")
    old = plan_table(TABLES["galerly-photos"], restored, MANAGED, now=T0 + timedelta(days=7))
    assert old.restored_from is None and run_(old, Attempt(), [], run_changes)[0] is Outcome.REPAIRED


def test_drift_on_a_table_restored_hours_ago_and_finished_is_a_repair_not_restore_finished():
    # GIVEN a restore finished this morning (tags set), then PITR switched off by hand within the day
    finished = replace(healthy_table("galerly-photos"), pitr=False, restore_source="arn:sys", created_at=T0)
    later = plan_table(TABLES["galerly-photos"], finished, MANAGED, now=T0 + timedelta(hours=3))
    # THEN the next run reports a repair, not "restore finished"
    assert later.restored_from is None
    assert run_(later, Attempt(), [], [c for s in later.steps for c in s.changes])[0] is Outcome.REPAIRED


def run_(plan: ResourcePlan, attempt: Attempt, conflicts: list[str], changes: list[Change]) -> tuple[Outcome, str]:
    """classify() after an apply, with the table kind's create and restore operations."""
    table = kind_named("table")
    done = replace(attempt, conflicts=conflicts, changes=changes)
    return classify(plan, done, creates=table.creates, restores=table.restores)


def test_a_plan_looked_at_an_unreadable_resource_is_an_error_a_conflict_beside_a_read_problem_is_the_conflict():
    write = Step("s3", "put_bucket_versioning", {"Bucket": "b"}, (Change("versioning", "Suspended", "Enabled"),))
    unreadable = ResourcePlan("bucket", "b", True, error="reading bucket b failed")
    both = ResourcePlan("bucket", "b", True, (write,), conflicts=("bucket is in eu-west-1",),
                        error="GetBucketCors on bucket b failed: AccessDenied")
    assert classify(unreadable) == (Outcome.ERROR, "reading bucket b failed")
    assert classify(both) == (Outcome.CONFLICT, "bucket is in eu-west-1")
    # applied, the same plan's read problem is a failure of the run, ahead of the conflict
    assert run_(both, Attempt(failures=[both.error]), list(both.conflicts), [])[0] is Outcome.ERROR
