"""What selfheal must not or cannot fix is reported, and never stops the rest of the estate from being healed."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from devtools.localaws import fix_s3control_endpoint, other_account_session
from selfheal.loader import parse_estate
from tests.functional.helpers import (
    REGION,
    answer_head_bucket,
    assert_bucket_as_declared,
    assert_table_as_declared,
    make_clients,
    outcomes,
    private_bucket,
    public_bucket,
    restart_call_log,
    result,
    run,
    writes_named,
)

USERS = "galerly-users"


def healed_except(report: Any, estate: Any, *names: str) -> None:
    """Every resource but `names` was created."""
    others = {r.name: "created" for r in estate.resources if r.name not in names}
    assert {k: v for k, v in outcomes(report).items() if k not in names} == others


def test_table_with_other_keys_is_a_conflict_and_left_untouched(aws, estate, ddb, kms):
    """GIVEN galerly-users was made by hand keyed on a number `id` WHEN apply runs THEN it is a conflict naming the
    keys, not one write touches it, and everything else is created."""
    ddb.create_table(
        TableName=USERS,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=USERS, Item={"id": {"N": "1"}})
    restart_call_log(aws)

    report = run(aws.endpoint, estate, "apply")

    users = result(report, USERS)
    assert users.outcome.value == "conflict"
    assert "key schema is id(N), declared email(S)" in users.reason
    assert "keys cannot change in place" in users.reason
    assert users.changes == []
    assert writes_named(aws.calls(), USERS) == []
    assert report.exit_code == 1
    healed_except(report, estate, USERS)
    for spec in estate.tables:
        if spec.name != USERS:
            assert_table_as_declared(ddb, kms, spec)
    desc = ddb.describe_table(TableName=USERS)["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert not desc.get("DeletionProtectionEnabled")
    assert not desc.get("GlobalSecondaryIndexes")
    assert ddb.get_item(TableName=USERS, Key={"id": {"N": "1"}})["Item"] == {"id": {"N": "1"}}
    pitr = ddb.describe_continuous_backups(TableName=USERS)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"


@pytest.fixture
def photos_taken(aws, estate, s3) -> str:
    """GIVEN another account owns the photos bucket's name."""
    photos = private_bucket(estate).name
    theirs = other_account_session(aws.endpoint).client("s3", endpoint_url=aws.endpoint)
    theirs.create_bucket(Bucket=photos)
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=photos)
    assert exc.value.response["Error"]["Code"] == "BucketAlreadyExists"
    restart_call_log(aws)
    return photos


def assert_rest_healed(report: Any, estate: Any, photos: str, s3: Any, ddb: Any, kms: Any) -> None:
    healed_except(report, estate, photos)
    assert_bucket_as_declared(s3, public_bucket(estate))
    for spec in estate.tables:
        assert_table_as_declared(ddb, kms, spec)


def test_bucket_name_owned_by_another_account_is_an_error_and_the_rest_heals(aws, estate, s3, ddb, kms, photos_taken):
    """GIVEN another account owns the photos bucket's name (HeadBucket answers 403) WHEN apply runs THEN that bucket
    is an error that says to choose another name, nothing is written to it, and the rest heals."""
    report = run(aws.endpoint, estate, "apply")

    heads = [c["status"] for c in aws.calls() if c["operation"] == "HeadBucket" and c["name"] == photos_taken]
    assert heads and set(heads) == {403}
    taken = result(report, photos_taken)
    assert taken.outcome.value == "error"
    assert "owned by another AWS account" in taken.reason
    assert "choose another name" in taken.reason
    assert writes_named(aws.calls(), photos_taken) == []
    assert report.exit_code == 1
    assert_rest_healed(report, estate, photos_taken, s3, ddb, kms)


