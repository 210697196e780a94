"""The run event a fleet's central bus receives (selfheal/fleet.py): it always fits PutEvents' 256 KB, says what was
cut, and the central store reads back as one row per account and region; the handler sends it best effort.

GIVEN reports of any size (hypothesis: thousands of resources, long reasons, huge change values) WHEN the entry is
built THEN AWS's own size formula stays under 256 KB, the summary is whole, and `cut` names what went, in order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from selfheal import fleet
from selfheal.model import Change, Outcome, ResourceResult
from selfheal.report import Report

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

BUS = "arn:aws:events:us-east-1:111111111111:event-bus/selfheal-fleet"
FUNCTION = "arn:aws:lambda:eu-west-1:222222222222:function:selfheal-Function-1A2B"
KB256 = 256 * 1024


def aws_entry_size(entry: dict[str, Any]) -> int:
    """AWS's formula ("Calculating PutEvents event entry size", EventBridge user guide), written out again here."""
    size = 14 if entry.get("Time") is not None else 0
    size += len(entry["Source"].encode("utf-8")) + len(entry["DetailType"].encode("utf-8"))
    size += len(entry["Detail"].encode("utf-8"))
    return size + sum(len(r.encode("utf-8")) for r in entry.get("Resources") or [])


def result(
    kind: str, name: str, outcome: Outcome, reason: str = "", changes: int = 0, value: str = "x"
) -> ResourceResult:
    return ResourceResult(kind, name, outcome, [Change(f"aspect.{i}", None, value) for i in range(changes)], reason)


outcomes = st.sampled_from(list(Outcome))
texts = st.one_of(st.just(""), st.text(max_size=40), st.builds(lambda n, c: c * n, st.integers(0, 9000),
                                                                st.sampled_from(["a", "é", "€", "𝄞"])))
