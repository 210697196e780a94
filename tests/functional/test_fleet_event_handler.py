"""The handler sends a fleet's run event to the central bus best effort (selfheal/fleet.py; the entry's size and
shape: tests/unit/test_fleet_event.py): never when there is no bus, a plan, or too little of the invocation left; a
refused event is logged and counted and the run stands.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from devtools.localaws import LocalAws
from selfheal import fleet
from tests.support.estates import GALERLY
from tests.support.handler import app, invoke

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

BUS = "arn:aws:events:us-east-1:111111111111:event-bus/selfheal-fleet"  # another account's central bus


# --- the handler sends it, best effort --------------------------------------------------------------------------



class _Stdout:
    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def out(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The function's stdout (log lines and EMF blobs), and its environment without any SELFHEAL_* of the machine."""
    for name in list(os.environ):
        if name.startswith("SELFHEAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SELFHEAL_ESTATE", str(GALERLY))  # as the stack names /var/task/estate.yaml
    handler = app.logger.registered_handler
    previous, handler.stream = handler.stream, _Stdout()
    yield lambda: [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    handler.stream = previous


def apply_one() -> dict[str, Any]:
    return invoke({"action": "apply", "only": ["galerly-newsletters"]}, timeout_s=60).result


def test_without_a_central_bus_no_event_is_sent(aws: LocalAws, out: Any) -> None:
    answer = apply_one()

    assert answer["summary"]["created"] == 1
    assert [c for c in aws.calls() if c["service"] == "events"] == []
    assert not any("central_event_failed" in line for line in out())


@pytest.mark.parametrize("bus", [
    "arn:aws:events:us-east-1:123456789012:event-bus/no-such-bus",  # the local account: the whole call fails
    "arn:aws:events:us-east-1:111111111111:event-bus/no-such-bus",  # another account: the entry fails
])
def test_a_refused_event_is_logged_and_counted_and_the_run_stands(
    bus: str, aws: LocalAws, out: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFHEAL_CENTRAL_EVENT_BUS_ARN", bus)

    answer = apply_one()

    assert answer["summary"]["created"] == 1 and answer["summary"]["failed"] == 0
    assert [c["operation"] for c in aws.calls() if c["service"] == "events"] == ["PutEvents"]
    lines = out()
    (error,) = [line for line in lines if line.get("message", "").startswith("the run event was not sent")]
    assert error["level"] == "ERROR" and "no-such-bus" in error["message"]
    (blob,) = [line for line in lines if "_aws" in line]
    assert blob["central_event_failed"] in (1, [1.0])


def test_no_event_is_sent_when_too_little_of_the_invocation_is_left(
    aws: LocalAws, out: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow or far bus must not push a deploy past crhelper's timeout answer: under 5 s left, the event is dropped,
    # logged and counted; the run stands.
    monkeypatch.setenv("SELFHEAL_CENTRAL_EVENT_BUS_ARN", BUS)

    answer = invoke({"action": "apply", "only": ["galerly-newsletters"]}, timeout_s=4.5).result

    assert answer["summary"]["failed"] == 0
    assert [c for c in aws.calls() if c["service"] == "events"] == []
    lines = out()
    (error,) = [line for line in lines if line.get("message", "").startswith("the run event was not sent")]
    assert "left in the invocation" in error["reason"]
    (blob,) = [line for line in lines if "_aws" in line]
    assert blob["central_event_failed"] in (1, [1.0])


def test_the_stored_rows_are_the_senders_own(aws: LocalAws) -> None:
    # Any member of the Organization may put events on the bus; EventBridge sets the envelope's account to the
    # sender's. An event whose detail claims another account is not that account's row.
    honest = {"source": "selfheal", "detail-type": "selfheal run", "account": "111111111111",
              "time": "2026-12-02T03:00:00Z",
              "detail": {"account": "111111111111", "region": "us-east-1", "finished": "2026-12-02T03:00:00+00:00",
                         "summary": {"checked": 1, "ok": 1}}}
    forged = {**honest, "account": "222222222222"}
    view = fleet.fleet_view([json.dumps(honest), json.dumps(forged)], now=datetime(2026, 12, 2, 4, tzinfo=UTC))
    assert [(r.account, r.runs) for r in view.rows] == [("111111111111", 1)] and view.unreadable == 1


def test_a_plan_is_not_sent(aws: LocalAws, out: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFHEAL_CENTRAL_EVENT_BUS_ARN", BUS)

    invoke({"action": "plan"}, timeout_s=60)

    assert [c for c in aws.calls() if c["service"] == "events"] == []


def test_the_event_reaches_a_bus_of_the_same_account(aws: LocalAws, out: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    events = boto3.client("events", region_name="us-east-1", endpoint_url=aws.endpoint)
    logs = boto3.client("logs", region_name="us-east-1", endpoint_url=aws.endpoint)
    bus = events.create_event_bus(Name="selfheal-fleet")["EventBusArn"]
    logs.create_log_group(logGroupName=fleet.DEFAULT_LOG_GROUP)
    events.put_rule(Name="store", EventBusName="selfheal-fleet",
                    EventPattern=json.dumps({"source": ["selfheal"], "detail-type": ["selfheal run"]}))
    events.put_targets(Rule="store", EventBusName="selfheal-fleet", Targets=[
        {"Id": "logs", "Arn": f"arn:aws:logs:us-east-1:123456789012:log-group:{fleet.DEFAULT_LOG_GROUP}"}])
    monkeypatch.setenv("SELFHEAL_CENTRAL_EVENT_BUS_ARN", bus)

    apply_one()

    messages = list(fleet.read_run_events(logs, fleet.DEFAULT_LOG_GROUP, datetime.now(UTC) - timedelta(1)))
    assert [json.loads(m)["account"] for m in messages] == ["123456789012"]  # the stored event is the whole event
    view = fleet.fleet_view(messages)
    (row,) = view.rows
    assert (row.account, row.region, row.healed, row.healed_names) == (
        "123456789012", "us-east-1", 1, ("table galerly-newsletters: created",))
