"""The kind seam, pure: what the generic modules ask a kind — its spec type, how its service's errors read, its waits,
what its messages show — answered by the shipped kinds, and the generic answer for a kind that says nothing.

Waits run against a real botocore client with queued answers (botocore's Stubber checks each against the API's
output shapes): moto finishes a backup at once, so it never answers CREATING.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from selfheal import notify
from selfheal.apply import Deadline, Deferred, StepFailed, Waits
from selfheal.aws import explain
from selfheal.kinds import Kind, kind_of, register, unregister
from selfheal.kinds.buckets import BucketKind
from selfheal.kinds.tables import TableKind, _wait_active, _wait_backup
from selfheal.model import Change, Outcome, ResourceResult, Step
from selfheal.report import Report

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/backup/01"
WAITS = Waits(poll_seconds=0, timeout_seconds=5)


def refused(code: str, operation: str = "Op", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)


@dataclass(frozen=True)
class Odd:
    name: str = "x"
    region: str = "us-east-1"
    kind: str = "table"


def test_a_spec_of_another_type_under_a_kinds_name_is_refused() -> None:
    with pytest.raises(TypeError, match="a Odd says it is a table, whose specs are TableSpec"):
        kind_of(Odd())


def test_a_denied_restore_reads_as_the_tables_own_fix_and_other_denials_as_the_generic_one() -> None:
    denied = refused("AccessDeniedException", status=403)
    restore = TableKind().explain(denied, "restore_table_from_backup", "table t")
    assert "item reads and writes" in restore and "the table not created empty" in restore
    generic = explain(denied, "restore_table_from_backup", "table t")
    assert generic.endswith("access denied: grant the caller (the function's IAM role, or the CLI's credentials) "
                            "what restore_table_from_backup on table t needs")
    assert "busy with another operation" in TableKind().explain(refused("ResourceInUseException"), "update_table", "t")
    assert "bucket names are global" in BucketKind().explain(refused("BucketAlreadyExists"), "create_bucket", "b")
    assert "see AWS's message" in explain(refused("BucketAlreadyExists"), "create_bucket", "b")


def test_a_kms_problem_wins_over_a_kinds_own_reading() -> None:
    assert "the KMS key is unusable" in TableKind().explain(refused("KMSAccessDeniedException", status=403),
                                                           "restore_table_from_backup", "table t")


def test_a_kinds_busy_codes_are_retried_and_a_steps_own_codes_too() -> None:
    step = Step("dynamodb", "update_table", {"TableName": "t"}, retry_codes=("ValidationException",))
    assert TableKind().retryable(step, "ResourceInUseException")
    assert TableKind().retryable(step, "ValidationException")
    assert not BucketKind().retryable(Step("s3", "put_bucket_policy", {}), "ResourceInUseException")
    assert BucketKind().retryable(Step("s3", "put_bucket_policy", {}), "OperationAborted")


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    return client, Stubber(client)


def backup_is(stubber: Stubber, *statuses: str) -> None:
    for status in statuses:
        stubber.add_response("describe_backup", {"BackupDescription": {"BackupDetails": {
            "BackupArn": ARN, "BackupName": "bak", "BackupStatus": status, "BackupType": "USER",
            "BackupCreationDateTime": "2026-12-01T00:00:00Z"}}}, {"BackupArn": ARN})


def test_a_backup_being_made_is_waited_for_until_it_can_be_restored() -> None:
    client, stubber = stubbed("dynamodb")
    backup_is(stubber, "CREATING", "CREATING", "AVAILABLE")
    with stubber:
        _wait_backup(client, {"BackupArn": ARN}, WAITS, Deadline(None))
        stubber.assert_no_pending_responses()


def test_a_backup_that_can_no_longer_be_restored_fails_the_step_and_one_still_made_defers_it() -> None:
    client, stubber = stubbed("dynamodb")
    backup_is(stubber, "DELETED")
    with stubber, pytest.raises(StepFailed, match="is DELETED: it cannot be restored"):
        _wait_backup(client, {"BackupArn": ARN}, WAITS, Deadline(None))
    backup_is(stubber, "CREATING", "CREATING")
    with stubber, pytest.raises(Deferred, match=r"still being made \(CREATING\)"):
        _wait_backup(client, {"BackupArn": ARN}, Waits(poll_seconds=0.01, timeout_seconds=0.015), Deadline(None))


def test_a_recovery_point_is_waited_for_through_aws_backup() -> None:
    # by listing the table's points again: AWS Backup names no vault for a DynamoDB point (only for EFS and EC2)
    client, stubber = stubbed("backup")
    point = "arn:aws:backup:us-east-1:123456789012:recovery-point:1"
    params = {"ResourceArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t", "RecoveryPointArn": point}
    for status in ("CREATING", "COMPLETED"):
        stubber.add_response("list_recovery_points_by_resource",
                             {"RecoveryPoints": [{"RecoveryPointArn": point, "Status": status}]},
                             {"ResourceArn": params["ResourceArn"]})
    with stubber:
        _wait_backup(client, params, WAITS, Deadline(None))
        stubber.assert_no_pending_responses()


def test_a_table_waited_for_with_botocores_waiter_fails_on_an_unexpected_error_and_defers_when_late() -> None:
    client, stubber = stubbed("dynamodb")
    stubber.add_client_error("describe_table", "AccessDeniedException", "no", 400, expected_params={"TableName": "t"})
    with stubber, pytest.raises(StepFailed, match="waiting for t to be ACTIVE failed"):
        _wait_active(client, "t", WAITS, Deadline(None))
    for status in ("CREATING", "CREATING"):
        stubber.add_response("describe_table", {"Table": {"TableStatus": status}}, {"TableName": "t"})
    with stubber, pytest.raises(Deferred, match="t was not ACTIVE within 0s"):
        _wait_active(client, "t", Waits(poll_seconds=0.01, timeout_seconds=0.02), Deadline(None))


class Silent(Kind[Any, Any]):
    """A kind that says nothing of its messages: the generic words serve."""

    name = "silent"
    section = "silents"
    title = "silent things"
    spec_type = Odd


def test_a_message_shows_what_the_kind_tells_of_its_results_and_nothing_for_a_kind_that_says_nothing() -> None:
    register(Silent())
    try:
        report = Report("apply", "schedule")
        report.results = [
            ResourceResult("table", "t", Outcome.RESTORED, details={"items": 1234}),
            ResourceResult("silent", "s", Outcome.RESTORED, details={"items": 5}),
            ResourceResult("table", "u", Outcome.REPAIRED, [Change("pitr", False, True), Change("sse.type", 1, 2)]),
            ResourceResult("silent", "v", Outcome.REPAIRED, [Change("pitr", False, True)]),
        ]
        message = notify.compose(report)
    finally:
        unregister("silent")
    assert message is not None
    assert message.subject == ("selfheal: restored t (1,234 items), restored s, repaired PITR, encryption on u, "
                               "repaired pitr on v")


def test_a_restore_started_reads_as_its_kind_words_it() -> None:
    started = [Change("table", "missing", "restored from backup b (USER, 2026-12-01T00:00:00+00:00)")]
    assert TableKind().restore_started(started).startswith(
        "restoring from backup b (USER, 2026-12-01T00:00:00+00:00), started now: AWS takes 20 minutes to hours")
    assert Silent().restore_started([Change("silent", "missing", "restored")]).startswith(
        "restore started now (restored): AWS finishes it in its own time")
