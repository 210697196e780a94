"""Heal on change, end to end: CloudTrail-shaped change events through the real handler, the role's policy enforced.

The alarm topic has an SQS queue subscribed, so the tests read the message people get, as a subscriber would.
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

import boto3
import pytest

from devtools import breakage, followups
from devtools.localaws import LocalAws
from tests.e2e.conftest import heal_from_empty, put_items, role_calls
from tests.support.estates import GALERLY
from tests.support.handler import invoke

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/selfheal-FunctionRole-1QWERTY2ASDF"


def load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


@pytest.fixture
def inbox(enforced: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The function's environment (follow-ups, its role, the alarm topic) and a queue subscribed to that topic."""
    for name in list(os.environ):
        if name.startswith("SELFHEAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SELFHEAL_ESTATE", str(GALERLY))  # as the stack names /var/task/estate.yaml
    followups.create_group(enforced.endpoint)
    for name, value in followups.function_environment(1).items():
        monkeypatch.setenv(name, value)
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=enforced.endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=enforced.endpoint)
    topic = sns.create_topic(Name="selfheal-AlarmTopic-1A2B3C4D5E")["TopicArn"]  # as CloudFormation names it
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("SELFHEAL_TOPIC_ARN", topic)
    monkeypatch.setenv("SELFHEAL_ROLE_ARN", ROLE)
    monkeypatch.setenv("SELFHEAL_CHANGE_LEASE_SECONDS", "3")

    def messages() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                  WaitTimeSeconds=0).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    return messages


def test_own_calls_undeclared_resources_and_failed_calls_cost_no_aws_call(enforced: LocalAws, inbox: Any) -> None:
    own = load("change-pitr-off.json")
    own["detail"]["userIdentity"] = {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/r/s",
                                     "sessionContext": {"sessionIssuer": {"arn": ROLE}}}
    undeclared = load("change-table-deleted.json")
    undeclared["detail"]["requestParameters"] = {"tableName": "other-app-orders"}
    failed = load("change-bucket-public.json")
    failed["detail"]["errorCode"] = "AccessDenied"
    enforced.reset_calls()

    answers = [invoke(e, timeout_s=60).result for e in (own, undeclared, failed)]

    assert [a.keys() for a in answers] == [{"ignored"}] * 3
    assert "made by selfheal itself" in answers[0]["ignored"]
    assert enforced.calls() == []  # not one AWS call, of any kind


def test_a_public_bucket_is_healed_and_the_message_says_who_what_and_what_was_done(
    enforced: LocalAws, inbox: Any, s3: Any
) -> None:
    heal_from_empty(enforced.endpoint)
    breakage.make_public(s3, "galerly-images-storage")
    enforced.reset_calls()

    # WHEN CloudTrail's record of that PutBucketPolicy arrives
    started = time.monotonic()
    answer = invoke(load("change-bucket-public.json"), timeout_s=60).result
    took = time.monotonic() - started

    # THEN only that bucket was looked at and healed, and one message says who, what and what was done
    assert [(r["name"], r["outcome"]) for r in answer["resources"]] == [("galerly-images-storage", "repaired")]
    assert {c["name"] for c in role_calls(enforced) if c["service"] == "s3"} == {"galerly-images-storage"}
    assert took < 10
    (message,) = inbox()
    document = json.loads(message["Message"])
    assert message["Subject"] == ("selfheal: removed a finding from policy, repaired public access block on "
                                  "galerly-images-storage")
    assert document["change"]["caller"].endswith("/dana@galerly.com")
    assert document["change"]["source_ip"] == "203.0.113.24" and document["change"]["event"] == "PutBucketPolicy"
    (resource,) = document["resources"]
    paths = {c["path"] for c in resource["changes"]}
    assert {"policy.Oops", "public_access_block.block_public_policy"} <= paths
    assert message["MessageAttributes"]["healed"]["Value"] == "1"
    assert s3.get_public_access_block(Bucket="galerly-images-storage")["PublicAccessBlockConfiguration"][
        "BlockPublicPolicy"] is True

    # WHEN a run finds everything in order THEN nobody is told anything
    healthy = invoke(load("scheduled.json"), timeout_s=60).result
    assert healthy["summary"]["ok"] == healthy["summary"]["checked"]
    assert inbox() == []


