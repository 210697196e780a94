"""A repair is reported `repaired` only once a read shows AWS has it: a write AWS answered 200 but does not show yet
(S3's eventual consistency, a backend that drops the setting) is `in_progress`, and the next run looks again."""

from __future__ import annotations

import json
from typing import Any

from botocore.awsrequest import AWSResponse

from tests.functional.helpers import make_clients, result, run

USERS = "galerly-users"


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        return iter([self.data])


def accept_without_taking(clients: Any, operation: str, answer: dict[str, Any]) -> None:
    """`operation` answers 200 with `answer` (its documented output shape) and never reaches AWS: the write is
    acknowledged but not there, as a read right after an eventually consistent write can show."""

    def send(request: Any, **_: Any) -> Any:
        return AWSResponse(request.url, 200, {"x-amzn-requestid": "injected"}, _Body(json.dumps(answer).encode()))

    clients.client("dynamodb", "us-east-1").meta.events.register(f"before-send.dynamodb.{operation}", send)


def test_a_repair_aws_does_not_show_yet_is_in_progress_and_repaired_once_it_does(aws, estate, ddb):
    # GIVEN a healthy table whose PITR was switched off by hand
    assert result(run(aws.endpoint, estate, "apply", only=(USERS,)), USERS).outcome.value == "created"
    ddb.update_continuous_backups(TableName=USERS,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})

    # WHEN the repair is acknowledged but AWS does not have it
    clients = make_clients(aws.endpoint)
    accept_without_taking(clients, "UpdateContinuousBackups", {"ContinuousBackupsDescription": {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "ENABLED"}}})
    first = result(run(aws.endpoint, estate, "apply", clients, only=(USERS,)), USERS)

    # THEN it is not reported repaired: the read after the write still shows PITR off
    assert first.outcome.value == "in_progress", first
    assert "written but not yet shown by AWS: pitr: False -> enabled, 35 days" in first.reason
    # AND the next run, whose write AWS takes, reports it repaired
    second = result(run(aws.endpoint, estate, "apply", only=(USERS,)), USERS)
    assert second.outcome.value == "repaired", second
    assert ddb.describe_continuous_backups(TableName=USERS)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