results = st.builds(
    result,
    st.sampled_from(["table", "bucket"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,40}", fullmatch=True),
    outcomes,
    texts,
    st.integers(0, 40),
    st.one_of(st.just("v"), st.builds(lambda n: "p" * n, st.integers(0, 20000))),
)


@st.composite
def reports(draw: st.DrawFn) -> Report:
    listed = draw(st.lists(results, max_size=60))
    copies = draw(st.integers(1, 60))  # many resources cheaply: the same results repeated
    report = Report("apply", draw(st.sampled_from(["schedule", "deploy", "manual", "followup", "change"])),
                    results=listed * copies, duration_s=draw(st.floats(0, 900)))
    if draw(st.booleans()):
        report.guard, report.guard_tripped = draw(texts), draw(st.booleans())
    return report


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(reports())
def test_any_report_fits_256_kb_keeps_its_summary_and_says_what_was_cut(report: Report) -> None:
    full = fleet.run_detail(report, "222222222222", "eu-west-1", FUNCTION)
    full_size = aws_entry_size({"Source": "selfheal", "DetailType": "selfheal run", "Time": 1,
                                "Detail": json.dumps(full, sort_keys=True, ensure_ascii=False),
                                "Resources": [FUNCTION]})

    entry = fleet.run_event(report, "222222222222", "eu-west-1", BUS, FUNCTION)

    assert aws_entry_size(dict(entry)) + len(entry["EventBusName"]) <= KB256 - fleet.ENVELOPE_ALLOWANCE
    detail = json.loads(entry["Detail"])
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == ("selfheal", "selfheal run", BUS)
    assert detail["summary"] == report.summary and detail["resource_count"] == len(report.results)
    assert (detail["account"], detail["region"], detail["function"]) == ("222222222222", "eu-west-1",
                                                                         "selfheal-Function-1A2B")
    cut = " | ".join(detail["cut"])
    event("cut: " + ", ".join(c.split(":")[0] for c in detail["cut"]) if detail["cut"] else "sent whole")
    if full_size + len(BUS) + fleet.ENVELOPE_ALLOWANCE <= KB256:
        assert detail["cut"] == [] and detail["resources"] == full["resources"]
        return
    assert detail["cut"], "an entry that had to shrink must say what was cut"
    listed = detail["resources"]
    assert all("changes" not in r for r in listed)  # changes go first ...
    assert [r["change_count"] for r in listed] == [len(r.changes) for r in _kept(report, listed)]
    if "ok resources" in cut:  # ... ok resources only after changes and reasons
        assert cut.index("ok resources") > cut.index("changes") if "changes:" in cut else True
        assert all(r["outcome"] != "ok" for r in listed)
    if "resources: the first" not in cut:  # nothing failing or unfinished is ever dropped silently
        not_ok = [r.name for r in report.results if r.outcome is not Outcome.OK]
        assert [r["name"] for r in listed if r["outcome"] != "ok"] == not_ok
    assert all(len(r["reason"]) <= fleet.REASON_LIMIT for r in listed) or "reasons" not in cut


def _kept(report: Report, listed: list[dict[str, Any]]) -> list[ResourceResult]:
    """The report's results that `listed` kept, in order (ok ones may have been dropped)."""
    kept, i = [], 0
    for r in report.results:
        if i < len(listed) and listed[i]["name"] == r.name and listed[i]["outcome"] == r.outcome.value:
            kept.append(r)
            i += 1
    assert i == len(listed)
    return kept


def test_a_huge_report_is_cut_in_the_documented_order() -> None:
    # GIVEN 13 tables with 4 KB policies of changes, 2,000 ok resources and 300 errors with 2 KB reasons
    report = Report("apply", "schedule", results=(
        [result("table", f"t{i}", Outcome.REPAIRED, changes=10, value="p" * 4000) for i in range(13)]
        + [result("table", f"ok{i}", Outcome.OK) for i in range(2000)]
        + [result("bucket", f"e{i}", Outcome.ERROR, reason="AccessDenied " * 200) for i in range(300)]))

    entry = fleet.run_event(report, "222222222222", "us-east-1", BUS, FUNCTION)

    detail = json.loads(entry["Detail"])
    assert fleet.entry_size(entry) <= KB256
    assert [c.split(":")[0] for c in detail["cut"]] == ["changes", "reasons", "ok resources"]
    assert "130 per-resource changes" in detail["cut"][0] and "300 cut to 200" in detail["cut"][1]
    assert len(detail["resources"]) == 313 and detail["summary"]["ok"] == 2000


def test_only_a_list_too_long_for_any_entry_loses_its_tail_and_says_how_many_are_kept() -> None:
    report = Report("apply", "deploy", results=[result("table", f"{'n' * 200}{i}", Outcome.ERROR, reason="r")
                                               for i in range(3000)])

    entry = fleet.run_event(report, "222222222222", "us-east-1", BUS)

    detail = json.loads(entry["Detail"])
    kept = len(detail["resources"])
    assert 0 < kept < 3000 and fleet.entry_size(entry) <= KB256
    assert detail["cut"][-1].startswith(f"resources: the first {kept} of 3000 listed")
    assert detail["summary"]["error"] == 3000


def test_a_small_run_is_sent_whole_with_its_times_and_followup() -> None:
    finished = datetime(2026, 12, 2, 3, 0, 7, tzinfo=UTC)
    report = Report("apply", "schedule", results=[result("table", "galerly-users", Outcome.RESTORED, "from backup",
                                                         changes=2)], duration_s=7.0)
    from selfheal.followup import Followup

    entry = fleet.run_event(report, "222222222222", "us-east-1", BUS, FUNCTION,
                            Followup(1, name="s", at=finished + timedelta(minutes=5)), finished=finished)

    detail = json.loads(entry["Detail"])
    assert entry["Time"] == finished and entry["Resources"] == [FUNCTION]
    assert (detail["started"], detail["finished"]) == ("2026-12-02T03:00:00.000+00:00", "2026-12-02T03:00:07.000+00:00")
    assert detail["followup_at"] == "2026-12-02T03:05:07.000+00:00" and detail["cut"] == []
    assert detail["function"] == "selfheal-Function-1A2B" and detail["failing"] == 0
    report.results.append(result("bucket", "b", Outcome.CONFLICT, "another region"))
    assert fleet.run_detail(report, "222222222222", "eu-west-1")["failing"] == 1
    qualified = fleet.run_detail(report, "222222222222", "eu-west-1", FUNCTION + ":live")  # invoked through an alias
    assert qualified["function"] == "selfheal-Function-1A2B"
    (resource,) = detail["resources"]
    assert resource["changes"][1] == {"path": "aspect.1", "from": None, "to": "x"} and resource["change_count"] == 2


@pytest.mark.parametrize("arn", [
    "", "selfheal-fleet", "arn:aws:events:us-east-1:1234:event-bus/x", "arn:aws:sns:us-east-1:111111111111:topic",
    "arn:aws:events:us-east-1:111111111111:rule/x"])
def test_a_bus_arn_that_is_not_one_is_refused_naming_the_shape(arn: str) -> None:
    with pytest.raises(ValueError, match="event-bus/<name>"):
        fleet.parse_bus_arn(arn)


# --- reading the central store ----------------------------------------------------------------------------------


def stored(account: str, region: str, finished: str, **summary: int) -> str:
    """An event as the central rule's CloudWatch Logs target stores it (the whole EventBridge event as JSON)."""
    counts = {"checked": 15, "ok": 15, "healed": 0, "unfinished": 0, "failed": 0, **summary}
    resources = [{"kind": "table", "name": "galerly-users", "outcome": "error", "reason": "AccessDenied"}] * counts[
        "failed"]
    detail = {"account": account, "region": region, "finished": finished, "trigger": "schedule",
              "action": "apply", "summary": counts, "resources": resources, "cut": []}
    return json.dumps({"source": "selfheal", "detail-type": "selfheal run", "account": account, "time": finished,
                       "detail": detail})


def test_the_latest_run_per_account_and_region_is_the_row() -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    messages = [
        stored("222222222222", "us-east-1", "2026-12-02T03:00:00+00:00", failed=1, ok=14),
        stored("222222222222", "us-east-1", "2026-12-02T09:00:00+00:00", healed=1, ok=14),  # later: it wins
        stored("222222222222", "eu-west-1", "2026-11-29T03:00:00+00:00"),  # three days old: stale
        "not json", json.dumps({"source": "aws.events"}),
    ]

    view = fleet.fleet_view(messages, now=now, stale_after=timedelta(hours=26))

    assert [(r.account, r.region, r.healed, r.failed, r.runs, r.stale) for r in view.rows] == [
        ("222222222222", "eu-west-1", 0, 0, 1, True), ("222222222222", "us-east-1", 1, 0, 2, False)]
    assert (view.events_read, view.unreadable) == (3, 2)
    assert fleet.exit_code(view) == 1  # stale
    assert fleet.exit_code(fleet.fleet_view(messages[:2], now=now, stale_after=timedelta(hours=26))) == 0
    failing = fleet.fleet_view(messages[:1], now=now)
    assert failing.rows[0].in_error == ("table galerly-users: error — AccessDenied",) and fleet.exit_code(failing) == 1
    assert fleet.exit_code(fleet.fleet_view([], now=now)) == 1
    naive = fleet.fleet_view([stored("222222222222", "us-east-1", "2026-12-02T11:00:00")], now=now,
                             stale_after=timedelta(hours=26))
    assert naive.rows[0].finished == datetime(2026, 12, 2, 11, tzinfo=UTC) and not naive.rows[0].stale


def test_every_page_is_read_even_after_an_empty_one() -> None:
    pages = [{"events": [{"message": "a"}], "nextToken": "t1"}, {"events": [], "nextToken": "t2"},
             {"events": [{"message": "b"}], "nextToken": "t3"}, {"events": [{"message": "c"}]}]
    asked: list[dict[str, Any]] = []

    class Logs:
        def filter_log_events(self, **kwargs: Any) -> dict[str, Any]:
            asked.append(kwargs)
            return pages[len(asked) - 1]

    since = datetime(2026, 12, 1, tzinfo=UTC)
    assert list(fleet.read_run_events(Logs(), "/aws/events/selfheal-fleet", since)) == ["a", "b", "c"]
    assert [a.get("nextToken") for a in asked] == [None, "t1", "t2", "t3"]
    assert {a["startTime"] for a in asked} == {int(since.timestamp() * 1000)}


@pytest.mark.parametrize(("text", "expected"), [("7d", timedelta(days=7)), ("36h", timedelta(hours=36)),
                                                ("90m", timedelta(minutes=90))])
def test_ages(text: str, expected: timedelta) -> None:
    assert fleet.parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "7", "0d", "-1d", "1w", "1.5h", "d7"])
