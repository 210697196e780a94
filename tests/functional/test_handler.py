"""The Lambda face end to end, in-process: real events through `app.lambda_handler` against the local AWS.

GIVEN an event (a file in events/, one sam generates, or a broken one) WHEN the handler runs THEN CloudFormation gets
exactly one response (or none for an event it must refuse), the AWS calls are the expected ones, and the log lines
and metrics describe the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from devtools.invoke import LambdaContext, ResponseServer
from devtools.localaws import LocalAws
from selfheal.loader import load_estate
from tests.support.estates import GALERLY
from tests.support.handler import app, invoke

# Lambda never shows this warning (app.py filters it); pytest resets warning filters per test.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
SAM = ROOT / ".venv-sam" / "bin" / "sam"


ESTATE = load_estate(GALERLY, env={})
NAMES = [r.name for r in ESTATE.resources]
COUNT = len(NAMES)


@pytest.fixture(autouse=True)
def shipped_estate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' Galerly estate, named as the stack names the function's, whatever SELFHEAL_* the machine has set."""
    for name in list(os.environ):
        if name.startswith("SELFHEAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SELFHEAL_ESTATE", str(GALERLY))  # as the stack names /var/task/estate.yaml


@pytest.fixture
def out(capsys: pytest.CaptureFixture[str]) -> Any:
    """The function's stdout (log lines and EMF blobs), as Lambda would ship it to CloudWatch Logs."""
    handler = app.logger.registered_handler
    previous, handler.stream = handler.stream, _Stdout()
    yield lambda: capsys.readouterr().out
    handler.stream = previous


