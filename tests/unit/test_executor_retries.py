"""The executor's one retry layer and the table kind's wait for a recovery point, with stub clients (no AWS): what is
retried is what AWS documents as "try again later"; throttles and 5xx are botocore's alone."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from selfheal.apply.executor import Deadline, Deferred, StepFailed, Waits, run_step
from selfheal.kinds import kind_named
from selfheal.model import Step

FAST = Waits(poll_seconds=0.001, timeout_seconds=1.0, retry_base_seconds=0.001, retry_attempts=4)
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/galerly-photos"
POINT = "arn:aws:backup:us-east-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45"


def refusing(*codes: str, active_after_in_use: bool = False) -> tuple[Any, Stubber]:
    """A real DynamoDB client whose UpdateTable answers the given error codes in turn, then succeeds (botocore's
    Stubber answers before any retry logic, so every call counted is one the executor made)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    stub = Stubber(client)
    for code in codes:
        stub.add_client_error("update_table", service_error_code=code, service_message="no")
        if code == "ResourceInUseException":  # the executor waits for ACTIVE before it tries again
            stub.add_response("describe_table", {"Table": {"TableName": "galerly-photos", "TableStatus": "ACTIVE"}})
    stub.add_response("update_table", {})
    stub.activate()
    return client, stub


class OneClient:
    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service: str, region: str | None = None) -> Any:
        return self._client


def update() -> Step:
    return Step("dynamodb", "update_table", {"TableName": "galerly-photos", "DeletionProtectionEnabled": True})


@pytest.mark.parametrize("code", ["ResourceInUseException", "LimitExceededException",
                                  "ContinuousBackupsUnavailableException"])
def test_what_aws_documents_as_try_again_later_is_retried(code: str) -> None:
    client, stub = refusing(code, code)
    run_step(OneClient(client), update(), FAST, Deadline(None), kind_named("table"))  # type: ignore[arg-type]
    stub.assert_no_pending_responses()  # both refusals and the success were asked for


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException",
                                  "InternalServerError", "ServiceUnavailable", "RequestLimitExceeded"])
def test_a_throttle_or_5xx_that_reaches_the_executor_is_not_retried_again(code: str) -> None:
    # botocore's standard mode already made its 9 attempts before the error reached the executor
    client, stub = refusing(code)
    with pytest.raises(StepFailed) as failed:
        run_step(OneClient(client), update(), FAST, Deadline(None), kind_named("table"))  # type: ignore[arg-type]
    assert code in failed.value.reason
    with pytest.raises(AssertionError):  # the success after the refusal was never asked for
        stub.assert_no_pending_responses()


class Listing:
    """ListRecoveryPointsByResource over pages; each call moves the point one status on."""

    def __init__(self, *statuses: str) -> None:
        self.statuses, self.calls = list(statuses), []

    def list_recovery_points_by_resource(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        assert kwargs["ResourceArn"] == TABLE_ARN and "BackupVaultName" not in kwargs
        if "NextToken" not in kwargs:  # first page: another point; the one waited for is on the second
            return {"RecoveryPoints": [{"RecoveryPointArn": POINT + "-older", "Status": "COMPLETED"}], "NextToken": "2"}
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"RecoveryPoints": [{"RecoveryPointArn": POINT, "Status": status}] if status else []}


def wait_backup(client: Any, params: dict[str, Any], waits: Waits, deadline: Deadline) -> None:
    kind_named("table").wait(client, Step("backup", "wait_backup", params), waits, deadline)


def test_a_recovery_point_being_made_is_waited_for_by_listing_every_page_again() -> None:
    client = Listing("CREATING", "CREATING", "COMPLETED")
    wait_backup(client, {"ResourceArn": TABLE_ARN, "RecoveryPointArn": POINT}, FAST, Deadline(None))
    assert len(client.calls) == 6  # 3 looks, 2 pages each


def test_a_recovery_point_that_stops_being_listed_or_fails_is_not_waited_for_forever() -> None:
    with pytest.raises(StepFailed, match="not listed"):
        wait_backup(Listing(""), {"ResourceArn": TABLE_ARN, "RecoveryPointArn": POINT}, FAST, Deadline(None))
    with pytest.raises(StepFailed, match="EXPIRED"):
        wait_backup(Listing("EXPIRED"), {"ResourceArn": TABLE_ARN, "RecoveryPointArn": POINT}, FAST, Deadline(None))
    with pytest.raises(Deferred, match="still being made"):
        wait_backup(Listing("CREATING"), {"ResourceArn": TABLE_ARN, "RecoveryPointArn": POINT},
                    Waits(poll_seconds=0.5, timeout_seconds=0.2), Deadline(None))