def test_bad_ages_name_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="e.g. 7d, 36h, 90m"):
        fleet.parse_age(text)


def test_a_spoofed_run_event_changes_no_row() -> None:
    # GIVEN account 111111111111's last run failed, and account 222222222222 (any member may put on the bus) sends
    # an event claiming to be 111111111111's healthy run and its own run dated 2099; and a run whose detail says
    # 2099 under an earlier envelope time
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    failing = stored("111111111111", "us-east-1", "2026-12-02T03:00:00+00:00", failed=1, ok=14)
    mine = stored("222222222222", "us-east-1", "2026-12-02T03:00:00+00:00")
    claims_other = json.loads(stored("111111111111", "us-east-1", "2026-12-02T11:00:00+00:00"))
    claims_other["account"] = "222222222222"  # EventBridge's envelope: the real sender
    dated_2099 = stored("222222222222", "us-east-1", "2099-01-01T00:00:00+00:00")
    late_detail = json.loads(stored("111111111111", "us-east-1", "2026-12-02T02:00:00+00:00"))
    late_detail["detail"]["finished"] = "2099-01-01T00:00:00+00:00"  # the envelope's time orders, not the detail's

    before = fleet.fleet_view([failing, mine], now=now)
    after = fleet.fleet_view([failing, mine, json.dumps(claims_other), dated_2099, json.dumps(late_detail)], now=now)

    # THEN no row changed: 111111111111's latest run is still the failing one, 222222222222's its own honest run
    assert [r.to_dict() | {"runs": 0} for r in after.rows] == [r.to_dict() | {"runs": 0} for r in before.rows]
    assert [(r.account, r.failed, r.finished) for r in after.rows] == [
        ("111111111111", 1, datetime(2026, 12, 2, 3, tzinfo=UTC)),
        ("222222222222", 0, datetime(2026, 12, 2, 3, tzinfo=UTC))]
    assert after.unreadable == 2 and fleet.exit_code(after) == 1
