"""An exception nobody planned for (not an AWS error) on one resource is that resource's error, never the run's end.

Injected with a before-call hook that raises RuntimeError, once while observing and once while applying.
"""

from __future__ import annotations

from selfheal.model import Outcome


def _boom() -> None:
    raise RuntimeError("connection pool exploded")


def test_a_surprise_while_observing_one_table_leaves_the_rest_healed(seeded, faults):
    faults.add("dynamodb", "DescribeTable", "galerly-photos", action=_boom)

    report = seeded.run(clients=faults.clients())

    photos = seeded.result(report, "galerly-photos")
    assert photos.outcome is Outcome.ERROR
    assert "RuntimeError: connection pool exploded" in photos.reason
    assert report.exit_code == 1 and "galerly-photos" in report.failure_reason()
    seeded.assert_healthy(report, except_=("galerly-photos",))
    seeded.assert_no_deletes(faults.recorder)
    seeded.assert_items_kept()
    seeded.converge(first_clean_run_writes=True)


def test_a_surprise_mid_repair_reports_what_was_done_and_the_rest_heals(seeded, faults):
    # galerly-users is missing deletion protection (first step) and needs nothing else; sessions needs three steps.
    faults.add("dynamodb", "UpdateContinuousBackups", "galerly-sessions", action=_boom)

    report = seeded.run(clients=faults.clients())

    sessions = seeded.result(report, "galerly-sessions")
    assert sessions.outcome is Outcome.ERROR
    assert "failed unexpectedly: RuntimeError" in sessions.reason
    assert "done before that: deletion_protection" in sessions.reason
    assert seeded.result(report, "galerly-users").outcome is Outcome.REPAIRED
    seeded.assert_healthy(report, except_=("galerly-sessions",))
    seeded.assert_no_deletes(faults.recorder)
    seeded.assert_items_kept()
    seeded.converge(first_clean_run_writes=True)