def test_another_account_given_s3_star_is_a_finding_the_message_names_and_the_run_removes(
    enforced: LocalAws, inbox: Any, s3: Any
) -> None:
    heal_from_empty(enforced.endpoint)
    bucket = "galerly-images-storage"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    policy["Statement"].append({"Sid": "Partner", "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "s3:*",
                                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    # WHEN CloudTrail's record of that PutBucketPolicy arrives
    answer = invoke(load("change-bucket-public.json"), timeout_s=60).result

    # THEN the statement is gone (the photos' policy is exclusive by default) and one message names it
    assert [(r["name"], r["outcome"]) for r in answer["resources"]] == [(bucket, "repaired")]
    statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["DenyInsecureTransport"]
    (message,) = inbox()
    assert message["Subject"] == f"selfheal: removed a finding from policy on {bucket}"
    (resource,) = json.loads(message["Message"])["resources"]  # the queue gets the document; e-mail, the same as text
    assert resource["changes"] == [{"path": "policy.Partner", "to": "removed",
                                    "from": "finding: allows s3:* to account 210987654321 (outside this account)"}]


def test_a_burst_of_40_events_for_one_table_is_one_restore_and_no_error(
    enforced: LocalAws, inbox: Any, ddb: Any
) -> None:
    heal_from_empty(enforced.endpoint)
    put_items(ddb, "galerly-photos", 100)
    enforced.set_clock(restore=2)
    breakage.delete_table(ddb, "galerly-photos")
    enforced.reset_calls()
    burst = [load("change-table-deleted.json") for _ in range(40)]
    answers: list[Any] = [None] * len(burst)

    # WHEN 40 change events for the table arrive at once (a script, a rollout)
    def one(i: int) -> None:
        answers[i] = invoke(burst[i], timeout_s=60).result

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(burst))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    # THEN one run restores it, the other 39 find the lease and stop; no error anywhere
    ran = [a for a in answers if "resources" in a]
    coalesced = [a for a in answers if "coalesced" in a]
    assert (len(ran), len(coalesced)) == (1, 39), answers
    (only,) = ran[0]["resources"]
    assert (only["name"], only["outcome"]) == ("galerly-photos", "restoring")
    operations = [c["operation"] for c in role_calls(enforced)]
    assert operations.count("RestoreTableFromBackup") == 1 and "CreateTable" not in operations
    assert operations.count("CreateSchedule") == 41  # 40 leases tried (1 taken) + 1 follow-up

    # WHEN the lease's "look again" and the follow-ups fire THEN the table is back, still one restore, no error
    outcomes = []
    while followups.pending(enforced.endpoint):
        fired = followups.due(enforced.endpoint, timeout=60, advance=enforced.advance_clock)
        report = invoke(fired.event, timeout_s=60).result
        outcomes += [r["outcome"] for r in report["resources"]]
    assert "restored" in outcomes and not {"error", "conflict"} & set(outcomes), outcomes
    assert ddb.scan(TableName="galerly-photos", Select="COUNT")["Count"] == 100
    assert [c["operation"] for c in role_calls(enforced)].count("RestoreTableFromBackup") == 1


def test_make_invoke_with_a_change_event_heals_just_that_resource(enforced: LocalAws, inbox: Any, ddb: Any) -> None:
    heal_from_empty(enforced.endpoint)
    ddb.update_continuous_backups(TableName="galerly-sessions",
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    env = {**os.environ, "AWS_ENDPOINT_URL": enforced.endpoint}
    done = subprocess.run([sys.executable, str(ROOT / "devtools" / "invoke.py"),
                           str(ROOT / "events" / "change-pitr-off.json"), "--endpoint-url", enforced.endpoint],
                          env=env, capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    assert [(r["name"], r["outcome"]) for r in answer["resources"]] == [("galerly-sessions", "repaired")]
    assert answer["change"]["caller"] == "arn:aws:iam::123456789012:user/deploy-bot"
    pitr = ddb.describe_continuous_backups(TableName="galerly-sessions")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
