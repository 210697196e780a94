"""From an empty account, `apply` builds the whole declared estate; a second run finds nothing to do."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from selfheal.engine import Engine, Options
from selfheal.spec import EstateError
from tests.functional.helpers import (
    REGION,
    as_list,
    assert_bucket_as_declared,
    assert_table_as_declared,
    make_clients,
    outcomes,
    private_bucket,
    public_bucket,
    restart_call_log,
    result,
    run,
    statement,
)

# Its class-scoped fixture (a healed estate) is costly: one worker runs the whole module (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("heal")


@dataclass
class Fresh:
    report: Any
    ddb: Any
    s3: Any
    kms: Any


@pytest.fixture(scope="class")
def fresh(local_aws, estate) -> Iterator[Fresh]:
    """GIVEN an empty account WHEN `apply` runs once: the tests of the class only read what it built."""
    local_aws.reset()
    local_aws.set_delay(0)
    report = run(local_aws.endpoint, estate, "apply")
    clients = {
        name: boto3.client(name, region_name=REGION, endpoint_url=local_aws.endpoint)
        for name in ("dynamodb", "s3", "kms")
    }
    yield Fresh(report, clients["dynamodb"], clients["s3"], clients["kms"])
    restart_call_log(local_aws)


def test_plan_on_an_empty_account_lists_everything_and_writes_nothing(aws, estate):
    report = run(aws.endpoint, estate, "plan")

    assert report.exit_code == 2
    assert set(outcomes(report).values()) == {"pending"}
    assert len(report.results) == len(estate.resources)  # 13 tables, 2 buckets, the AWS Backup plan
    for spec in estate.tables:
        assert result(report, spec.name).reason == "would be created (no backup found)"
    assert aws.writes() == []


class TestFromAnEmptyAccount:
    """One apply from an empty account, read back with plain boto3; the last test runs apply and plan again."""

    def test_apply_creates_every_declared_resource(self, fresh, estate):
        assert (len(estate.tables), len(estate.buckets)) == (13, 2)
        assert outcomes(fresh.report) == {r.name: "created" for r in estate.resources}
        assert fresh.report.exit_code == 0
        assert fresh.report.summary["healed"] == 16

    def test_every_table_has_every_declared_setting(self, fresh, estate):
        for spec in estate.tables:
            assert_table_as_declared(fresh.ddb, fresh.kms, spec)

    def test_declared_ttl_and_stream_are_on_exactly_where_declared(self, fresh, estate):
        with_ttl = {t.name for t in estate.tables if t.ttl}
        with_stream = {t.name for t in estate.tables if t.stream}
        assert with_ttl == {"galerly-sessions", "galerly-analytics", "galerly-visitor-tracking"}
        assert with_stream == {"galerly-subscriptions"}
        for spec in estate.tables:
            ttl = fresh.ddb.describe_time_to_live(TableName=spec.name)["TimeToLiveDescription"]
            stream = fresh.ddb.describe_table(TableName=spec.name)["Table"].get("StreamSpecification") or {}
            assert (ttl["TimeToLiveStatus"] == "ENABLED") is (spec.name in with_ttl)
            assert bool(stream.get("StreamEnabled")) is (spec.name in with_stream)
        stream = fresh.ddb.describe_table(TableName="galerly-subscriptions")["Table"]["StreamSpecification"]
        assert stream["StreamViewType"] == "NEW_AND_OLD_IMAGES"

    def test_table_encryption_is_the_aws_managed_dynamodb_key(self, fresh, estate):
        managed = fresh.kms.describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]
        # DynamoDB reports the key's ARN, never the alias
        assert managed["Arn"].startswith("arn:aws:kms:us-east-1:") and ":key/" in managed["Arn"]
        for spec in estate.tables:
            sse = fresh.ddb.describe_table(TableName=spec.name)["Table"]["SSEDescription"]
            assert sse["KMSMasterKeyArn"] == managed["Arn"]

    def test_both_buckets_have_every_declared_setting(self, fresh, estate):
        for spec in estate.buckets:
            assert_bucket_as_declared(fresh.s3, spec)

    def test_frontend_bucket_is_a_public_website_with_acls_still_blocked(self, fresh, estate):
        name = public_bucket(estate).name
        got = assert_bucket_as_declared(fresh.s3, public_bucket(estate))

        assert got["bpa"] == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        }
        assert got["ownership"] == ["BucketOwnerEnforced"]
        assert got["encryption"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert got["website"]["IndexDocument"] == {"Suffix": "index.html"}
        assert got["website"]["ErrorDocument"] == {"Key": "404.html"}
        public_read = statement(got["policy"], "PublicReadGetObject")
        assert public_read["Effect"] == "Allow"
        assert public_read["Principal"] in ("*", {"AWS": "*"})
        assert as_list(public_read["Action"]) == ["s3:GetObject"]
        assert as_list(public_read["Resource"]) == [f"arn:aws:s3:::{name}/*"]
        assert statement(got["policy"], "DenyInsecureTransport") is None  # website endpoints serve HTTP only
        assert [r["ID"] for r in got["lifecycle"]] == ["abort-incomplete-multipart-uploads"]
        assert got["tags"] == {"app": "galerly", "managed-by": "selfheal"}

    def test_photos_bucket_is_private_versioned_tls_only_with_browser_cors(self, fresh, estate):
        name = private_bucket(estate).name
        got = assert_bucket_as_declared(fresh.s3, private_bucket(estate))

        assert set(got["bpa"].values()) == {True}
        assert got["ownership"] == ["BucketOwnerEnforced"]
        assert got["encryption"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert got["versioning"] == "Enabled"
        assert got["website"] is None
        tls = statement(got["policy"], "DenyInsecureTransport")
        assert tls["Effect"] == "Deny"
        assert sorted(as_list(tls["Resource"])) == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert [s for s in got["policy"] if s["Effect"] == "Allow"] == []
        (cors,) = got["cors"]
        assert cors["AllowedOrigins"] == ["https://galerly.com"]
        assert sorted(cors["AllowedMethods"]) == ["GET", "HEAD", "POST", "PUT"]
        assert cors["ExposeHeaders"] == ["ETag"]
        rules = {r["ID"]: r for r in got["lifecycle"]}
        assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
            "DaysAfterInitiation": 7
        }
        assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
        assert got["tags"] == {"app": "galerly", "managed-by": "selfheal"}

    def test_second_apply_writes_nothing_and_plan_is_in_sync(self, fresh, local_aws, estate):
        restart_call_log(local_aws)

        again = run(local_aws.endpoint, estate, "apply")

        assert local_aws.writes() == []
        assert again.exit_code == 0
        assert set(outcomes(again).values()) == {"ok"}
        assert again.api_calls["writes"] == 0

        plan = run(local_aws.endpoint, estate, "plan")

        assert plan.exit_code == 0
        assert set(outcomes(plan).values()) == {"ok"}
        assert all(r.changes == [] for r in plan.results)
        assert local_aws.writes() == []


# --- --only ---------------------------------------------------------------------------------------------------------


def test_only_touches_the_named_resource(aws, estate, ddb, s3):
    report = run(aws.endpoint, estate, "apply", only=("galerly-users",))

    assert outcomes(report) == {"galerly-users": "created"}
    calls = aws.calls()
    # a missing table's copies are looked for in AWS Backup too (by its ARN, hence the account id from STS)
    assert {c["service"] for c in calls} <= {"dynamodb", "kms", "backup", "sts"}
    assert {c["operation"] for c in calls if c["service"] in ("backup", "sts")} <= {
        "ListRecoveryPointsByResource", "GetCallerIdentity"}
    assert {c["name"] for c in calls if c["service"] == "dynamodb"} == {"galerly-users"}
    assert {c["name"] for c in aws.writes()} == {"galerly-users"}
    assert ddb.list_tables()["TableNames"] == ["galerly-users"]
    assert s3.list_buckets()["Buckets"] == []


def test_only_with_an_unknown_name_names_the_known_ones(aws, estate):
    with pytest.raises(EstateError) as exc:
        Engine(estate, make_clients(aws.endpoint), Options(only=("galerly-user",)))

    message = str(exc.value)
    assert exc.value.path == "--only"
    assert "'galerly-user' is not declared" in message
    assert "did you mean 'galerly-users'?" in message
    for spec in estate.resources:
        assert spec.name in message
    assert aws.calls() == []
