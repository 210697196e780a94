"""IAM sufficiency: every AWS call selfheal made during this test run is allowed by template.yaml's role.

The allowed set is computed from the template (tests/support/iam.py), not from a hand-kept list. The calls are the
ones the recording proxy saw from selfheal's own clients (User-Agent "selfheal") in every suite that ran before this
test, plus a full scenario run here so the check means something when this file runs alone.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from selfheal.aws import Clients
from selfheal.engine import Engine
from selfheal.spec import load_estate
from tests.support.iam import allowed, iam_action

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
ACCOUNT, REGION = "123456789012", "us-east-1"
DEFAULT_BUCKETS = {"FrontendBucketName": "galerly-frontend-app", "PhotosBucketName": "galerly-images-storage"}


def _break_and_heal(endpoint: str) -> None:
    """Heal from empty, then delete a table, switch PITR off and open the photos bucket, and heal again."""
    session = boto3.Session(region_name=REGION)
    clients = Clients(session=session, endpoint_url=endpoint)
    estate = load_estate()
    assert Engine(estate, clients).apply().exit_code == 0
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)
    ddb.update_table(TableName="galerly-photos", DeletionProtectionEnabled=False)
    ddb.delete_table(TableName="galerly-photos")
    ddb.update_continuous_backups(TableName="galerly-users",
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    s3.delete_public_access_block(Bucket="galerly-images-storage")
    s3.delete_bucket_cors(Bucket="galerly-images-storage")
    report = Engine(estate, clients).apply()
    assert report.exit_code == 0
    assert report.summary["restored"] == 1 and report.summary["repaired"] == 2


@pytest.mark.after_suites
def test_every_call_selfheal_made_is_allowed_by_the_template(aws) -> None:
    # GIVEN the calls of every earlier suite, and those of a full break-and-heal scenario run now
    aws.reset_calls()
    _break_and_heal(aws.endpoint)
    calls = aws.product_calls + [c for c in aws.calls() if c.get("client") == "selfheal"]
    operations = {(c["service"], c["operation"]) for c in calls}
    # the scenario alone exercises the engine's whole read and write surface
    for expected in [("dynamodb", "RestoreTableFromBackup"), ("dynamodb", "CreateTable"), ("s3", "CreateBucket"),
                     ("dynamodb", "UpdateContinuousBackups"), ("s3", "PutBucketCors"), ("kms", "DescribeKey"),
                     ("s3control", "GetPublicAccessBlock"), ("dynamodb", "ListBackups")]:
        assert expected in operations

    # WHEN each call is checked against the template's policy for the resource it touched
    denied, checked = [], 0
    for call in calls:
        name = call.get("name") or ""
        params = dict(DEFAULT_BUCKETS)
        if call["service"] == "dynamodb" and name and not name.startswith("arn:"):
            params["Prefix"] = name.split("-", 1)[0]  # a deployment sets Prefix to its estate's prefix
        if call["service"] == "s3" and name and name not in DEFAULT_BUCKETS.values():
            continue  # a bucket renamed by a test's --set: the stack would be deployed with that name instead
        checked += 1
        if not allowed(TEMPLATE, call["operation"], call["service"], name, REGION, ACCOUNT, parameters=params):
            denied.append(f"{iam_action(call['service'], call['operation'])} on {name or '*'}")

    # THEN none is denied, and none of them was a delete
    assert checked >= len(calls) // 2
    assert sorted(set(denied)) == []
    assert not [c for c in calls if c["operation"].startswith("Delete")]
