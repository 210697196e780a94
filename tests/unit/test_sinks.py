"""What follows a Lambda run (selfheal/sinks): each sink's call and its error handling, and `after_run` calling them in
one place, the follow-up first.

GIVEN a finished run (a Report built by hand) and an invocation whose AWS clients are botocore clients under
botocore's Stubber (requests and answers checked against AWS's own shapes; no server) WHEN the sinks run THEN the
calls, log lines and metrics are the ones the run calls for, and no sink's failure escapes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from selfheal import fleet, sinks
from selfheal.change import Change as ChangeEvent
from selfheal.followup import Followup
from selfheal.model import Change, Outcome, ResourceResult
from selfheal.report import Report
from selfheal.sinks import central, logs, message, metrics
from selfheal.sinks import followup as followup_sink

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:selfheal"
FOLLOWUP_ROLE = "arn:aws:iam::123456789012:role/selfheal-followup"
TOPIC = "arn:aws:sns:us-east-1:123456789012:selfheal-alarms"
BUS = "arn:aws:events:us-east-1:111111111111:event-bus/selfheal-fleet"
FOLLOWUPS = {"SELFHEAL_FOLLOWUP_ROLE_ARN": FOLLOWUP_ROLE}
FLEET = {"SELFHEAL_CENTRAL_EVENT_BUS_ARN": BUS}


class Clients:
    """selfheal.aws.Clients' face (`client(name)`, `region`): real botocore clients, stubbed; every call recorded."""

    region = "us-east-1"

    def __init__(self) -> None:
        self.stubbers: dict[str, Stubber] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def client(self, name: str) -> Any:
        if name not in self.stubbers:
            made = boto3.client(name, region_name=self.region, aws_access_key_id="x", aws_secret_access_key="x")
            made.meta.events.register("before-parameter-build", self._record)
            self.stubbers[name] = Stubber(made)
            self.stubbers[name].activate()
        return self.stubbers[name].client

    def stub(self, name: str) -> Stubber:
        self.client(name)
        return self.stubbers[name]

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]


