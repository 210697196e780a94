"""A run that runs out of time (the Lambda's 15 minutes, or --time-budget) stops starting work and says what is left.

GIVEN a time budget WHEN AWS is slow mid-run THEN resources not started are `deferred` with no write made, the one
cut off mid-way is `deferred` with a reason listing what was done and what was not, and the next run finishes.
"""

from __future__ import annotations

import time

from selfheal.model import Outcome

BUDGET_S = 3.0


def test_budget_running_out_mid_run_defers_the_rest_and_the_next_run_finishes(seeded, faults):
    # pool_size=1: resources are applied one after another in estate order, so which ones are cut off is known.
    # galerly-sessions' UpdateTable (its 1st of 4 steps) is held until the budget is spent (before-call sleep).
    started = time.monotonic()
    faults.add("dynamodb", "UpdateTable", "galerly-sessions",
               sleep_until=lambda: started + BUDGET_S + 0.2)

    report = seeded.run(clients=faults.clients(), time_budget_seconds=BUDGET_S, pool_size=1)

    order = [r.name for r in report.results]
    cut = order.index("galerly-sessions")
    assert order[:cut] == ["galerly-users", "galerly-galleries", "galerly-photos"]
    outcomes = {r.name: r.outcome for r in report.results}
    assert (outcomes["galerly-users"], outcomes["galerly-galleries"], outcomes["galerly-photos"]) == (
        Outcome.REPAIRED, Outcome.CREATED, Outcome.CREATED)

    sessions = seeded.result(report, "galerly-sessions")
    assert sessions.outcome is Outcome.DEFERRED
    done, _, not_done = sessions.reason.partition("not done:")
    assert "time budget ran out after 1 of 4 steps" in done and "deletion_protection" in done, sessions.reason
    assert "pitr" in not_done and "ttl" in not_done and "next run" in not_done, sessions.reason
    assert [c.path for c in sessions.changes] == ["deletion_protection"]

    later = order[cut + 1:]
    assert later and all(outcomes[n] is Outcome.DEFERRED for n in later), outcomes
    for name in later:
        assert "before this resource was started" in seeded.result(report, name).reason
    written = {c["name"] for c in seeded.aws.writes()}
    assert written.isdisjoint(later), written & set(later)
    assert report.exit_code == 1 and not report.failures()

    # What was cut off is still as the budget left it: protection on, PITR and TTL not yet.
    table = seeded.ddb.describe_table(TableName="galerly-sessions")["Table"]
    assert table["DeletionProtectionEnabled"] is True
    pitr = seeded.ddb.describe_continuous_backups(TableName="galerly-sessions")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    seeded.assert_no_deletes(faults.recorder)
    seeded.assert_items_kept()

    seeded.converge(first_clean_run_writes=True)


def test_a_retry_loop_stops_at_the_budget_and_says_what_refused(world, faults):
    # LimitExceededException (too many table operations in the account) that does not clear before the budget ends:
    # injected before-call, so only the engine's backoff is in play. It must give up in time, not sleep past it.
    estate = world.estate.only(("galerly-photos",))
    refused = faults.add("dynamodb", "CreateTable", "galerly-photos", code="LimitExceededException")

    started = time.monotonic()
    report = world.run(clients=faults.clients(), estate=estate, time_budget_seconds=1.5, retry_base_seconds=0.3)
    took = time.monotonic() - started

    photos = world.result(report, "galerly-photos")
    assert photos.outcome is Outcome.DEFERRED and report.exit_code == 1
    assert "create_table" in photos.reason and "LimitExceededException" in photos.reason, photos.reason
    assert "time budget ran out" in photos.reason, photos.reason
    assert refused.hits >= 2 and took < 1.5 + 0.5
    assert world.aws.writes() == []  # every attempt was refused before it reached AWS

    faults.clear()
    healed = world.run(estate=estate)
    assert world.result(healed, "galerly-photos").outcome is Outcome.CREATED and healed.exit_code == 0