def test_a_squatted_bucket_name_whose_policy_lets_us_in_is_an_error_with_zero_writes(aws, estate, s3, ddb, kms):
    """GIVEN another account took the photos bucket's name and opened it to everyone (s3:* to "*"), so HeadBucket
    without an owner check answers 200 and S3 ARNs carry no account WHEN plan and apply run THEN every S3 call
    carries ExpectedBucketOwner, S3 answers 403, the bucket is an error saying to choose another name, and not one
    write reaches it; the rest heals."""
    photos = private_bucket(estate).name
    theirs = other_account_session(aws.endpoint).client("s3", endpoint_url=aws.endpoint)
    theirs.create_bucket(Bucket=photos)
    theirs.put_bucket_policy(Bucket=photos, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{photos}", f"arn:aws:s3:::{photos}/*"]}]}))
    assert s3.head_bucket(Bucket=photos)["ResponseMetadata"]["HTTPStatusCode"] == 200  # it looks like ours
    before = theirs.get_bucket_policy(Bucket=photos)["Policy"]
    restart_call_log(aws)

    planned = run(aws.endpoint, estate, "plan")
    report = run(aws.endpoint, estate, "apply")

    for taken in (result(planned, photos), result(report, photos)):
        assert taken.outcome.value == "error" and "choose another name" in taken.reason
    on_photos = [c for c in aws.calls() if c["name"] == photos and c["client"] == "selfheal"]
    assert on_photos and {c["status"] for c in on_photos if c["operation"] == "HeadBucket"} == {403}
    assert writes_named(aws.calls(), photos) == []
    assert theirs.get_bucket_policy(Bucket=photos)["Policy"] == before  # theirs, untouched
    assert report.exit_code == 1
    assert_rest_healed(report, estate, photos, s3, ddb, kms)


def test_bucket_name_taken_after_the_look_fails_create_bucket_with_a_clear_error(
    aws, estate, s3, ddb, kms, photos_taken
):
    """GIVEN the name was free when looked at (HeadBucket 404) but another account took it before CreateBucket
    WHEN apply runs THEN moto's BucketAlreadyExists becomes an error that says to choose another name, not a retry."""
    clients = make_clients(aws.endpoint)
    answer_head_bucket(clients, photos_taken, 404)

    report = run(aws.endpoint, estate, "apply", clients=clients)

    taken = result(report, photos_taken)
    assert taken.outcome.value == "error"
    assert "BucketAlreadyExists" in taken.reason
    assert "choose another name" in taken.reason
    creates = [c for c in aws.calls() if c["operation"] == "CreateBucket" and c["name"] == photos_taken]
    assert [c["status"] for c in creates] == [409]
    assert writes_named(aws.calls(), photos_taken) == creates
    assert report.exit_code == 1
    assert_rest_healed(report, estate, photos_taken, s3, ddb, kms)


def test_account_public_access_block_makes_the_website_bucket_a_conflict(aws, estate, s3):
    """GIVEN the account blocks public policies WHEN apply runs THEN the frontend bucket is created with everything
    but its public policy, reported as a conflict that names the fix; the private bucket heals fully."""
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    control = fix_s3control_endpoint(boto3.client("s3control", region_name=REGION, endpoint_url=aws.endpoint))
    control.put_public_access_block(
        AccountId=account,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False,
        },
    )
    frontend = public_bucket(estate).name

    plan = run(aws.endpoint, estate, "plan")
    report = run(aws.endpoint, estate, "apply")

    assert result(plan, frontend).outcome.value == "conflict"
    site = result(report, frontend)
    assert site.outcome.value == "conflict"
    assert "account's public access block (BlockPublicPolicy)" in site.reason
    assert "turn those off in S3 > Block Public Access settings for this account" in site.reason
    assert account in site.reason
    assert report.exit_code == 1
    healed_except(report, estate, frontend)
    assert_bucket_as_declared(s3, private_bucket(estate))
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=frontend)
    assert exc.value.response["Error"]["Code"] == "NoSuchBucketPolicy"
    assert s3.get_bucket_website(Bucket=frontend)["IndexDocument"] == {"Suffix": "index.html"}
    assert [c for c in aws.writes() if c["operation"] == "PutBucketPolicy" and c["name"] == frontend] == []


def test_scheduled_run_on_an_empty_account_trips_the_guard_and_writes_nothing(aws, estate):
    report = run(aws.endpoint, estate, "apply", trigger="schedule")

    assert report.guard_tripped
    assert "blast-radius guard: 16 of 16 declared resources are missing" in report.guard
    assert "wrong account or region?" in report.guard
    assert report.exit_code == 1
    assert set(outcomes(report).values()) == {"deferred"}
    assert aws.writes() == []


def test_cli_run_on_an_empty_account_goes_ahead_and_heals(aws, estate):
    report = run(aws.endpoint, estate, "apply", trigger="cli")

    assert not report.guard_tripped
    assert "this cli run goes ahead" in report.guard
    assert set(outcomes(report).values()) == {"created"}
    assert report.exit_code == 0
    assert len(aws.writes()) > 0


def test_guard_at_100_percent_never_trips(aws, estate, s3, ddb):
    """GIVEN an estate whose settings allow 100% missing WHEN a scheduled apply finds all of it missing THEN it heals,
    where the shipped estate (50%) stops the very same run."""
    with open(estate.source, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    doc["settings"]["max_missing_percent"] = 100
    lenient = parse_estate(yaml.safe_dump(doc, sort_keys=False), source="lenient.yaml", env={})
    assert lenient.settings.max_missing_percent == 100
    few = ("galerly-users", private_bucket(estate).name)  # a part of the estate keeps the run short

    held = run(aws.endpoint, estate, "apply", trigger="schedule", only=few)
    assert held.guard_tripped
    assert aws.writes() == []

    report = run(aws.endpoint, lenient, "apply", trigger="schedule", only=few)

    assert not report.guard_tripped
    assert report.guard is None
    assert outcomes(report) == dict.fromkeys(few, "created")
    assert report.exit_code == 0
    assert_bucket_as_declared(s3, private_bucket(lenient))
    assert ddb.list_tables()["TableNames"] == ["galerly-users"]
