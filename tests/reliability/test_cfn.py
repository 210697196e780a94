"""CloudFormation waits for exactly one response per request: faults inside the run must not cost it that response,
add a second one, or hang. Complements tests/functional/test_handler.py (which covers Create with a broken engine,
the 2.5 s-left context, crhelper's own timeout and the refused events) with faults that come from AWS mid-run.

A local HTTP server on 127.0.0.1 stands in for the presigned ResponseURL; every wait here is bounded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.invoke import LambdaContext, ResponseServer, load_handler
from tests.support.estates import GALERLY
from tests.support.handler import invoke

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    for name in [n for n in __import__("os").environ if n.startswith("SELFHEAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SELFHEAL_ESTATE", str(GALERLY))  # as the stack names /var/task/estate.yaml
    return load_handler()


@pytest.fixture
def faulty(app, faults, monkeypatch):
    """The handler's engine talks to the local AWS through the fault injector's Session."""
    monkeypatch.setattr(app, "Clients", lambda: faults.clients())
    return faults


def event(name):
    return json.loads((ROOT / "events" / name).read_text())


def test_an_aws_surprise_inside_the_run_answers_failed_once(app, faulty, aws):
    # Not a ClientError: something the engine does not expect (before-call hook raising), on an Update.
    faulty.add("dynamodb", "DescribeTable", "galerly-photos", code=None,
               action=lambda: (_ for _ in ()).throw(RuntimeError("connection pool exploded")))

    responses = invoke(event("cfn-update.json"), LambdaContext(timeout_s=120), bound_s=60, handler=app).responses

    assert len(responses) == 1, responses
    assert responses[0]["Status"] == "FAILED"
    assert "connection pool exploded" in responses[0]["Reason"] and len(responses[0]["Reason"]) < 256
    assert responses[0]["PhysicalResourceId"] == "selfheal-estate"  # same id: CloudFormation sends no Delete
    assert not [c for c in aws.calls() if c["operation"].startswith("Delete")]


def test_deadline_reached_mid_run_answers_success_once_with_what_is_left(app, faulty, aws):
    # A 6 s Lambda: the run must stop starting work at 3 s (the safety margin) and answer before crhelper's timer
    # (5.5 s). galerly-users' CreateTable is held past the run's deadline (before-call sleep).
    context = LambdaContext(timeout_s=6)
    faulty.add("dynamodb", "CreateTable", "galerly-users", sleep_until=lambda: app.deadline(context) + 0.3)

    _, responses, _, took = invoke(event("cfn-create.json"), context, linger=True, bound_s=60, handler=app)

    assert len(responses) == 1, responses
    response = responses[0]
    # slowness never fails a deploy (a failed Create would roll the stack, and this function, back): SUCCESS with
    # the counts; the deferred resources are a follow-up's (or the nightly run's) work
    assert response["Status"] == "SUCCESS", response.get("Reason")
    assert response["Data"]["deferred"] >= 1 and response["Data"]["unfinished"] >= 1
    assert response["Data"]["error"] == 0 and response["Data"]["failed"] == 0
    assert took < 5.5  # answered by the run itself, not by crhelper's timeout; and no late "Execution timed out"
    users = aws_table(aws, "galerly-users")
    assert users["TableStatus"] == "ACTIVE"  # the held create did happen; the rest is left for the next run


def aws_table(aws, name):
    import boto3

    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.endpoint).describe_table(
        TableName=name)["Table"]


MALFORMED = {
    "RequestType missing": lambda e: {k: v for k, v in e.items() if k != "RequestType"},
    "RequestType lower case": lambda e: {**e, "RequestType": "create"},
    "RequestType not a string": lambda e: {**e, "RequestType": ["Create"]},
    "ResponseURL empty": lambda e: {**e, "ResponseURL": ""},
    "ResponseURL not a string": lambda e: {**e, "ResponseURL": {"url": "https://x"}},
    "StackId missing": lambda e: {k: v for k, v in e.items() if k != "StackId"},
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_requests_get_no_response_and_no_aws_call(case, app, aws):
    # CloudFormation never sends these, so nobody waits for an answer: refuse, send nothing, touch nothing.
    with ResponseServer() as server:
        base = {**event("cfn-create.json"), "ResponseURL": server.url}
        with pytest.raises(app.InvalidEvent):
            app.lambda_handler(MALFORMED[case](base), LambdaContext())
    assert server.requests == []
    assert aws.calls() == []


def test_scheduled_and_manual_runs_never_send_a_response_even_when_the_engine_raises(app, aws, monkeypatch):
    sent = []
    # Only a CloudFormation request builds crhelper (which alone answers a ResponseURL): record any attempt.
    monkeypatch.setattr(app, "_custom_resource", lambda: sent.append("crhelper built") or pytest.fail("answered"))
    # The engine turns one resource's surprise into that resource's error; here the engine itself gives way.
    monkeypatch.setattr("selfheal.engine.Engine.run", lambda self, action: (_ for _ in ()).throw(RuntimeError("boom")))

    for request in (event("scheduled.json"), event("manual-apply.json")):
        with pytest.raises(RuntimeError, match="boom"):  # the invocation fails: Lambda's Errors metric alarms
            app.lambda_handler(request, LambdaContext())
    assert sent == []
