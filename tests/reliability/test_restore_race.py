"""A table appearing under the name while we restore it: a second restore of the same backup is fine, anything
else is reported — never counted as restored (an empty table there would hide the loss and block the restore)."""

from __future__ import annotations

from selfheal.model import Outcome


def _delete_with_backup(world, table: str) -> None:
    world.ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
    world.ddb.delete_table(TableName=table)  # PITR was on: the patched moto keeps <table>$DeletedTableBackup
    world.aws.reset_calls()  # the scenario's own delete is not selfheal's


def test_an_empty_table_created_meanwhile_is_an_error_and_the_backup_is_kept(seeded, faults):
    _delete_with_backup(seeded, "galerly-users")
    seeded.seeded_items.pop("galerly-users")

    def someone_creates_it_empty() -> None:
        seeded.ddb.create_table(TableName="galerly-users", BillingMode="PAY_PER_REQUEST",
                                KeySchema=[{"AttributeName": "email", "KeyType": "HASH"}],
                                AttributeDefinitions=[{"AttributeName": "email", "AttributeType": "S"}])

    faults.add("dynamodb", "RestoreTableFromBackup", "galerly-users", action=someone_creates_it_empty)

    report = seeded.run(clients=faults.clients())

    users = seeded.result(report, "galerly-users")
    assert users.outcome is Outcome.ERROR
    assert "appeared under that name" in users.reason and "backup is kept" in users.reason
    backups = seeded.ddb.list_backups(TableName="galerly-users", BackupType="ALL")["BackupSummaries"]
    assert [b["BackupType"] for b in backups] == ["SYSTEM"]
    seeded.assert_no_deletes(faults.recorder)


def test_the_same_backup_restored_by_another_run_first_is_success(seeded, faults):
    _delete_with_backup(seeded, "galerly-users")

    def another_run_restores_it() -> None:
        (backup,) = seeded.ddb.list_backups(TableName="galerly-users", BackupType="SYSTEM")["BackupSummaries"]
        seeded.ddb.restore_table_from_backup(TargetTableName="galerly-users", BackupArn=backup["BackupArn"])

    faults.add("dynamodb", "RestoreTableFromBackup", "galerly-users", action=another_run_restores_it)

    report = seeded.run(clients=faults.clients())

    users = seeded.result(report, "galerly-users")
    assert users.outcome is Outcome.RESTORED, users.reason
    assert any("another run restored it" in n for n in users.notes)
    seeded.assert_items_kept()
    seeded.assert_no_deletes(faults.recorder)
