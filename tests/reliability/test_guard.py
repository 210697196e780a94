"""The blast-radius guard: a scheduled run that finds most of the estate missing is looking at the wrong account or
region (or a catastrophe a person must see) — it stops and alerts. With one table missing it heals as usual."""

from __future__ import annotations

from selfheal.model import Outcome


def test_scheduled_run_with_most_of_the_estate_missing_stops_and_alerts(seeded):
    # 13 of 16 declared resources missing (81% > max_missing_percent 50): 12 tables and the AWS Backup plan.
    report = seeded.run(trigger="schedule")

    assert report.guard_tripped is True
    assert report.exit_code == 1 and report.failed
    reason = report.failure_reason()
    assert reason.startswith("blast-radius guard") and "13 of 16" in reason and "wrong account or region" in reason
    assert "max_missing_percent" in reason  # how to heal on purpose
    assert seeded.aws.writes() == []
    held = {r.name for r in report.results if r.outcome is Outcome.DEFERRED}
    assert held == {r.name for r in seeded.estate.resources}  # the 3 seeded ones are drifted: held too
    assert all(r.reason == "held by the blast-radius guard" for r in report.results)
    seeded.assert_no_deletes()
    seeded.assert_items_kept()

    # A person heals on purpose (a cli/deploy run is not held); after that the nightly run finds nothing to do.
    seeded.converge(first_clean_run_writes=True)
    seeded.aws.reset_calls()
    nightly = seeded.run(trigger="schedule")
    assert not nightly.guard_tripped and nightly.exit_code == 0 and seeded.aws.writes() == []


def test_scheduled_run_with_one_table_missing_restores_it(world):
    assert world.run().exit_code == 0
    lost = "galerly-client-feedback"
    for i in range(4):
        world.ddb.put_item(TableName=lost, Item={"gallery_id": {"S": "g"}, "id": {"S": str(i)}})
    world.ddb.update_table(TableName=lost, DeletionProtectionEnabled=False)
    world.ddb.delete_table(TableName=lost)  # PITR was on: AWS keeps <table>$DeletedTableBackup
    world.aws.reset_calls()

    report = world.run(trigger="schedule")

    assert not report.guard_tripped and report.exit_code == 0, report.failure_reason()
    assert {r.name: r.outcome for r in report.results if r.outcome is not Outcome.OK} == {lost: Outcome.RESTORED}
    assert {c["name"] for c in world.aws.writes()} == {lost}
    assert not [c for c in world.aws.calls() if c["operation"] in ("CreateTable", "DeleteTable")]
    world.seeded_items[lost] = 4
    world.converge(first_clean_run_writes=False)
