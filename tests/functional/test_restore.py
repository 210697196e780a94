"""A missing table is restored from its backup before it is ever created empty; what a restore drops is set again."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from tests.functional.helpers import assert_table_as_declared, restart_call_log, result, run, table_spec

SESSIONS = "galerly-sessions"  # declares a TTL and an index, so the restore has more to carry and to set again
NEWSLETTERS = "galerly-newsletters"


def items_for(spec: Any, count: int, start: int = 0) -> list[dict[str, Any]]:
    """Items that fill the table's keys and index keys, with one extra attribute."""
    out = []
    for i in range(start, start + count):
        item = {k: {"S": f"{k}-{i}"} for k in spec.attributes}
        item["payload"] = {"S": f"row {i}"}
        out.append(item)
    return out


def put_items(ddb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for item in items:
        ddb.put_item(TableName=table, Item=item)


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items, kwargs = [], {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: i["payload"]["S"])
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def backups(ddb: Any, table: str) -> list[dict[str, Any]]:
    return ddb.list_backups(TableName=table, BackupType="ALL")["BackupSummaries"]


def delete_by_hand(ddb: Any, table: str) -> None:
    ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
    ddb.delete_table(TableName=table)


@pytest.fixture
def sessions(aws, estate, ddb) -> Any:
    """GIVEN the sessions table exists as declared (PITR on)."""
    report = run(aws.endpoint, estate, "apply", only=(SESSIONS,))
    assert result(report, SESSIONS).outcome.value == "created"
    return table_spec(estate, SESSIONS)


def test_deleted_table_is_restored_from_its_deleted_table_backup_with_all_items(aws, estate, ddb, kms, sessions):
    items = items_for(sessions, 30)
    put_items(ddb, SESSIONS, items)
    delete_by_hand(ddb, SESSIONS)
    (system,) = backups(ddb, SESSIONS)
    assert (system["BackupName"], system["BackupType"]) == (f"{SESSIONS}$DeletedTableBackup", "SYSTEM")

    # WHEN plan runs THEN it says the table would be restored from that backup
    plan = result(run(aws.endpoint, estate, "plan", only=(SESSIONS,)), SESSIONS)
    assert plan.outcome.value == "pending"
    assert plan.reason.startswith(f"would be restored from backup {SESSIONS}$DeletedTableBackup (SYSTEM")

    # WHEN apply runs THEN it restores it, with every item, and sets again what a restore does not carry
    restart_call_log(aws)
    applied = result(run(aws.endpoint, estate, "apply", only=(SESSIONS,)), SESSIONS)

    assert applied.outcome.value == "restored", applied.reason
    assert f"{SESSIONS}$DeletedTableBackup" in applied.reason
    assert [c["operation"] for c in aws.writes() if c["operation"] in ("CreateTable", "RestoreTableFromBackup")] == [
        "RestoreTableFromBackup"
    ]
    assert scan(ddb, SESSIONS) == sorted(items, key=lambda i: i["payload"]["S"])
    got = assert_table_as_declared(ddb, kms, sessions)  # PITR 35 days, TTL, tags, protection, billing, SSE, index
    assert got["tags"] == dict(sessions.tags)
    changed = {c.path for c in applied.changes}
    assert {"table", "pitr", "ttl", "deletion_protection", "tags.app", "tags.managed-by"} <= changed
    assert run(aws.endpoint, estate, "plan", only=(SESSIONS,)).exit_code == 0


def test_table_with_only_on_demand_backups_is_restored_from_the_newest(aws, estate, ddb, kms, sessions):
    """GIVEN PITR was off when the table was deleted (no system backup) and two on-demand backups exist."""
    first = items_for(sessions, 3)
    put_items(ddb, SESSIONS, first)
    ddb.create_backup(TableName=SESSIONS, BackupName="older")
    time.sleep(0.05)  # distinct creation times (and backup ARNs, which carry milliseconds)
    later = items_for(sessions, 4, start=3)
    put_items(ddb, SESSIONS, later)
    ddb.create_backup(TableName=SESSIONS, BackupName="newer")
    ddb.update_continuous_backups(
        TableName=SESSIONS, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    delete_by_hand(ddb, SESSIONS)
    assert sorted((b["BackupName"], b["BackupType"]) for b in backups(ddb, SESSIONS)) == [
        ("newer", "USER"),
        ("older", "USER"),
    ]

    applied = result(run(aws.endpoint, estate, "apply", only=(SESSIONS,)), SESSIONS)

    assert applied.outcome.value == "restored", applied.reason
    assert applied.reason.startswith("restored from backup newer (USER")
    assert len(scan(ddb, SESSIONS)) == len(first + later)
    assert_table_as_declared(ddb, kms, sessions)


def test_table_without_any_backup_is_created_empty(aws, estate, ddb, kms):
    """GIVEN the newsletters table existed with PITR off and was deleted: nothing to restore from."""
    spec = table_spec(estate, NEWSLETTERS)
    run(aws.endpoint, estate, "apply", only=(NEWSLETTERS,))
    put_items(ddb, NEWSLETTERS, items_for(spec, 2))
    ddb.update_continuous_backups(
        TableName=NEWSLETTERS, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    delete_by_hand(ddb, NEWSLETTERS)
    assert backups(ddb, NEWSLETTERS) == []

    applied = result(run(aws.endpoint, estate, "apply", only=(NEWSLETTERS,)), NEWSLETTERS)

    assert applied.outcome.value == "created"
    assert "created (no backup found)" in applied.reason
    assert scan(ddb, NEWSLETTERS) == []
    assert_table_as_declared(ddb, kms, spec)


def test_restore_off_creates_the_table_empty_and_keeps_the_backup(aws, estate, ddb, kms, sessions):
    put_items(ddb, SESSIONS, items_for(sessions, 5))
    delete_by_hand(ddb, SESSIONS)
    (backup,) = backups(ddb, SESSIONS)

    plan = result(run(aws.endpoint, estate, "plan", restore=False, only=(SESSIONS,)), SESSIONS)
    applied = result(run(aws.endpoint, estate, "apply", restore=False, only=(SESSIONS,)), SESSIONS)

    assert plan.reason == "would be created (restore: never)"
    assert applied.outcome.value == "created"
    assert applied.reason == "created (restore: never)"
    assert scan(ddb, SESSIONS) == []
    assert_table_as_declared(ddb, kms, sessions)
    assert [b["BackupArn"] for b in backups(ddb, SESSIONS)] == [backup["BackupArn"]]
    assert (
        ddb.describe_backup(BackupArn=backup["BackupArn"])["BackupDescription"]["BackupDetails"]["BackupStatus"]
        == "AVAILABLE"
    )


def test_a_restore_to_provisioned_billing_names_every_index_with_its_declared_capacity(aws, estate, ddb, kms, sessions):
    # GIVEN the on-demand sessions table (one index) deleted by hand, and the estate now declaring it provisioned
    put_items(ddb, SESSIONS, items_for(sessions, 10))
    delete_by_hand(ddb, SESSIONS)
    index = dataclasses.replace(sessions.gsis[0], read_capacity=3, write_capacity=2)
    provisioned = dataclasses.replace(sessions, billing="PROVISIONED", read_capacity=5, write_capacity=4, gsis=(index,))
    declared = estate.with_section("tables", tuple(provisioned if t.name == SESSIONS else t for t in estate.tables))

    # WHEN apply restores it from its $DeletedTableBackup (on-demand: its index has no capacity of its own)
    restart_call_log(aws)
    applied = result(run(aws.endpoint, declared, "apply", only=(SESSIONS,)), SESSIONS)

    # THEN the restore itself gave the index its declared capacity (read from DescribeBackup): no repair afterwards
    assert applied.outcome.value == "restored", applied.reason
    assert not [c for c in applied.changes if c.path.startswith(("gsis.", "billing"))], applied.changes
    table = ddb.describe_table(TableName=SESSIONS)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    (restored,) = table["GlobalSecondaryIndexes"]
    assert restored["IndexName"] == index.name
    assert (restored["ProvisionedThroughput"]["ReadCapacityUnits"],
            restored["ProvisionedThroughput"]["WriteCapacityUnits"]) == (3, 2)
    assert len(scan(ddb, SESSIONS)) == 10
    assert_table_as_declared(ddb, kms, provisioned)
