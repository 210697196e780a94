"""The recovery objective's pure parts: durations, a cron schedule's widest gap, the copies each kind declares, and
the judgement of copies against an objective (what apply repairs, what is a conflict)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.fields import parse_duration
from selfheal.kinds.backups import cron_gap
from selfheal.kinds.buckets import versions_copy
from selfheal.kinds.tables import pitr_copy
from selfheal.loader import parse_estate
from selfheal.model import Change, Outcome, ResourcePlan, ResourceResult, Step
from selfheal.notify import compose
from selfheal.plan.objective import judge, shortfalls
from selfheal.report import Report
from selfheal.spec import Copy, Objective, duration_text

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
GOAL = Objective(window=timedelta(days=35), rpo=timedelta(hours=1))


@pytest.mark.parametrize(("text", "seconds"), [("45s", 45), ("30m", 1800), ("1h", 3600), ("35d", 35 * 86400)])
def test_a_duration_is_a_number_and_a_unit(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert duration_text(parse_duration(text)) == text


@given(st.integers(min_value=1, max_value=9_999_999), st.sampled_from("smhd"))
def test_a_duration_reads_back_as_the_same_length_of_time(number: int, unit: str) -> None:
    value = parse_duration(f"{number}{unit}")
    assert parse_duration(duration_text(value)) == value


@pytest.mark.parametrize(("schedule", "gap"), [
    ("cron(0 2 * * ? *)", timedelta(days=1)),
    ("cron(0 * * * ? *)", timedelta(hours=1)),
    ("cron(0,30 * * * ? *)", timedelta(minutes=30)),
    ("cron(0 0/6 * * ? *)", timedelta(hours=6)),
    ("cron(0 2,14 * * ? *)", timedelta(hours=12)),
    ("cron(0 1,2 * * ? *)", timedelta(hours=23)),  # 02:00 to the next day's 01:00
    ("cron(0 3 ? * SUN *)", timedelta(days=7)),
    ("cron(0 2 ? * MON-FRI *)", timedelta(days=3)),  # Friday to Monday
    ("cron(0 5 1 * ? *)", timedelta(days=31)),
    ("cron(0 5 L * ? *)", timedelta(days=31)),
])
def test_a_schedules_widest_gap_is_what_a_deletion_loses_at_worst(schedule: str, gap: timedelta) -> None:
    assert cron_gap(schedule) == gap


def test_copies_that_meet_the_objective_fall_short_in_nothing() -> None:
    assert shortfalls(GOAL, (pitr_copy(35),), "fix") == []
    assert shortfalls(GOAL, (versions_copy([]),), "fix") == []  # every write kept, until deleted


def test_the_best_copy_answers_each_part_of_the_objective() -> None:
    nightly = Copy("aws-backup", timedelta(days=1), timedelta(days=35), "nightly")
    short_versions = versions_copy([("tidy", 7)])
    # versions meet the rpo, the nightly backup the window: together they meet both
    assert shortfalls(GOAL, (short_versions, nightly), "fix") == []
    (rpo,) = shortfalls(GOAL, (nightly,), "declare versioning: true")
    assert rpo.field == "rpo" and "can be 1d old (nightly)" in rpo.problem
    assert rpo.fix == "declare versioning: true, or rpo: 1d"
    (window,) = shortfalls(GOAL, (short_versions,), "fix")
    assert window.field == "window" and "reach back 7d" in window.problem
    assert window.fix.startswith("declare noncurrent_version_expiration_days: N or more on lifecycle rule tidy")


def test_an_object_lock_keeps_old_versions_at_least_its_retention() -> None:
    locked = versions_copy([("tidy", 7)], lock_days=40)
    assert locked.keeps == timedelta(days=40) and "Object Lock keeps them 40 days" in locked.what
    assert versions_copy([("tidy", 90)], lock_days=40).keeps == timedelta(days=90)
    assert shortfalls(GOAL, (locked,), "fix") == []


def test_an_rpo_finer_than_pitr_is_fixed_by_the_rpo_alone() -> None:
    (rpo,) = shortfalls(Objective(rpo=timedelta(minutes=1)), (pitr_copy(35),), "declare pitr: true")
    assert rpo.fix == "use rpo: 5m or more: no copy of it can be newer"


def test_a_copy_made_less_often_than_the_window_does_not_reach_it() -> None:
    yearly = Copy("aws-backup", timedelta(days=365), timedelta(days=3650), "yearly")
    (window,) = shortfalls(Objective(window=timedelta(days=30)), (yearly, versions_copy([("tidy", 7)])), "fix")
    assert "reach back 7d" in window.problem


def test_an_objective_met_once_apply_has_run_is_a_note_and_one_it_cannot_meet_a_conflict() -> None:
    plan = ResourcePlan("table", "t", True, steps=(Step("dynamodb", "update_continuous_backups", {},
                                                        (Change("pitr", False, "enabled, 35 days"),)),))
    repaired = judge(plan, GOAL, (), (pitr_copy(35),), "fix", None, NOW, "apply switches PITR on")
    assert repaired.conflicts == () and len(repaired.notes) == 1
    assert repaired.notes[0].startswith("recovery objective (window 35d, rpo 1h) not met until apply: no copy")
    assert repaired.notes[0].endswith("— apply switches PITR on")
    short = judge(plan, GOAL, (pitr_copy(7),), (pitr_copy(7),), "fix", None, NOW, "")
    assert short.notes == () and "reach back 7d (PITR, 7 days)" in short.conflicts[0]
    assert "declare pitr: {recovery_days: 35}, or window: 7d" in short.conflicts[0]
    assert judge(plan, GOAL, (pitr_copy(35),), (pitr_copy(35),), "fix", NOW - timedelta(minutes=5), NOW, "") == plan


def test_a_newest_copy_older_than_two_rpos_means_aws_missed_one() -> None:
    daily = Objective(rpo=timedelta(days=1))
    nightly = (Copy("aws-backup", timedelta(days=1), timedelta(days=35), "nightly"),)
    plan = ResourcePlan("table", "t", True)
    assert judge(plan, daily, nightly, nightly, "fix", NOW - timedelta(hours=30), NOW, "") == plan  # a late job
    late = judge(plan, daily, nightly, nightly, "fix", NOW - timedelta(days=3), NOW, "")
    assert "its newest copy is from 2026-12-02 12:00 UTC, 3d ago" in late.conflicts[0]


def test_the_copies_a_backups_selection_declares_reach_the_tables_and_buckets_it_names() -> None:
    estate = parse_estate("""
