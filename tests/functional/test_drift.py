"""Drift: a setting changed by hand is found by `plan` and repaired by `apply`; what others added is kept.

Each case heals one resource (`only=`), drifts it with plain boto3, then checks plan -> apply -> plan and reads the
setting back from AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.functional.helpers import (
    as_list,
    assert_bucket_as_declared,
    assert_table_as_declared,
    change_paths,
    key_schema,
    managed_dynamodb_key_arn,
    private_bucket,
    public_bucket,
    restart_call_log,
    result,
    run,
    statement,
    table_spec,
)

USERS = "galerly-users"
SESSIONS = "galerly-sessions"  # declares a TTL
SUBSCRIPTIONS = "galerly-subscriptions"  # declares a stream


@dataclass
class World:
    endpoint: str
    estate: Any
    ddb: Any
    s3: Any
    kms: Any

    @property
    def photos(self) -> str:
        return private_bucket(self.estate).name

    @property
    def frontend(self) -> str:
        return public_bucket(self.estate).name

    def arn(self, table: str) -> str:
        return self.ddb.describe_table(TableName=table)["Table"]["TableArn"]

    def policy(self, bucket: str) -> list[dict[str, Any]]:
        return json.loads(self.s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]


@pytest.fixture
def world(aws, estate, ddb, s3, kms) -> World:
    return World(aws.endpoint, estate, ddb, s3, kms)


def heal(world: World, name: str) -> None:
    """GIVEN the resource exists exactly as declared."""
    report = run(world.endpoint, world.estate, "apply", only=(name,))
    assert result(report, name).outcome.value == "created"


# --- the drifts, each done by hand ----------------------------------------------------------------------------------


def pitr_off(w: World, table: str) -> None:
    w.ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )


def pitr_days_changed(w: World, table: str) -> None:
    w.ddb.update_continuous_backups(
        TableName=table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7},
    )


def sse_aws_owned(w: World, table: str) -> None:
    w.ddb.update_table(TableName=table, SSESpecification={"Enabled": False})


def deletion_protection_off(w: World, table: str) -> None:
    w.ddb.update_table(TableName=table, DeletionProtectionEnabled=False)


def ttl_disabled(w: World, table: str) -> None:
    attr = table_spec(w.estate, table).ttl
    w.ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": attr})


def tags_removed(w: World, table: str) -> None:
    w.ddb.untag_resource(ResourceArn=w.arn(table), TagKeys=[k for k, _ in table_spec(w.estate, table).tags])


def tag_value_changed(w: World, table: str) -> None:
    w.ddb.tag_resource(ResourceArn=w.arn(table), Tags=[{"Key": "app", "Value": "someone-else"}])


def recreate_by_hand(w: World, table: str, with_gsis: bool) -> None:
    """The table deleted and made again by hand with the declared keys, without a stream (and maybe indexes)."""
    spec = table_spec(w.estate, table)
    w.ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
    w.ddb.delete_table(TableName=table)
    gsis = spec.gsis if with_gsis else ()
    keys = [k for g in gsis for k in (g.hash_key, g.range_key) if k] + [spec.hash_key, spec.range_key]
    extra: dict[str, Any] = {}
    if gsis:
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": g.name,
                "KeySchema": key_schema(g.hash_key, g.range_key),
                "Projection": {"ProjectionType": g.projection},
            }
            for g in gsis
        ]
    w.ddb.create_table(
        TableName=table,
        KeySchema=key_schema(spec.hash_key, spec.range_key),
        AttributeDefinitions=[{"AttributeName": k.name, "AttributeType": k.type} for k in {k for k in keys if k}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def stream_missing(w: World, table: str) -> None:
    w.ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})


def gsi_missing(w: World, table: str) -> None:
    recreate_by_hand(w, table, with_gsis=False)


def billing_provisioned(w: World, table: str) -> None:
    spec = table_spec(w.estate, table)
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    w.ddb.update_table(
        TableName=table,
        BillingMode="PROVISIONED",
        ProvisionedThroughput=throughput,
        GlobalSecondaryIndexUpdates=[
            {"Update": {"IndexName": g.name, "ProvisionedThroughput": throughput}} for g in spec.gsis
        ],
    )


def bpa_off(w: World, bucket: str) -> None:
    w.s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )


def ownership_changed(w: World, bucket: str) -> None:
    w.s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )


def encryption_removed(w: World, bucket: str) -> None:
    w.s3.delete_bucket_encryption(Bucket=bucket)


def encryption_changed(w: World, bucket: str) -> None:
    w.s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )


def versioning_suspended(w: World, bucket: str) -> None:
    w.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})


def website_removed(w: World, bucket: str) -> None:
    w.s3.delete_bucket_website(Bucket=bucket)


def policy_deleted(w: World, bucket: str) -> None:
    w.s3.delete_bucket_policy(Bucket=bucket)


PUBLIC_SID = "SomeoneMadeItPublic"


def public_statement_added(w: World, bucket: str) -> None:
    public = {
        "Sid": PUBLIC_SID,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    document = {"Version": "2012-10-17", "Statement": w.policy(bucket) + [public]}
    w.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))


def cors_deleted(w: World, bucket: str) -> None:
    w.s3.delete_bucket_cors(Bucket=bucket)


def cors_origin_changed(w: World, bucket: str) -> None:
    rules = w.s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    for rule in rules:
        rule["AllowedOrigins"] = ["https://evil.example"]
    w.s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})


def lifecycle_deleted(w: World, bucket: str) -> None:
    w.s3.delete_bucket_lifecycle(Bucket=bucket)


def bucket_tags_deleted(w: World, bucket: str) -> None:
    w.s3.delete_bucket_tagging(Bucket=bucket)


# --- what each case reads back after the repair ----------------------------------------------------------------------


def table_as_declared(w: World, table: str) -> None:
    assert_table_as_declared(w.ddb, w.kms, table_spec(w.estate, table))


def bucket_as_declared(w: World, bucket: str) -> None:
    assert_bucket_as_declared(w.s3, next(b for b in w.estate.buckets if b.name == bucket))


def pitr_35_days(w: World, table: str) -> None:
    pitr = w.ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert pitr["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == table_spec(w.estate, table).recovery_days


def sse_managed_key(w: World, table: str) -> None:
    sse = w.ddb.describe_table(TableName=table)["Table"]["SSEDescription"]
    assert (sse["Status"], sse["SSEType"], sse["KMSMasterKeyArn"]) == (
        "ENABLED",
        "KMS",
        managed_dynamodb_key_arn(w.kms),
    )


def protected(w: World, table: str) -> None:
    assert w.ddb.describe_table(TableName=table)["Table"]["DeletionProtectionEnabled"] is True


def ttl_on(w: World, table: str) -> None:
    ttl = w.ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": table_spec(w.estate, table).ttl}


def table_tags_declared(w: World, table: str) -> None:
    tags = {t["Key"]: t["Value"] for t in w.ddb.list_tags_of_resource(ResourceArn=w.arn(table))["Tags"]}
    assert tags == dict(table_spec(w.estate, table).tags)


def stream_on(w: World, table: str) -> None:
    stream = w.ddb.describe_table(TableName=table)["Table"]["StreamSpecification"]
    assert stream == {"StreamEnabled": True, "StreamViewType": table_spec(w.estate, table).stream}


def gsi_present(w: World, table: str) -> None:
    spec = table_spec(w.estate, table)
    gsis = {g["IndexName"]: g for g in w.ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]}
    for gsi in spec.gsis:
        assert gsis[gsi.name]["KeySchema"] == key_schema(gsi.hash_key, gsi.range_key)
        assert gsis[gsi.name]["Projection"]["ProjectionType"] == gsi.projection
    table_as_declared(w, table)


def on_demand(w: World, table: str) -> None:
    assert w.ddb.describe_table(TableName=table)["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def all_blocked(w: World, bucket: str) -> None:
    assert set(w.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()) == {True}


def owner_enforced(w: World, bucket: str) -> None:
    rules = w.s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def sse_s3(w: World, bucket: str) -> None:
    rules = w.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == ["AES256"]


def versioning_enabled(w: World, bucket: str) -> None:
    assert w.s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def website_on(w: World, bucket: str) -> None:
    site = w.s3.get_bucket_website(Bucket=bucket)
    assert (site["IndexDocument"], site["ErrorDocument"]) == ({"Suffix": "index.html"}, {"Key": "404.html"})


def tls_only(w: World, bucket: str) -> None:
    policy = w.policy(bucket)
    assert statement(policy, "DenyInsecureTransport")["Effect"] == "Deny"
    assert [s for s in policy if s["Effect"] == "Allow"] == []


def cors_declared_only(w: World, bucket: str) -> None:
    rules = w.s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [r["AllowedOrigins"] for r in rules] == [["https://galerly.com"]]
    assert sorted(rules[0]["AllowedMethods"]) == ["GET", "HEAD", "POST", "PUT"]


def lifecycle_declared(w: World, bucket: str) -> None:
    rules = w.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert sorted(r["ID"] for r in rules) == ["abort-incomplete-multipart-uploads", "expire-noncurrent-versions"]


def bucket_tags_declared(w: World, bucket: str) -> None:
    tags = {t["Key"]: t["Value"] for t in w.s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {"app": "galerly", "managed-by": "selfheal"}


@dataclass(frozen=True)
class Drift:
    target: str  # a table name, or "photos" / "frontend"
    drift: Callable[[World, str], None]
    paths: tuple[str, ...]  # change paths plan must name
    check: Callable[[World, str], None]


BPA_PATHS = tuple(
    f"public_access_block.{f}"
    for f in ("block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets")
)

DRIFTS = {
    "pitr-off": Drift(USERS, pitr_off, ("pitr",), pitr_35_days),
    "pitr-recovery-days": Drift(USERS, pitr_days_changed, ("pitr",), pitr_35_days),
    "sse-aws-owned": Drift(USERS, sse_aws_owned, ("encryption",), sse_managed_key),
    "deletion-protection-off": Drift(USERS, deletion_protection_off, ("deletion_protection",), protected),
    "ttl-disabled": Drift(SESSIONS, ttl_disabled, ("ttl",), ttl_on),
    "table-tags-removed": Drift(USERS, tags_removed, ("tags.app", "tags.managed-by"), table_tags_declared),
    "stream-missing": Drift(SUBSCRIPTIONS, stream_missing, ("stream",), stream_on),
    "gsi-missing": Drift(USERS, gsi_missing, ("gsis.UserIdIndex",), gsi_present),
    "billing-provisioned": Drift(USERS, billing_provisioned, ("billing",), on_demand),
    "bpa-off": Drift("photos", bpa_off, BPA_PATHS, all_blocked),
    "ownership-changed": Drift("photos", ownership_changed, ("object_ownership",), owner_enforced),
    "encryption-changed": Drift("frontend", encryption_changed, ("encryption",), sse_s3),
    "versioning-suspended": Drift("photos", versioning_suspended, ("versioning",), versioning_enabled),
    "website-removed": Drift(
        "frontend", website_removed, ("website.index_document", "website.error_document"), website_on
    ),
    "policy-deleted": Drift("photos", policy_deleted, ("policy.DenyInsecureTransport",), tls_only),
    "public-statement-added": Drift("photos", public_statement_added, (f"policy.{PUBLIC_SID}",), tls_only),
    "cors-deleted": Drift("photos", cors_deleted, ("cors.selfheal-1",), cors_declared_only),
    "cors-origin-changed": Drift("photos", cors_origin_changed, ("cors.selfheal-1",), cors_declared_only),
    "lifecycle-deleted": Drift(
        "photos",
        lifecycle_deleted,
        ("lifecycle.abort-incomplete-multipart-uploads", "lifecycle.expire-noncurrent-versions"),
        lifecycle_declared,
    ),
    "bucket-tags-deleted": Drift("photos", bucket_tags_deleted, ("tags.app", "tags.managed-by"), bucket_tags_declared),
}


def _name(world: World, target: str) -> str:
    return {"photos": world.photos, "frontend": world.frontend}.get(target, target)


@pytest.mark.parametrize("case", DRIFTS.values(), ids=DRIFTS.keys())
def test_drift_is_planned_then_repaired(world, aws, case: Drift):
    name = _name(world, case.target)
    heal(world, name)
    case.drift(world, name)

    # WHEN plan runs THEN it names the drifted setting and writes nothing
    restart_call_log(aws)
    plan = run(world.endpoint, world.estate, "plan", only=(name,))
    assert plan.exit_code == 2
    found = result(plan, name)
    assert found.outcome.value == "pending"
    assert set(case.paths) <= set(change_paths(found)), change_paths(found)
    assert aws.writes() == []

    # WHEN apply runs THEN it repairs exactly that
    applied = result(run(world.endpoint, world.estate, "apply", only=(name,)), name)
    assert applied.outcome.value == "repaired", applied.reason
    assert set(case.paths) <= set(change_paths(applied))

    # THEN AWS holds the declared setting again, and a plan finds nothing left
    case.check(world, name)
    again = run(world.endpoint, world.estate, "plan", only=(name,))
    assert again.exit_code == 0, [str(c) for c in result(again, name).changes]


def test_a_removed_encryption_configuration_is_s3s_base_sse_s3_and_no_drift_for_an_sse_s3_bucket(world, aws):
    # AWS: after DeleteBucketEncryption a bucket reports (and applies) SSE-S3, S3's base encryption since January 2023
    heal(world, world.photos)
    encryption_removed(world, world.photos)
    sse_s3(world, world.photos)
    restart_call_log(aws)
    assert run(world.endpoint, world.estate, "apply", only=(world.photos,)).exit_code == 0
    assert aws.writes() == []


def test_changed_table_tag_value_is_planned_and_overwritten(world):
    """GIVEN someone changed the value of a declared table tag WHEN plan and apply run THEN the tag is set back."""
    heal(world, USERS)
    tag_value_changed(world, USERS)

    plan = result(run(world.endpoint, world.estate, "plan", only=(USERS,)), USERS)
    assert [(c.path, c.old, c.new) for c in plan.changes] == [("tags.app", "someone-else", "galerly")]

    applied = result(run(world.endpoint, world.estate, "apply", only=(USERS,)), USERS)

    assert applied.outcome.value == "repaired"
    assert [(c.path, c.old, c.new) for c in applied.changes] == [("tags.app", "someone-else", "galerly")]
    table_tags_declared(world, USERS)
    tags = world.ddb.list_tags_of_resource(ResourceArn=world.arn(USERS))["Tags"]
    assert sorted(t["Key"] for t in tags) == sorted(k for k, _ in table_spec(world.estate, USERS).tags)
    assert run(world.endpoint, world.estate, "plan", only=(USERS,)).exit_code == 0


def test_public_statement_is_removed_but_the_declared_one_kept(world):
    heal(world, world.photos)
    public_statement_added(world, world.photos)
    assert statement(world.policy(world.photos), PUBLIC_SID) is not None

    run(world.endpoint, world.estate, "apply", only=(world.photos,))

    policy = world.policy(world.photos)
    assert statement(policy, PUBLIC_SID) is None
    assert [s["Sid"] for s in policy] == ["DenyInsecureTransport"]


# --- merged, not clobbered ------------------------------------------------------------------------------------------

# Harmless extras (what widens access or destroys data is a finding instead: tests/functional/test_findings.py).
EXTRA_STATEMENT_SID = "AllowReportingRead"
EXTRA_CORS = {"ID": "partner-uploads", "AllowedOrigins": ["https://partner.example"], "AllowedMethods": ["GET"]}
EXTRA_LIFECYCLE = {"ID": "tidy-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                   "NoncurrentVersionExpiration": {"NoncurrentDays": 60}}


def extra_statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": EXTRA_STATEMENT_SID,
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:role/reporting"},  # the local AWS's own account
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/shared/*",
    }


def test_whole_documents_are_merged_not_clobbered(world, aws):
    """GIVEN someone replaced the photos bucket's policy, CORS, lifecycle and tags with their own, dropping ours
    WHEN apply runs THEN ours are back AND theirs are kept."""
    bucket = world.photos
    heal(world, bucket)
    s3 = world.s3
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [extra_statement(bucket)]})
    )
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [EXTRA_CORS]})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [EXTRA_LIFECYCLE]})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "cost-center", "Value": "42"}]})

    applied = result(run(world.endpoint, world.estate, "apply", only=(bucket,)), bucket)

    assert applied.outcome.value == "repaired"
    bucket_as_declared(world, bucket)
    policy = world.policy(bucket)
    assert sorted(s["Sid"] for s in policy) == sorted([EXTRA_STATEMENT_SID, "DenyInsecureTransport"])
    assert as_list(statement(policy, EXTRA_STATEMENT_SID)["Resource"]) == [f"arn:aws:s3:::{bucket}/shared/*"]
    cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert ["https://partner.example"] in [r["AllowedOrigins"] for r in cors]
    assert len(cors) == 2
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert set(rules) == {"tidy-tmp", "abort-incomplete-multipart-uploads", "expire-noncurrent-versions"}
    assert rules["tidy-tmp"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 60}
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {"cost-center": "42", "app": "galerly", "managed-by": "selfheal"}
    assert run(world.endpoint, world.estate, "plan", only=(bucket,)).exit_code == 0


def test_additions_next_to_the_declared_settings_are_not_drift(world, aws):
    """GIVEN extras added beside what is declared WHEN plan and apply run THEN nothing is pending or written."""
    bucket = world.photos
    heal(world, bucket)
    s3 = world.s3
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps({"Version": "2012-10-17", "Statement": world.policy(bucket) + [extra_statement(bucket)]}),
    )
    cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": cors + [EXTRA_CORS]})
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules + [EXTRA_LIFECYCLE]})
    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags + [{"Key": "cost-center", "Value": "42"}]})
    restart_call_log(aws)

    plan = run(world.endpoint, world.estate, "plan", only=(bucket,))
    applied = run(world.endpoint, world.estate, "apply", only=(bucket,))

    assert plan.exit_code == 0, [str(c) for c in result(plan, bucket).changes]
    assert "tags not declared: cost-center (kept)" in result(plan, bucket).notes
    assert applied.exit_code == 0
    assert aws.writes() == []


def test_versioning_on_the_frontend_bucket_is_never_suspended(world, aws):
    """GIVEN someone enabled versioning on the frontend bucket (not declared) and removed its tags
    WHEN apply repairs the bucket THEN versioning stays enabled."""
    bucket = world.frontend
    heal(world, bucket)
    world.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    world.s3.delete_bucket_tagging(Bucket=bucket)
    restart_call_log(aws)

    applied = result(run(world.endpoint, world.estate, "apply", only=(bucket,)), bucket)

    assert applied.outcome.value == "repaired"
    assert world.s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert [c for c in aws.writes() if c["operation"] == "PutBucketVersioning"] == []
    bucket_tags_declared(world, bucket)


def test_undeclared_index_is_reported_and_kept(world, aws):
    heal(world, USERS)
    world.ddb.update_table(
        TableName=USERS,
        AttributeDefinitions=[{"AttributeName": "nickname", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "NicknameIndex",
                    "KeySchema": [{"AttributeName": "nickname", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )
    restart_call_log(aws)

    plan = run(world.endpoint, world.estate, "plan", only=(USERS,))
    applied = run(world.endpoint, world.estate, "apply", only=(USERS,))

    note = "index NicknameIndex is not declared: kept (selfheal never deletes an index)"
    assert plan.exit_code == 0
    assert note in result(plan, USERS).notes
    assert note in result(applied, USERS).notes
    assert aws.writes() == []
    indexes = {g["IndexName"] for g in world.ddb.describe_table(TableName=USERS)["Table"]["GlobalSecondaryIndexes"]}
    assert indexes == {"UserIdIndex", "NicknameIndex"}