class _Stdout:
    """Whatever sys.stdout is at write time (capsys swaps it in for the test's call phase only)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def one_response(responses: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(responses) == 1, f"CloudFormation must get exactly one response, got {responses}"
    return responses[0]


def assert_echoes(response: dict[str, Any], event: dict[str, Any]) -> None:
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        assert response[key] == event[key]


def sam_event(*args: str) -> dict[str, Any]:
    if not SAM.exists():
        pytest.fail(f"{SAM.relative_to(ROOT)} is missing: run `make sam-venv` (the sam CLI generates these events)")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    done = subprocess.run([str(SAM), "local", "generate-event", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- every way the function is invoked --------------------------------------------------------------------------

EXPECTED = {  # event file -> (CloudFormation Status or None, writes made?)
    "cfn-create.json": ("SUCCESS", True),
    "cfn-update.json": ("SUCCESS", True),
    "cfn-delete.json": ("SUCCESS", False),
    "scheduled.json": (None, False),  # empty account: the blast-radius guard holds the scheduled run
    "manual-plan.json": (None, False),
    "manual-apply.json": (None, True),
    "manual-status.json": (None, False),
    "followup.json": (None, False),  # empty account: a follow-up is guarded like the nightly run
    # a change heals just the resource it names (on an empty account: created, there being no copy of it)
    "change-table-deleted.json": (None, True),
    "change-pitr-off.json": (None, True),
    "change-bucket-public.json": (None, True),
    # a deleted object is counted toward its bucket's mass-delete warning, where the stack's counter table is set
    "s3-object-deleted.json": (None, False),
    # a drill of an empty account: nothing to drill (no table to compare a restore with), one line, no write
    "drill.json": (None, False),
}


def test_events_folder_holds_exactly_the_expected_files() -> None:
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_event_file_runs_with_the_right_outcome(name: str, aws: LocalAws) -> None:
    event = load(name)
    status, writes = EXPECTED[name]

    result, responses, server, _ = invoke(event)

    assert bool(aws.writes()) is writes
    if status is not None:
        response = one_response(responses)
        assert result is None
        assert response["Status"] == status, response["Reason"]
        assert response["PhysicalResourceId"] == "selfheal-estate"
        assert_echoes(response, event)
        assert all(urlsplit(r["path"]).path == urlsplit(server.url).path for r in server.requests)
        if event["RequestType"] != "Delete":  # the summary, for Fn::GetAtt
            assert response["Data"] == {"ok": 0, "created": COUNT, "restored": 0, "repaired": 0, "conflict": 0,
                                        "error": 0, "deferred": 0, "restoring": 0, "in_progress": 0, "pending": 0,
                                        "checked": COUNT, "healed": COUNT, "failed": 0, "unfinished": 0}
        return
    assert responses == []
    if name == "s3-object-deleted.json":  # no SELFHEAL_DELETIONS_TABLE here: not counted, and it says why
        assert result == {"ignored": "deletions are not counted here (SELFHEAL_DELETIONS_TABLE is not set)"}
        return
    triggers = {"scheduled.json": "schedule", "followup.json": "followup"}
    assert result["trigger"] == ("change" if name.startswith("change-") else triggers.get(name, "manual"))
    if name.startswith("change-"):
        assert [r["name"] for r in result["resources"]] == list(result["change"]["resources"])
        assert result["summary"]["created"] == 1 and result["summary"]["failed"] == 0
    elif name in ("scheduled.json", "followup.json"):
        assert result["guard"]["tripped"] is True
    elif name == "manual-status.json":
        assert [r["name"] for r in result["resources"]] == event["only"]
    elif name == "manual-plan.json":
        assert result["summary"]["pending"] == COUNT
    elif name == "drill.json":
        assert result["action"] == "drill" and "does not exist" in result["error"] and " — run " in result["error"]
    else:
        assert result["summary"]["healed"] == COUNT and result["summary"]["failed"] == 0


def test_sam_generated_create_request_is_answered(aws: LocalAws) -> None:
    event = sam_event("cloudformation", "create-request")

    responses = invoke(event).responses

    response = one_response(responses)
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert_echoes(response, event)
    assert response["Data"]["created"] == COUNT


def test_sam_generated_scheduled_event_runs_a_scheduled_apply(aws: LocalAws) -> None:
    event = sam_event("cloudwatch", "scheduled-event")

    result, responses, _, _ = invoke(event)

    assert responses == []
    assert (result["action"], result["trigger"], result["guard"]["tripped"]) == ("apply", "schedule", True)
    assert aws.writes() == []


# --- CloudFormation: exactly one response -------------------------------------------------------------------------


def test_engine_exception_answers_failed_once(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Any, action: str) -> Any:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(app.Engine, "run", boom)

    responses = invoke(load("cfn-create.json")).responses

    response = one_response(responses)
    assert response["Status"] == "FAILED"
    assert "engine exploded" in response["Reason"] and len(response["Reason"]) < 256
    assert response["PhysicalResourceId"] == "selfheal-estate"


def test_invalid_estate_answers_failed_once_before_any_aws_call(
        aws: LocalAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "estate.yaml"
    bad.write_text("version: 1\ntables: [{name: x}]\n")
    monkeypatch.setenv("SELFHEAL_ESTATE", str(bad))

    responses = invoke(load("cfn-update.json")).responses

    response = one_response(responses)
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("invalid estate: ") and len(response["Reason"]) < 256
    assert aws.calls() == []


def test_unhealthy_run_answers_failed_naming_the_resources(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    # AWS refuses one table's CreateTable: the run completes, that table is an error, the deploy fails.
    import botocore.client

    real = botocore.client.BaseClient._make_api_call

    def refuse(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "CreateTable" and params.get("TableName") == NAMES[0]:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, operation)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)

    responses = invoke(load("cfn-create.json")).responses

    response = one_response(responses)
    assert response["Status"] == "FAILED"
    assert NAMES[0] in response["Reason"] and len(response["Reason"]) < 256
    assert response["Data"]["error"] == 1 and response["Data"]["created"] == COUNT - 1


def test_delete_succeeds_at_once_and_touches_nothing(aws: LocalAws) -> None:
    invoke({"action": "apply", "only": NAMES[:2]})
    aws.reset_calls()
    event = load("cfn-delete.json")

    responses = invoke(event).responses

    response = one_response(responses)
    assert (response["Status"], response["PhysicalResourceId"]) == ("SUCCESS", event["PhysicalResourceId"])
    assert_echoes(response, event)
    assert aws.calls() == []  # no engine run at all: 0 reads, 0 writes, 0 deletes


def test_delete_after_a_failed_create_succeeds(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(app.Engine, "run", lambda self, action: (_ for _ in ()).throw(RuntimeError("create failed")))
        created = invoke(load("cfn-create.json")).responses
    failed = one_response(created)
    assert failed["Status"] == "FAILED"
    delete = {**load("cfn-delete.json"), "PhysicalResourceId": failed["PhysicalResourceId"]}

    responses = invoke(delete).responses

    response = one_response(responses)
    assert (response["Status"], response["PhysicalResourceId"]) == ("SUCCESS", failed["PhysicalResourceId"])
    assert [c for c in aws.calls() if c["operation"].startswith("Delete")] == []


def test_near_timeout_answers_once_and_defers_the_rest(aws: LocalAws) -> None:
    healthy = NAMES[:3]
    invoke({"action": "apply", "only": healthy})
    aws.reset_calls()

    # 2.5 s left is inside the safety margin: nothing new is started, the run still answers in time.
    responses = invoke(load("cfn-create.json"), LambdaContext(timeout_s=2.5), linger=True).responses

    response = one_response(responses)
    # nothing failed: the deferred resources are left to a follow-up, and the deploy is not failed for slowness
    assert response["Status"] == "SUCCESS", response.get("Reason")
    assert response["Data"]["ok"] == len(healthy) and response["Data"]["deferred"] == COUNT - len(healthy)
    assert response["Data"]["unfinished"] == COUNT - len(healthy) and response["Data"]["failed"] == 0
    assert aws.writes() == []  # and crhelper's own timeout answer never came (the server listened past the end)


def test_crhelper_timeout_and_late_run_still_send_one_response(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    # The run overruns the Lambda: crhelper's timer answers FAILED; the late result must not be sent as well.
    real = app.Engine.run
    monkeypatch.setattr(app.Engine, "run", lambda self, action: (time.sleep(1.0), real(self, action))[1])

    responses = invoke(load("cfn-create.json"), LambdaContext(timeout_s=0.8), linger=True).responses

    response = one_response(responses)
    assert (response["Status"], response["Reason"]) == ("FAILED", "Execution timed out")


def test_a_run_ending_just_before_crhelpers_timeout_answer_does_not_race_it(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run returns 0.8 s before the Lambda's end: crhelper's timer answers at 0.5 s, so sending the run's own
    # result now could cross it. The handler waits for the timer's answer and sends nothing of its own.
    context = LambdaContext(timeout_s=4.0)
    real = app.Engine.run

    def late(self: Any, action: str) -> Any:
        report = real(self, action)
        time.sleep(max(0.0, context.get_remaining_time_in_millis() - 800) / 1000)
        return report

    monkeypatch.setattr(app.Engine, "run", late)
    responses = invoke(load("cfn-create.json"), context, linger=True).responses

    response = one_response(responses)
    assert (response["Status"], response["Reason"]) == ("FAILED", "Execution timed out")


# --- events the function refuses -----------------------------------------------------------------------------------

CFN = {k: v for k, v in json.loads((EVENTS / "cfn-create.json").read_text()).items() if k != "ResourceProperties"}

REFUSED = {
    "not an object": ([1, 2], "must be a JSON object"),
    "empty object": ({}, "unrecognised event"),
    "unknown shape": ({"hello": "world"}, "unrecognised event"),
    "cfn without ResponseURL": ({k: v for k, v in CFN.items() if k != "ResponseURL"}, "without ResponseURL"),
    "cfn with unknown RequestType": ({**CFN, "RequestType": "Destroy"}, "RequestType 'Destroy' is unknown"),
    "cfn to a plain http host": ({**CFN, "ResponseURL": "http://example.com/x"}, "must be https"),
    "cfn answered to another host": ({**CFN, "ResponseURL": "https://example.com/x?X-Amz-Signature=s"},
                                     "host 'example.com' is not CloudFormation's response bucket in us-east-1"),
    "cfn answered to another region's bucket": (
        {**CFN, "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/x"},
        "is not CloudFormation's response bucket in us-east-1"),
    "cfn answered to a look-alike host": (
        {**CFN, "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.io/x"},
        "is not CloudFormation's response bucket"),
    "cfn of another account's stack": (
        {**CFN, "StackId": "arn:aws:cloudformation:us-east-1:999999999999:stack/x/1"},
        "is not a stack of this function's account 123456789012 and region us-east-1"),
    "cfn of another region's stack": (
        {**CFN, "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/x/1"}, "is not a stack"),
    "EventBridge, not scheduled": ({"source": "aws.events", "detail-type": "EC2 Instance State-change"},
                                   "only scheduled events"),
    "manual, unknown action": ({"action": "delete"}, "action 'delete' is not one of plan, apply, status"),
    "manual, unknown field": ({"action": "apply", "force": True}, "unknown field.s. force"),
    "manual, only not a list": ({"action": "plan", "only": "galerly-users"}, "only must be a list"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unknown_or_malformed_event_is_refused_before_any_aws_call(case: str, aws: LocalAws) -> None:
    event, message = REFUSED[case]
    with ResponseServer() as server:
        if isinstance(event, dict) and "ResponseURL" in event and "amazonaws" not in event["ResponseURL"] \
                and "example.com" not in event["ResponseURL"]:
            event = {**event, "ResponseURL": server.url}

        with pytest.raises(app.InvalidEvent, match=message):
            app.lambda_handler(event, LambdaContext())

    assert server.requests == []
    assert aws.calls() == []


@pytest.mark.parametrize(("region", "url"), [
    ("us-east-1", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3A?X-Amz-Signature=s"),
    ("eu-west-1", "https://cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com/x"),
    ("eu-west-1", "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/x"),
    ("cn-north-1", "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x"),
])
def test_cloudformations_own_response_urls_are_accepted(region: str, url: str) -> None:
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    stack = f"arn:{partition}:cloudformation:{region}:123456789012:stack/galerly-selfheal/1"
    app._check_cfn_origin({**CFN, "ResponseURL": url, "StackId": stack}, ("123456789012", region))


def test_unknown_resource_in_only_is_an_estate_error_naming_it(aws: LocalAws) -> None:
    with pytest.raises(app.EstateError, match="'galerly-user' is not declared.*did you mean 'galerly-users'"):
        invoke({"action": "plan", "only": ["galerly-user"]})
    assert aws.calls() == []


# --- what one run tells the logs and the metrics -------------------------------------------------------------------


def test_one_run_logs_a_line_per_resource_and_a_summary_with_the_request_id(aws: LocalAws, out: Any) -> None:
    context = LambdaContext()

    invoke(load("manual-apply.json"), context)

    records = [json.loads(line) for line in out().splitlines() if line.strip()]
    logs = [r for r in records if "level" in r]
    blobs = [r for r in records if "_aws" in r]
    assert len(logs) + len(blobs) == len(records)
    assert all(r["function_request_id"] == context.aws_request_id for r in logs)

    per_resource = [r["resource"] for r in logs if "resource" in r]
    assert sorted(r["name"] for r in per_resource) == sorted(NAMES)
    assert all(set(r) == {"kind", "name", "outcome", "changes", "reason", "duration_s"} for r in per_resource)
    summaries = [r for r in logs if "summary" in r]
    assert len(summaries) == 1
    assert (summaries[0]["trigger"], summaries[0]["action"]) == ("manual", "apply")
    assert summaries[0]["summary"]["created"] == COUNT

    assert len(blobs) == 1
    blob = blobs[0]
    assert blob["request_id"] == context.aws_request_id
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Selfheal" and ["trigger", "service"] in directive["Dimensions"]
    names = {m["Name"] for m in directive["Metrics"]}
    assert names == {"checked", "healthy", "created", "restored", "repaired", "healed", "conflicts", "errors",
                     "deferred", "restoring", "in_progress", "guard_tripped", "followup_failed"}
    assert blob["guard_tripped"] in (0, [0.0])  # EMF may carry a value as a one-element list
    assert all(m["Unit"] == "Count" for m in directive["Metrics"])
    assert blob["trigger"] == "manual"
    assert (blob["checked"], blob["created"], blob["healthy"], blob["errors"]) == ([COUNT], [COUNT], [COUNT], [0])


def test_logs_never_carry_the_presigned_response_url(
        aws: LocalAws, out: Any, caplog: pytest.LogCaptureFixture) -> None:
    app.logger.setLevel("DEBUG")
    try:
        _, responses, server, _ = invoke(load("cfn-delete.json"))
    finally:
        app.logger.setLevel("INFO")
    one_response(responses)
    secret = urlsplit(server.url).query
    assert secret not in out() and secret not in caplog.text


# --- the blast-radius guard ---------------------------------------------------------------------------------------


def test_scheduled_run_on_an_empty_account_is_held_and_a_manual_apply_heals_it(aws: LocalAws) -> None:
    held = invoke(load("scheduled.json")).result

    assert held["guard"]["tripped"] is True and held["summary"]["deferred"] == COUNT
    assert aws.writes() == []

    healed = invoke(load("manual-apply.json")).result

    assert healed["summary"]["healed"] == COUNT and healed["summary"]["failed"] == 0
    assert aws.writes()
    again = invoke(load("scheduled.json")).result
    assert again["summary"]["ok"] == COUNT and "guard" not in again


def test_no_crhelper_timer_is_left_running() -> None:
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]


# --- import-time safety ---------------------------------------------------------------------------------------------

IMPORT_ONLY = """
import json, sys
sys.path.insert(0, {function_dir!r})
{prelude}
import app
{body}
"""


def run_isolated(prelude: str, body: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = IMPORT_ONLY.format(function_dir=str(ROOT / "functions" / "selfheal"), prelude=prelude, body=body)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_"))}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                          env={**clean, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", **env}, cwd=ROOT)


def test_import_in_lambda_without_the_xray_sdk_runs_untraced() -> None:
    done = run_isolated(
        'sys.modules["aws_xray_sdk"] = None',
        'from devtools.invoke import LambdaContext\n'
        'try:\n    app.lambda_handler({"action": "nope"}, LambdaContext())\n'
        'except app.InvalidEvent as exc:\n    print("refused:", exc)\n'
        'print("tracer:", app.tracer)',
        {"LAMBDA_TASK_ROOT": "/var/task", "AWS_REGION": "us-east-1"})
    assert done.returncode == 0, done.stderr
    assert "refused: manual event: action 'nope'" in done.stdout and "tracer: None" in done.stdout


def test_delete_succeeds_even_when_crhelper_could_not_start() -> None:
    # crhelper answers FAILED to everything once building its polling clients failed (here: no region at all, so
    # boto3 cannot make them). This function never polls: the start-up failure is logged, and the Delete passes.
    event = {k: v for k, v in load("cfn-delete.json").items() if k != "ResourceProperties"}
    done = run_isolated(
        "",
        "from devtools.invoke import LambdaContext, ResponseServer\n"
        f"event = {event!r}\n"
        "with ResponseServer() as server:\n"
        "    app.lambda_handler({**event, 'ResponseURL': server.url}, LambdaContext())\n"
        "print(json.dumps(server.responses))",
        {"POWERTOOLS_TRACE_DISABLED": "true"})
    assert done.returncode == 0, done.stderr
    (response,) = json.loads(done.stdout.strip().splitlines()[-1])
    assert (response["Status"], response["PhysicalResourceId"]) == ("SUCCESS", "selfheal-estate")
    assert "crhelper could not build its polling clients" in done.stdout + done.stderr


def test_a_cold_start_imports_only_what_every_request_needs() -> None:
    # crhelper and Powertools' data classes answer CloudFormation, change.py reads change events, followup.py
    # schedules unfinished work, notify.py and fleet.py tell people and the fleet, difflib suggests a fix for a bad
    # estate: a nightly run's import of the handler pays for none of them.
    lazy = ("crhelper", DATA_CLASSES, "selfheal.change", "selfheal.followup", "selfheal.notify", "selfheal.fleet",
            "difflib")
    done = run_isolated("", f"print(json.dumps(sorted(m for m in {lazy!r} if m in sys.modules)))",
                        {"POWERTOOLS_TRACE_DISABLED": "true"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_yaml_and_the_validators_are_imported_by_the_first_estate_read_not_before() -> None:
    # `import app` and `selfheal --version` read no estate file: neither pays for PyYAML or fastjsonschema.
    done = run_isolated("", "from selfheal import cli\n"
                        "imported = lambda: sorted(m for m in ('yaml', 'fastjsonschema') if m in sys.modules)\n"
                        "assert cli.main(['--version']) in (0, None)\n"
                        "before = imported()\n"
                        "import os\n"
                        "from selfheal.loader import load_estate\n"
                        "load_estate(env=os.environ)\n"
                        "print(json.dumps([before, imported()]))",
                        {"POWERTOOLS_TRACE_DISABLED": "true"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[], ["fastjsonschema", "yaml"]]


DATA_CLASSES = "aws_lambda_powertools.utilities.data_classes"  # its __init__ imports all ~33 event modules


def test_only_a_cloudformation_request_imports_powertools_data_classes() -> None:
    # GIVEN every event file but CloudFormation's, parsed in a fresh interpreter, THEN no Powertools data class is
    # loaded; WHEN a CloudFormation request is parsed THEN it is Powertools' class.
    names = sorted(p.name for p in (ROOT / "events").glob("*.json") if not p.name.startswith("cfn-"))
    done = run_isolated("", "from selfheal.events import parse\n"
                        f"for name in {names!r}:\n    parse(json.loads(open('events/' + name).read()))\n"
                        f"print({DATA_CLASSES!r} in sys.modules)\n"
                        "request = parse(json.loads(open('events/cfn-create.json').read()))\n"
                        "print(type(request).__module__)", {"POWERTOOLS_TRACE_DISABLED": "true"})
    assert done.returncode == 0, done.stderr
    assert len(names) >= 6 and done.stdout.split() == ["False", f"{DATA_CLASSES}.cloudformation_custom_resource_event"]
