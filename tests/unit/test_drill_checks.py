"""Restore drills without AWS: scratch names, the bad input caught before any call, the recovery.rto field, and
what a drill tells (metrics, message)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from selfheal.drill import DrillProblem, DrillResult, publish, resume_drill, run_drill, scratch_name
from selfheal.loader import parse_estate
from selfheal.model import Outcome
from selfheal.report import Report
from selfheal.spec import EstateError

STAMP = datetime(2026, 12, 5, 9, 7, tzinfo=UTC)


class NoAws:
    """Clients that fail the test on any AWS call: these problems are found before one."""

    def client(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("an AWS call was made")

    def account_id(self) -> str:
        raise AssertionError("an AWS call was made")


def test_the_scratch_name_is_the_name_drill_and_the_minute() -> None:
    assert scratch_name("galerly-photos", STAMP) == "galerly-photos-drill-202612050907"


def test_a_scratch_name_that_is_a_declared_name_stops_the_drill_before_any_call() -> None:
    estate = parse_estate("version: 1\ntables:\n  - {name: galerly-photos, hash_key: id}\n"
                          "  - {name: galerly-photos-drill-202612050907, hash_key: id}\n", source="t.yaml", env={})
    with pytest.raises(DrillProblem) as err:
        run_drill(estate, NoAws(), only=("galerly-photos",), now=lambda: STAMP)  # type: ignore[arg-type]
    assert "galerly-photos-drill-202612050907 is a resource the estate declares" in str(err.value)
    assert " — rename that resource" in str(err.value)


def test_a_scratch_bucket_name_over_63_characters_stops_the_drill_before_any_call() -> None:
    name = "galerly-" + "a" * 40  # 48 + 19 > 63
    estate = parse_estate(f"version: 1\nbuckets:\n  - {{name: {name}}}\n", source="t.yaml", env={})
    with pytest.raises(DrillProblem) as err:
        run_drill(estate, NoAws(), now=lambda: STAMP)  # type: ignore[arg-type]
    assert f"bucket {name}: its scratch copy's name {name}-drill-202612050907 is 67 characters, over AWS's 63" \
        in str(err.value)


@pytest.mark.parametrize(("rto", "seconds"), [("30m", 1800.0), ("2h", 7200.0), ("1d", 86400.0)])
def test_rto_is_declared_on_a_table_its_defaults_or_a_bucket(rto: str, seconds: float) -> None:
    estate = parse_estate(f"version: 1\ntable_defaults: {{recovery: {{rto: {rto}}}}}\n"
                          "tables: [{name: galerly-a, hash_key: id}]\n"
                          f"buckets: [{{name: galerly-b, recovery: {{rto: {rto}}}}}]\n", source="t.yaml", env={})
    assert [r.rto_seconds for r in estate.resources] == [seconds, seconds]


@pytest.mark.parametrize("rto", ["2 hours", "0h", "90", "1w"])
def test_a_bad_rto_is_one_line_naming_the_field(rto: str) -> None:
    with pytest.raises(EstateError) as err:
        parse_estate(f"version: 1\ntables: [{{name: galerly-a, hash_key: id, recovery: {{rto: '{rto}'}}}}]\n",
                     source="t.yaml", env={})
    assert "tables[0].recovery.rto" in str(err.value) and "e.g. 2h" in str(err.value)


def result(name: str, verified: bool, restore: float | None, rto: float | None = None) -> DrillResult:
    return DrillResult("table", name, Outcome.OK if verified else Outcome.ERROR, copy="pitr", restore_seconds=restore,
                       verified=verified, rto_seconds=rto, copy_age_seconds=300.0)


def test_a_drill_sends_restore_minutes_per_restored_resource_and_its_counts() -> None:
    report = Report("drill", "manual", [result("a", True, 1500.0, rto=1200.0), result("b", False, 60.0),
                                        DrillResult("bucket", "c", Outcome.OK, copy="versions", verified=True)])
    sent: list[tuple[str, float, dict[str, str]]] = []
    publish.metrics(report, lambda name, unit, value, dims: sent.append((name, value, dims)))
    assert [(n, v, d.get("resource")) for n, v, d in sent if d.get("resource")] == [
        ("RestoreMinutes", 25.0, "a"), ("rto_exceeded", 1, "a"), ("RestoreMinutes", 1.0, "b"), ("rto_exceeded", 0, "b")]
    assert {n: v for n, v, d in sent if "resource" not in d} == {
        "drills": 3, "drills_failed": 1, "drills_rto_exceeded": 1}


def test_one_message_tells_the_whole_drill() -> None:
    report = Report("drill", "manual", [result("a", True, 1500.0, rto=1200.0), result("b", False, 60.0)])
    report.results[1].reason = "119 items in the copy, 120 in the table (Scan COUNT)"
    message = publish.compose(report)
    assert message.subject == "selfheal drill: 1/2 verified, 1 over rto"
    assert "table a: verified — pitr, restored in 25.0 min, copy 0.1 h old, rto 20 min EXCEEDED" in message.text
    assert "table b: NOT verified" in message.text and "119 items in the copy" in message.text
    assert message.attributes["failed"]["StringValue"] == "1"


@pytest.mark.parametrize("entry", [
    {"kind": "table", "name": "galerly-photos", "scratch": "galerly-users-drill-202612050907"},  # another's scratch
    {"kind": "table", "name": "galerly-photos", "scratch": "galerly-photos"},  # the declared table itself
    {"kind": "bucket", "name": "galerly-photos", "scratch": "galerly-photos-drill-202612050907"},  # not its kind
    {"kind": "table", "name": "other-app-orders", "scratch": "other-app-orders-drill-202612050907"},  # undeclared
])
def test_a_hand_over_that_is_not_a_declared_resources_scratch_copy_is_refused_before_any_call(
    entry: dict[str, Any]
) -> None:
    # A drill's next invocation gets its pending restores in its event: whatever the event says, it may only ever
    # wait for, check and remove a scratch copy of a declared resource.
    estate = parse_estate("version: 1\ntables:\n  - {name: galerly-photos, hash_key: id}\n", source="t.yaml", env={})
    with pytest.raises(DrillProblem, match="is not the scratch copy of a declared table or bucket"):
        pending = [{**entry, "handle": "", "started_at": 0, "copy": {"source": "pitr"}}]
        resume_drill(estate, NoAws(), pending)  # type: ignore[arg-type]
