"""A deploy that cannot heal fails loudly — but not during the stack's own rollback, which must be let through.

CloudFormation answers a FAILED custom resource by rolling back, which sends an Update with the old properties. If
that Update failed too, the stack would stop in UPDATE_ROLLBACK_FAILED. The stack's status is the only place that
says a rollback is under way; moto has no stack for the test event, so the rollback status is injected on the
DescribeStacks call (botocore before-call), while the "no such stack" path runs against moto for real.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from tests.support.handler import app, invoke

ROOT = Path(__file__).resolve().parents[2]


def cfn_update() -> dict[str, Any]:
    return json.loads((ROOT / "events" / "cfn-update.json").read_text())


def test_a_deploy_that_cannot_heal_fails_but_its_rollback_is_let_through(aws) -> None:
    # GIVEN galerly-users exists with other keys: a conflict no deploy can heal
    ddb = boto3.Session(region_name="us-east-1").client("dynamodb", endpoint_url=aws.endpoint)
    ddb.create_table(TableName="galerly-users", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])

    # WHEN a normal Update arrives (moto knows no such stack: the status read fails, so no rollback is assumed)
    (failed,) = invoke(cfn_update(), timeout_s=120).responses
    # THEN the deploy fails, naming the conflict
    assert failed["Status"] == "FAILED" and "galerly-users" in failed["Reason"]

    # WHEN the same request comes while the stack is rolling back
    cloudformation = app._clients().client("cloudformation")

    def rolling_back(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        stack = {"StackName": "galerly-selfheal", "StackStatus": "UPDATE_ROLLBACK_IN_PROGRESS",
                 "CreationTime": datetime(2026, 1, 1, tzinfo=UTC)}
        return AWSResponse("https://cloudformation", 200, {}, None), {"Stacks": [stack]}

    cloudformation.meta.events.register("before-call.cloudformation.DescribeStacks", rolling_back)
    try:
        (let_through,) = invoke(cfn_update(), timeout_s=120).responses
    finally:
        cloudformation.meta.events.unregister("before-call.cloudformation.DescribeStacks", rolling_back)
    # THEN it answers SUCCESS (the conflict is still in the Data counts and the logs), and nothing was deleted
    assert let_through["Status"] == "SUCCESS" and let_through["Data"]["conflict"] == 1
    assert ddb.describe_table(TableName="galerly-users")["Table"]["KeySchema"][0]["AttributeName"] == "id"
    assert not [c for c in aws.calls() if c["operation"].startswith("Delete")]
