"""Adding a kind of resource touches no module of selfheal: a queue kind (SQS), all of it in tests/support/
queue_kind.py and registered here, goes through the CLI's status, plan and apply on the local AWS like the shipped
tables and buckets — observed, planned, created, repaired, shown in its own status table — with the function role's
policy enforced (the kind's permissions added to a copy of template.yaml, as a real kind adds them to the template),
and its CloudTrail calls are routed to its queues.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.localaws import LocalAws
from selfheal import cli
from selfheal.change import Change, Ignored, is_change_event, route
from selfheal.kinds import register, unregister
from selfheal.loader import parse_estate
from tests.e2e.conftest import role_calls
from tests.support.enforce import TEMPLATE
from tests.support.queue_kind import QueueKind

ESTATE = """\
version: 1
tables:
  - name: toy-orders
    hash_key: id
    deletion_protection: false
queues:
  - name: toy-jobs
    visibility_timeout_seconds: 45
  - name: toy-mail
"""

# The permissions the queue kind needs, as its template change would add them to the function role.
QUEUE_STATEMENT = """\
              - Sid: EstateQueues
                Effect: Allow
                Action: [sqs:GetQueueUrl, sqs:GetQueueAttributes, sqs:CreateQueue, sqs:SetQueueAttributes]
                Resource: !Sub "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Prefix}-*"