tables:
  - {name: app-orders, hash_key: id, pitr: false, recovery: {window: 30d, rpo: 1d}, tags: {tier: gold}}
  - {name: app-carts, hash_key: id, recovery: {rpo: 1h}}
buckets:
  - {name: app-media, versioning: true, recovery: {window: 30d}}
backups:
  - name: app-backups
    rules:
      - {name: nightly, schedule: "cron(0 2 * * ? *)", retention_days: 35}
      - {name: pitr, schedule: "cron(0 * * * ? *)", retention_days: 7, continuous: true}
    selection: {role: "arn:aws:iam::123456789012:role/b", tags: {tier: gold}, buckets: [app-media]}
""", env={})
    orders = {c.source: c for c in estate.copies[("table", "app-orders")]}
    assert set(orders) == {"aws-backup"}  # by its tag; no PITR
    assert [c.every for c in estate.copies[("table", "app-orders")]] == [timedelta(days=1), timedelta(hours=1)]
    assert [c.source for c in estate.copies[("table", "app-carts")]] == ["pitr"]  # not selected
    media = estate.copies[("bucket", "app-media")]
    assert [c.source for c in media] == ["versions", "aws-backup", "aws-backup"]
    assert media[2].every == timedelta(minutes=5)  # continuous backup: S3 has it, DynamoDB does not
    assert estate.only(["app-media"]).copies == estate.copies  # `--only` keeps what other sections declare


def test_the_nightly_message_says_what_the_objective_asked_of_the_run() -> None:
    report = Report("apply", "schedule")
    note = "recovery objective (window 35d, rpo 1h) not met until apply: no copy of it is kept — apply switches PITR on"
    report.results = [ResourceResult("table", "t", Outcome.REPAIRED, [Change("pitr", False, "enabled, 35 days")],
                                     "1 setting(s) repaired", notes=[note, "something else"])]
    message = compose(report)
    assert message is not None
    assert f"  {note}" in message.text.splitlines() and "something else" not in message.text