class Metrics:
    """Records what Powertools' Metrics would put in the EMF blob."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.units: set[Any] = set()
        self.dimensions: dict[str, str] = {}
        self.metadata: dict[str, Any] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.values[name] = value
        self.units.add(unit)

    def add_dimension(self, name: str, value: str) -> None:
        self.dimensions[name] = value

    def add_metadata(self, key: str, value: Any) -> None:
        self.metadata[key] = value


def report(*results: ResourceResult, action: str = "apply", trigger: str = "schedule", tripped: bool = False) -> Report:
    made = Report(action, trigger, list(results))  # type: ignore[arg-type]
    if tripped:
        made.guard, made.guard_tripped = "15 of 15 resources would be created", True
    return made


HEALED = ResourceResult("table", "galerly-users", Outcome.REPAIRED, [Change("pitr", False, True)], "PITR turned on")
RESTORING = ResourceResult("table", "galerly-sessions", Outcome.RESTORING, reason="restoring from a backup")
FAILED = ResourceResult("bucket", "galerly-photos", Outcome.ERROR, reason="AccessDenied")
OK = ResourceResult("table", "galerly-orders", Outcome.OK)


def invocation(clients: Clients | None = None, environ: dict[str, str] | None = None,
               **fields: Any) -> sinks.Invocation:
    return sinks.Invocation(clients=clients or Clients(), metrics=Metrics(), environ=environ or {},
                            function_arn=FUNCTION, request_id="req-1", **fields)


def schedule_answer(clients: Clients) -> None:
    clients.stub("scheduler").add_response(
        "create_schedule", {"ScheduleArn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/x"})


# --- after_run: one place, the follow-up first --------------------------------------------------------------------


def test_after_run_hands_over_first_and_every_sink_sees_the_follow_up(monkeypatch: pytest.MonkeyPatch) -> None:
    clients = Clients()
    schedule_answer(clients)
    seen: list[tuple[str, sinks.Finished]] = []
    monkeypatch.setattr(sinks, "SINKS", tuple(
        (lambda finished, _inv, label=label: seen.append((label, finished))) for label in ("a", "b")))
    run = report(HEALED, RESTORING)

    handed_over = sinks.after_run(run, invocation(clients, FOLLOWUPS), link=1)

    assert handed_over is not None and handed_over.link == 2 and handed_over.at is not None
    assert clients.operations() == ["CreateSchedule"]
    assert [label for label, _ in seen] == ["a", "b"]
    assert all(f.report is run and f.handed_over is handed_over and f.change is None for _, f in seen)


def test_the_sinks_are_the_log_lines_the_metrics_the_message_and_the_central_event() -> None:
    assert sinks.SINKS == (logs.send, metrics.send, message.send, central.send)


def test_a_change_runs_follow_up_looks_again_at_its_own_resources_only() -> None:
    change = ChangeEvent("UpdateContinuousBackups", ("galerly-sessions",), "arn:aws:iam::1:user/x", "1.2.3.4", "t")
    for caused_by, only in ((change, ["galerly-sessions"]), (None, None)):
        clients = Clients()
        schedule_answer(clients)

        sinks.after_run(report(RESTORING), invocation(clients, FOLLOWUPS), only=("galerly-sessions",),
                        change=caused_by)

        ((_, params),) = clients.calls
        assert json.loads(params["Target"]["Input"])["detail"].get("only") == only


# --- the follow-up ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("run", [
    report(HEALED),  # nothing left to do
    report(RESTORING, tripped=True),  # the guard held the run: a person decides, not a follow-up
    report(RESTORING, action="plan"),  # a plan changes nothing, so there is nothing to carry on with
])
def test_no_follow_up_without_unfinished_work_of_an_apply_the_guard_let_run(run: Report) -> None:
    clients = Clients()

    assert followup_sink.hand_over(run, invocation(clients, FOLLOWUPS)) is None
    assert clients.calls == []


def test_unfinished_work_without_follow_ups_set_up_is_a_problem_the_metrics_alarm_on() -> None:
    inv = invocation()

    handed_over = sinks.after_run(report(RESTORING), inv)

    assert handed_over == Followup(1, problem=followup_sink.NOT_SET_UP)
    assert inv.metrics.values["followup_failed"] == 1  # type: ignore[attr-defined]


def test_a_refused_schedule_is_reported_not_raised() -> None:
    clients = Clients()
    clients.stub("scheduler").add_client_error("create_schedule", "AccessDeniedException", "not allowed", 400)

    handed_over = followup_sink.hand_over(report(RESTORING), invocation(clients, FOLLOWUPS), link=3)

    assert handed_over is not None and handed_over.link == 4 and handed_over.at is None
    assert "AccessDenied" in handed_over.problem and "nightly run carries on" in handed_over.problem


# --- log lines ----------------------------------------------------------------------------------------------------


def test_one_line_per_resource_one_for_the_run_and_one_for_the_follow_up(caplog: pytest.LogCaptureFixture) -> None:
    handed_over = Followup(2, problem="the chain of follow-ups stopped after 24 runs")
    caplog.set_level(logging.INFO, logger="selfheal.sinks")

    logs.send(sinks.Finished(report(HEALED, FAILED, RESTORING), handed_over), invocation())

    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [
        (logging.INFO, "table galerly-users: repaired"),
        (logging.ERROR, "bucket galerly-photos: error"),
        (logging.INFO, "table galerly-sessions: restoring"),
        (logging.ERROR, "apply run: repaired 1, error 1, restoring 1, checked 3, healed 1, failed 1, unfinished 1"),
        (logging.ERROR, "follow-up not scheduled"),
    ]
    resource = caplog.records[0].resource  # type: ignore[attr-defined]
    assert resource["changes"] == [{"path": "pitr", "from": False, "to": True}]
    assert caplog.records[3].summary["error"] == 1  # type: ignore[attr-defined]
    assert caplog.records[4].unfinished == ["table galerly-sessions: restoring"]  # type: ignore[attr-defined]


# --- metrics ------------------------------------------------------------------------------------------------------


def test_metrics_count_the_run_by_trigger_with_the_request_id() -> None:
    inv = invocation()

    metrics.send(sinks.Finished(report(HEALED, OK, FAILED, trigger="change")), inv)

    recorded: Metrics = inv.metrics  # type: ignore[assignment]
    assert recorded.dimensions == {"trigger": "change"} and recorded.metadata == {"request_id": "req-1"}
    assert recorded.units == {"Count"}
    assert {k: recorded.values[k] for k in ("checked", "healthy", "repaired", "errors", "followup_failed")} == {
        "checked": 3, "healthy": 2, "repaired": 1, "errors": 1, "followup_failed": 0}


# --- the message --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("topic", "run"), [
    (None, report(HEALED)),  # no topic configured
    (TOPIC, report(HEALED, action="plan")),  # a plan changes nothing: nobody is told
    (TOPIC, report(OK)),  # nothing happened worth telling
])
def test_no_message_when_there_is_no_topic_or_nothing_to_tell(topic: str | None, run: Report) -> None:
    clients = Clients()

    message.send(sinks.Finished(run), invocation(clients, {"SELFHEAL_TOPIC_ARN": topic} if topic else {}))

    assert clients.calls == []


def test_a_healing_run_publishes_one_message_and_a_refusal_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clients = Clients()
    clients.stub("sns").add_response("publish", {"MessageId": "m-1"}, {
        "TopicArn": TOPIC, "Subject": ANY, "Message": ANY, "MessageStructure": "json", "MessageAttributes": ANY})
    clients.stub("sns").add_client_error("publish", "AuthorizationError", "not allowed", 403)
    finished = sinks.Finished(report(HEALED))

    message.send(finished, invocation(clients, {"SELFHEAL_TOPIC_ARN": TOPIC}))
    message.send(finished, invocation(clients, {"SELFHEAL_TOPIC_ARN": TOPIC}))

    assert clients.operations() == ["Publish", "Publish"]
    assert "galerly-users" in clients.calls[0][1]["Subject"]
    assert any("AuthorizationError" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


# --- the central event ----------------------------------------------------------------------------------------------


def test_no_central_event_without_a_bus_or_for_a_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet, "tell_central", lambda *a, **k: pytest.fail("sent"))
    for inv, run in ((invocation(), report(HEALED)), (invocation(environ=FLEET), report(HEALED, action="plan"))):
        central.send(sinks.Finished(run), inv)
        assert inv.metrics.values == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("problem", "counted"), [(None, 0), ("PutEvents refused: AccessDenied", 1)])
def test_the_central_event_is_sent_with_the_follow_up_and_counted(
    problem: str | None, counted: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(fleet, "tell_central", lambda *args: sent.append(args) or problem)
    handed_over = Followup(1, "selfheal-followup-01")
    run = report(RESTORING)
    inv = invocation(environ=FLEET, seconds_left=lambda: 30.0)

    central.send(sinks.Finished(run, handed_over), inv)

    assert sent == [(inv.clients, BUS, run, handed_over, FUNCTION)]
    assert inv.metrics.values == {"central_event_failed": counted}  # type: ignore[attr-defined]


def test_too_little_time_left_drops_the_central_event_logs_and_counts_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # A slow bus must not push a deploy past crhelper's timeout answer.
    monkeypatch.setattr(fleet, "tell_central", lambda *a, **k: pytest.fail("sent"))
    inv = invocation(environ=FLEET, seconds_left=lambda: central.MIN_SECONDS_LEFT - 0.5)

    central.send(sinks.Finished(report(HEALED)), inv)

    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.getMessage() == "the run event was not sent"
    assert line.reason == "not sent: 4.5 s left in the invocation"  # type: ignore[attr-defined]
    assert inv.metrics.values == {"central_event_failed": 1}  # type: ignore[attr-defined]