"""


@pytest.fixture
def queue_kind() -> Iterator[QueueKind]:
    kind = QueueKind()
    register(kind)
    yield kind
    unregister(kind.name)


@pytest.fixture
def template_with_queues(tmp_path: Path) -> Path:
    text = TEMPLATE.read_text()
    anchor = "              - Sid: WhoAmI\n"
    assert anchor in text, "the function role's runtime policy moved: update the anchor"
    copy = tmp_path / "template.yaml"
    copy.write_text(text.replace(anchor, QUEUE_STATEMENT + anchor, 1))
    return copy


def selfheal(aws: LocalAws, capsys: pytest.CaptureFixture[str], estate: Path, *args: str) -> tuple[int, str]:
    code = cli.main([*args, "--estate", str(estate), "--endpoint-url", aws.endpoint, "--region", "us-east-1"])
    return code, capsys.readouterr().out


def report(aws: LocalAws, capsys: pytest.CaptureFixture[str], estate: Path, command: str,
           extra: Sequence[str] = ()) -> tuple[int, dict[str, Any]]:
    code, out = selfheal(aws, capsys, estate, command, "--json", *extra)
    return code, json.loads(out)


@pytest.mark.iam_parameters(Prefix="toy")
def test_a_registered_kind_goes_through_status_plan_and_apply(
    aws: LocalAws, queue_kind: QueueKind, template_with_queues: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    aws.enforce_iam(template_with_queues, parameters={"Prefix": "toy"})  # the role, with the kind's permissions
    estate = tmp_path / "estate.yaml"
    estate.write_text(ESTATE)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.endpoint)

    # plan: both queues (and the table) missing, nothing written
    code, plan = report(aws, capsys, estate, "plan")
    assert code == 2
    queues = {r["name"]: r for r in plan["resources"] if r["kind"] == "queue"}
    assert {n: (r["outcome"], r["reason"]) for n, r in queues.items()} == {
        "toy-jobs": ("pending", "would be created"), "toy-mail": ("pending", "would be created")}
    assert [c for c in role_calls(aws) if c["write"]] == []

    # apply: created with the declared attribute, then read back (the reconcile after a create) and in sync
    aws.reset_calls()
    code, applied = report(aws, capsys, estate, "apply")
    assert code == 0, applied
    outcomes = {(r["kind"], r["name"]): r["outcome"] for r in applied["resources"]}
    assert outcomes == {("table", "toy-orders"): "created", ("queue", "toy-jobs"): "created",
                        ("queue", "toy-mail"): "created"}
    jobs = sqs.get_queue_url(QueueName="toy-jobs")["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=jobs, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "45"}
    assert sorted(c["operation"] for c in role_calls(aws) if c["service"] == "sqs" and c["write"]) == [
        "CreateQueue", "CreateQueue"]
    assert [c for c in role_calls(aws) if c["status"] == 403] == []  # every call inside the role's policy

    # drift: someone changes the timeout; apply repairs only that, and a healthy estate costs no write
    sqs.set_queue_attributes(QueueUrl=jobs, Attributes={"VisibilityTimeout": "5"})
    code, repaired = report(aws, capsys, estate, "apply")
    assert code == 0
    jobs_result = next(r for r in repaired["resources"] if r["name"] == "toy-jobs")
    assert jobs_result["outcome"] == "repaired"
    assert jobs_result["changes"] == [{"path": "visibility_timeout_seconds", "from": 5, "to": 45}]
    aws.reset_calls()
    code, healthy = report(aws, capsys, estate, "apply")
    assert code == 0 and healthy["summary"]["ok"] == 3
    assert [c for c in role_calls(aws) if c["write"]] == []

    # status: the kind's own table, with its title and columns, beside the shipped kinds'
    code, out = selfheal(aws, capsys, estate, "status")
    assert code == 0
    assert "SQS queues" in out and "visibility timeout" in out and "DynamoDB tables" in out
    jobs_row = next(line for line in out.splitlines() if "toy-jobs" in line)
    assert "in sync" in jobs_row and "45" in jobs_row


def test_the_kinds_estate_section_is_validated_like_the_shipped_ones(
    aws: LocalAws, queue_kind: QueueKind, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    estate = tmp_path / "estate.yaml"
    estate.write_text(ESTATE.replace("visibility_timeout_seconds: 45", "visibility_timout_seconds: 45"))
    code = cli.main(["plan", "--estate", str(estate), "--endpoint-url", aws.endpoint])
    err = capsys.readouterr().err
    assert code == 1
    assert "queues[0].visibility_timout_seconds: unknown field" in err and "visibility_timeout_seconds" in err
    assert aws.calls() == []  # refused before any AWS call


def test_without_the_kind_registered_its_section_is_an_unknown_field(
    aws: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    estate = tmp_path / "estate.yaml"
    estate.write_text(ESTATE)
    assert cli.main(["plan", "--estate", str(estate), "--endpoint-url", aws.endpoint]) == 1
    assert "(top).queues: unknown field" in capsys.readouterr().err
    assert aws.calls() == []


def test_the_kinds_section_is_in_the_schema_editors_get(
    queue_kind: QueueKind, capsys: pytest.CaptureFixture[str],
) -> None:
    import jsonschema  # noqa: PLC0415
    import yaml  # noqa: PLC0415

    assert cli.main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["properties"]["queues"]["description"] == "SQS queues"
    jsonschema.validate(yaml.safe_load(ESTATE), schema)  # the estate above, as an editor checks it while typing
    only_queues = {"version": 1, "queues": [{"name": "toy-jobs"}]}
    jsonschema.validate(only_queues, schema)  # a kind's section alone is an estate, as tables or buckets are
    typo = yaml.safe_load(ESTATE.replace("visibility_timeout_seconds: 45", "visibility_timout_seconds: 45"))
    with pytest.raises(jsonschema.ValidationError, match="visibility_timout_seconds"):
        jsonschema.validate(typo, schema)


def test_the_kinds_cloudtrail_calls_are_routed_to_its_queues(queue_kind: QueueKind) -> None:
    estate = parse_estate(ESTATE)
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/"

    def event(name: str, queue: str) -> dict[str, Any]:
        return {"source": "aws.sqs", "detail-type": "AWS API Call via CloudTrail", "detail": {
            "eventName": name, "eventSource": "sqs.amazonaws.com", "requestParameters": {"queueUrl": url + queue},
            "userIdentity": {"arn": "arn:aws:iam::123456789012:user/someone"}}}

    changed = event("SetQueueAttributes", "toy-jobs")
    assert is_change_event(changed)
    found = route(changed, estate, own_role_arn=None)
    assert isinstance(found, Change) and found.resources == ("toy-jobs",)
    assert route(event("DeleteQueue", "other"), estate, None) == Ignored(
        "DeleteQueue on queue 'other', which the estate does not declare")
    assert route(event("SendMessage", "toy-jobs"), estate, None) == Ignored(
        "SendMessage changes nothing the estate declares")
