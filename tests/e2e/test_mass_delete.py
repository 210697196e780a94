"""A mass delete is reported within minutes, once, with the command that undoes it: the real handler counts S3's
`Object Deleted` EventBridge notifications against the local AWS, with the function role's policy enforced.

moto does not emit S3's `Object Deleted` notifications, so the test sends the handler the events S3 would send (the
shape AWS documents in "Using EventBridge" of the S3 user guide), one invocation per event as the rule delivers them.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from devtools.invoke import LambdaContext, load_handler
from devtools.localaws import LocalAws
from tests.e2e.conftest import heal_from_empty, role_calls

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
app = load_handler()
SHIPPED = Path(__file__).resolve().parents[2] / "functions" / "selfheal" / "estate.yaml"
PHOTOS = "galerly-images-storage"
TABLE = "selfheal-DeletionCounts-1A2B3C4D5E6F"  # as CloudFormation names it
TOPIC_NAME = "selfheal-AlarmTopic-1A2B3C4D5E"


def deleted(key: str, at: datetime, requester: str = "123456789012", kind: str = "Delete Marker Created") -> dict:
    return {
        "version": "0", "id": f"ev-{key}", "detail-type": "Object Deleted", "source": "aws.s3",
        "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{PHOTOS}"],
        "detail": {"version": "0", "bucket": {"name": PHOTOS}, "object": {"key": key, "sequencer": "617f08299329d189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": requester, "source-ip-address": "203.0.113.7",
                   "reason": "DeleteObject", "deletion-type": kind},
    }


@pytest.fixture
def function_env(enforced: LocalAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[LocalAws, Any]:
    """The stack's counter table and alarm topic (a queue subscribed to read it), the function's environment, and an
    estate whose photos bucket warns at more than 50 deletions in 5 minutes."""
    aws = enforced
    for name in list(os.environ):
        if name.startswith("SELFHEAL_"):
            monkeypatch.delenv(name)
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.endpoint)
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "window", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "window", "KeyType": "HASH"}])
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=aws.endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.endpoint)
    topic = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    queue = sqs.create_queue(QueueName="alarms")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    photos = next(b for b in raw["buckets"] if b["name"] == "${photos_bucket}")
    photos["mass_delete"] = {"objects": 50, "minutes": 5}
    estate = tmp_path / "estate.yaml"
    estate.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("SELFHEAL_ESTATE", str(estate))
    monkeypatch.setenv("SELFHEAL_DELETIONS_TABLE", TABLE)
    monkeypatch.setenv("SELFHEAL_TOPIC_ARN", topic)
    return aws, (sqs, queue)


def messages(sqs: Any, queue: str) -> list[str]:
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    return [m["Body"] for m in got]


def test_more_than_the_threshold_deleted_in_the_window_is_one_message_with_the_undo_command(function_env) -> None:
    aws, (sqs, queue) = function_env
    # GIVEN a healthy estate: the versioned photos bucket sends its events to EventBridge (the engine set that up)
    heal_from_empty(aws.endpoint)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint)
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=PHOTOS)
    aws.reset_calls()

    # WHEN 80 objects are deleted within two minutes (50 under gallery-7/, 30 under thumbs/), by one principal
    start = datetime(2026, 12, 5, 10, 0, 3, tzinfo=UTC)
    keys = [f"gallery-7/photo-{n:03d}.jpg" for n in range(50)] + [f"thumbs/{n:03d}.jpg" for n in range(30)]
    results = [app.lambda_handler(deleted(key, start + timedelta(seconds=n)), LambdaContext(timeout_s=30))
               for n, key in enumerate(keys)]

    # THEN exactly one message, at the 51st deletion, says how many, where, who, since when and what to run
    assert [r.get("warned", False) for r in results].count(True) == 1
    assert results[50]["warned"] and results[50]["deleted"] == 51
    (body,) = messages(sqs, queue)
    assert "More than 50 objects were deleted from bucket galerly-images-storage within 5 minutes: 51 so far, " \
           "since 2026-12-05 10:00:03 UTC." in body
    assert "Prefixes: gallery-7/ (50), thumbs/ (1)" in body
    assert "Who (as S3 tells): 123456789012" in body
    assert "selfheal recover galerly-images-storage --to 2026-12-05T10:00:02Z" in body
    assert "Nothing was recovered" in body
    # AND it recovered nothing: the role only counted and told
    ops = {c["operation"] for c in role_calls(aws)}
    assert ops <= {"UpdateItem", "Publish"}, ops


def test_deletions_under_the_threshold_or_in_another_window_say_nothing(function_env) -> None:
    aws, (sqs, queue) = function_env
    heal_from_empty(aws.endpoint)
    start = datetime(2026, 12, 5, 10, 3, 0, tzinfo=UTC)  # 40 in the window 10:00-10:05, 40 in 10:05-10:10
    for n in range(80):
        out = app.lambda_handler(deleted(f"gallery-1/{n}.jpg", start + timedelta(seconds=n * 3)),
                                 LambdaContext(timeout_s=30))
        assert out["counted"] and not out.get("warned")
    assert messages(sqs, queue) == []
    # A bucket the estate does not declare is not counted at all
    other = deleted("x.jpg", start)
    other["detail"]["bucket"]["name"] = "someone-elses-bucket"
    assert app.lambda_handler(json.loads(json.dumps(other)), LambdaContext(timeout_s=30))["counted"] is False


def test_a_warm_container_reads_the_estate_once_for_the_deletions_it_counts(function_env, monkeypatch) -> None:
    # GIVEN a warm container (one invocation per deleted object: a mass delete is thousands of them)
    aws, _ = function_env
    reads: list[int] = []
    real = app.load_estate
    monkeypatch.setattr(app, "load_estate", lambda *a, **k: reads.append(1) or real(*a, **k))
    app._COUNTING.clear()
    start = datetime(2026, 12, 5, 11, 0, 0, tzinfo=UTC)
    # WHEN it counts 5 deletions, THEN it read the estate once
    for n in range(5):
        assert app.lambda_handler(deleted(f"g/{n}.jpg", start + timedelta(seconds=n)),
                                  LambdaContext(timeout_s=30))["counted"]
    assert len(reads) == 1
    # WHEN the estate file changes (a new deploy's), THEN the next deletion reads it again
    estate = Path(os.environ["SELFHEAL_ESTATE"])
    stamp = estate.stat().st_mtime_ns + 1_000_000_000
    os.utime(estate, ns=(stamp, stamp))
    assert app.lambda_handler(deleted("g/5.jpg", start + timedelta(seconds=5)), LambdaContext(timeout_s=30))["counted"]
    assert len(reads) == 2
