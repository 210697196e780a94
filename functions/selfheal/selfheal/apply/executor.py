"""Carry out one planned Step: the boto3 call, retries for the errors AWS means as "try again", bounded waits."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from ..aws import AWS_ERRORS, Clients, error_code, explain
from ..model import Step

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# Errors that mean "not now": retried with backoff on top of botocore's own throttling/5xx retries.
RETRY_LATER = {
    "ContinuousBackupsUnavailableException",  # PITR right after CreateTable/restore
    "LimitExceededException",  # too many concurrent table operations in the account
    "ResourceInUseException",  # the table is UPDATING: wait for ACTIVE, then again
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "OperationAborted",  # S3: a conflicting operation on the bucket is in progress
    "NoSuchBucket",  # S3: a bucket just created is not visible to every endpoint for a few seconds
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
}
_ACTIVE_MODEL = WaiterModel(
    {
        "version": 2,
        "waiters": {
            # The table only, not its indexes: an index backfill can take hours and blocks no other change.
            "TableActive": {
                "operation": "DescribeTable",
                "delay": 5,
                "maxAttempts": 180,
                "acceptors": [
                    {"matcher": "path", "state": "success", "expected": "ACTIVE", "argument": "Table.TableStatus"},
                    {"matcher": "error", "state": "retry", "expected": "ResourceNotFoundException"},
                ],
            },
            "BucketVisible": {
                "operation": "HeadBucket",
                "delay": 1,
                "maxAttempts": 120,
                "acceptors": [
                    {"matcher": "status", "state": "success", "expected": 200},
                    {"matcher": "status", "state": "retry", "expected": 404},
                ],
            },
        },
    }
)


class StepFailed(Exception):
    """A step that did not happen; `reason` says why and what to do."""

    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(reason)
        self.step, self.reason = step, reason


class Deferred(Exception):
    """A step that ran out of time (a wait or the run's budget); the next run carries on."""


@dataclass(frozen=True)
class Waits:
    poll_seconds: float = 5.0
    timeout_seconds: float = 900.0
    retry_base_seconds: float = 1.0
    retry_attempts: int = 8


class Deadline:
    """The run's time budget; None means unbounded."""

    def __init__(self, at: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.at, self.clock = at, clock

    def left(self) -> float:
        return float("inf") if self.at is None else self.at - self.clock()

    @property
    def expired(self) -> bool:
        return self.left() <= 0


class StepKind(Protocol):
    """What the executor needs from a step's resource kind (selfheal.kinds.Kind)."""

    def target(self, step: Step) -> str: ...

    def wait(self, client: Any, step: Step, waits: Waits, deadline: Deadline) -> None: ...

    def raced(self, client: Any, step: Step, code: str, exc: Exception) -> str | None: ...

    def before_retry(self, client: Any, step: Step, code: str, waits: Waits, deadline: Deadline) -> None: ...


def run_step(clients: Clients, step: Step, waits: Waits, deadline: Deadline, kind: StepKind) -> str | None:
    """Do one step. Returns a note for the report (e.g. a race won by another run), raises StepFailed/Deferred."""
    client = clients.client(step.service, step.region)
    if step.is_wait:
        kind.wait(client, step, waits, deadline)
        return None
    target = kind.target(step)
    attempt = 0
    while True:
        try:
            getattr(client, step.operation)(**step.params)
            log.debug("done %s %s", step.operation, target)
            return None
        except AWS_ERRORS as exc:
            code = error_code(exc)
            note = kind.raced(client, step, code, exc)
            if note is not None:
                return note
            attempt += 1
            if (code not in RETRY_LATER and code not in step.retry_codes) or attempt >= waits.retry_attempts:
                raise StepFailed(step, explain(exc, step.operation, target)) from exc
            kind.before_retry(client, step, code, waits, deadline)
            pause = min(20.0, waits.retry_base_seconds * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if pause >= deadline.left():
                raise Deferred(
                    f"{step.operation} on {target} was still refused ({code}) when the time budget ran out"
                ) from exc
            log.info("retrying %s on %s after %s (attempt %d)", step.operation, target, code, attempt)
            time.sleep(pause)


def wait_active(client: DynamoDBClient, table: str, waits: Waits, deadline: Deadline) -> None:
    """Until the table is ACTIVE (not its indexes), bounded by the wait timeout and the run's budget."""
    budget = min(waits.timeout_seconds, deadline.left())
    attempts = max(1, int(budget // max(waits.poll_seconds, 0.001)))
    waiter = create_waiter_with_client("TableActive", _ACTIVE_MODEL, client)
    try:
        waiter.wait(TableName=table, WaiterConfig={"Delay": waits.poll_seconds, "MaxAttempts": attempts})
    except WaiterError as exc:
        if exc.last_response and "Error" in exc.last_response and "ResourceNotFound" not in str(exc.last_response):
            raise StepFailed(
                Step("dynamodb", "wait_active", {"TableName": table}),
                f"waiting for {table} to be ACTIVE failed: {exc.last_response['Error']}",
            ) from exc
        raise Deferred(f"{table} was not ACTIVE within {budget:.0f}s: the next run carries on") from exc


def wait_bucket(client: S3Client, bucket: str, waits: Waits, deadline: Deadline) -> None:
    """Until a bucket just created answers HeadBucket (S3 is eventually consistent right after CreateBucket)."""
    budget = min(waits.timeout_seconds, deadline.left())
    delay = min(1.0, max(waits.poll_seconds, 0.001))
    waiter = create_waiter_with_client("BucketVisible", _ACTIVE_MODEL, client)
    try:
        waiter.wait(Bucket=bucket, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(budget // delay))})
    except WaiterError as exc:
        raise Deferred(f"bucket {bucket} was created but S3 did not show it within {budget:.0f}s: "
                       "the next run configures it") from exc


def wait_backup(client: Any, params: dict[str, Any], waits: Waits, deadline: Deadline) -> None:
    """Until a backup (or AWS Backup recovery point) that AWS is still making can be restored."""
    arn = params.get("BackupArn") or params["RecoveryPointArn"]
    ends = time.monotonic() + min(waits.timeout_seconds, deadline.left())
    while True:
        if "BackupArn" in params:
            status = client.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
        else:
            status = client.describe_recovery_point(**params)["Status"]
        if status in ("AVAILABLE", "COMPLETED"):
            return
        if status not in ("CREATING",):
            raise StepFailed(Step("dynamodb", "wait_backup", params), f"backup {arn} is {status}: it cannot be "
                             "restored and the table is not created empty — restore another copy by hand")
        if time.monotonic() + waits.poll_seconds > ends:
            raise Deferred(f"backup {arn} is still being made ({status}): not restored yet and never created empty "
                           "meanwhile — the follow-up run restores it")
        time.sleep(waits.poll_seconds)
