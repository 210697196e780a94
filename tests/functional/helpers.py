"""Shared by the engine's acceptance tests: the estate, fast engine runs, and independent read-backs with plain boto3.

The read-backs never use selfheal's observe code: a test that checks the engine with the engine proves nothing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from selfheal.aws import Clients
from selfheal.engine import Engine, Options
from selfheal.loader import load_estate
from selfheal.model import ResourceResult
from selfheal.report import Report
from selfheal.spec import BucketSpec, Estate, TableSpec
from tests.support.estates import GALERLY

REGION = "us-east-1"
# Fast waits and retries: moto makes tables ACTIVE at once, so nothing here should ever sleep long.
FAST = {"poll_seconds": 0.05, "retry_base_seconds": 0.01}


def shipped_estate() -> Estate:
    """The estate shipped with the function, with no SELFHEAL_VAR_* from the environment leaking in."""
    return load_estate(GALERLY, env={})


def table_spec(estate: Estate, name: str) -> TableSpec:
    return next(t for t in estate.tables if t.name == name)


def bucket_spec(estate: Estate, name: str) -> BucketSpec:
    return next(b for b in estate.buckets if b.name == name)


def public_bucket(estate: Estate) -> BucketSpec:
    return next(b for b in estate.buckets if b.is_public)


def private_bucket(estate: Estate) -> BucketSpec:
    return next(b for b in estate.buckets if not b.is_public)


def make_clients(endpoint: str) -> Clients:
    return Clients(session=boto3.Session(region_name=REGION), endpoint_url=endpoint)


def run(endpoint: str, estate: Estate, action: str, clients: Clients | None = None, **options: Any) -> Report:
    """One engine run (`status`, `plan` or `apply`) against the local AWS, with fresh clients unless given."""
    engine = Engine(estate, clients or make_clients(endpoint), Options(**{**FAST, **options}))
    return engine.run(action)


def result(report: Report, name: str) -> ResourceResult:
    matches = [r for r in report.results if r.name == name]
    assert len(matches) == 1, f"{name} is not in the report: {[r.name for r in report.results]}"
    return matches[0]


def change_paths(res: ResourceResult) -> list[str]:
    return [c.path for c in res.changes]


def outcomes(report: Report) -> dict[str, str]:
    return {r.name: r.outcome.value for r in report.results}


def writes_named(calls: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [c for c in calls if c["write"] and c["name"] == name]


# --- independent read-backs -----------------------------------------------------------------------------------------


def read_table(ddb: Any, name: str) -> dict[str, Any]:
    """DescribeTable plus PITR, TTL and tags, as AWS returns them."""
    desc = ddb.describe_table(TableName=name)["Table"]
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    return {
        "desc": desc,
        "pitr": pitr.get("PointInTimeRecoveryDescription") or {},
        "ttl": ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"],
        "tags": {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"]},
    }


def key_schema(hash_key: Any, range_key: Any) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key.name, "KeyType": "HASH"}]
    if range_key is not None:
        schema.append({"AttributeName": range_key.name, "KeyType": "RANGE"})
    return schema


def managed_dynamodb_key_arn(kms: Any) -> str:
    return kms.describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]["Arn"]


def assert_table_as_declared(ddb: Any, kms: Any, spec: TableSpec) -> dict[str, Any]:
    """Every setting the spec declares, read back from AWS. Returns what was read."""
    got = read_table(ddb, spec.name)
    desc = got["desc"]
    assert desc["TableStatus"] == "ACTIVE"
    assert desc["KeySchema"] == key_schema(spec.hash_key, spec.range_key)
    types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
    for attr, attr_type in spec.attributes.items():
        assert types.get(attr) == attr_type, f"{spec.name}: attribute {attr} is {types.get(attr)}, want {attr_type}"
    gsis = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes") or []}
    assert set(gsis) == {g.name for g in spec.gsis}, f"{spec.name}: indexes {sorted(gsis)}"
    for gsi in spec.gsis:
        assert gsis[gsi.name]["KeySchema"] == key_schema(gsi.hash_key, gsi.range_key)
        assert gsis[gsi.name]["Projection"]["ProjectionType"] == gsi.projection
    assert desc["BillingModeSummary"]["BillingMode"] == spec.billing
    sse = desc.get("SSEDescription") or {}
    assert (sse.get("Status"), sse.get("SSEType")) == ("ENABLED", "KMS"), f"{spec.name}: SSE {sse}"
    assert sse["KMSMasterKeyArn"] == managed_dynamodb_key_arn(kms)
    assert got["pitr"].get("PointInTimeRecoveryStatus") == "ENABLED"
    assert got["pitr"].get("RecoveryPeriodInDays") == spec.recovery_days
    assert desc.get("DeletionProtectionEnabled") is spec.deletion_protection
    if spec.ttl:
        assert got["ttl"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": spec.ttl}
    else:
        assert got["ttl"].get("TimeToLiveStatus") == "DISABLED"
    stream = desc.get("StreamSpecification") or {}
    if spec.stream:
        assert stream == {"StreamEnabled": True, "StreamViewType": spec.stream}
    else:
        assert not stream.get("StreamEnabled")
    assert dict(spec.tags).items() <= got["tags"].items()
    return got


def read_bucket(s3: Any, name: str) -> dict[str, Any]:
    """Every bucket sub-resource the estate can declare; None where S3 says it is not configured."""

    def get(method: str, absent: str, pick: Any) -> Any:
        try:
            return pick(getattr(s3, method)(Bucket=name))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == absent:
                return None
            raise

    return {
        "bpa": get("get_public_access_block", "NoSuchPublicAccessBlockConfiguration",
                   lambda r: r["PublicAccessBlockConfiguration"]),
        "ownership": get("get_bucket_ownership_controls", "OwnershipControlsNotFoundError",
                         lambda r: [x["ObjectOwnership"] for x in r["OwnershipControls"]["Rules"]]),
        "encryption": get("get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError",
                          lambda r: r["ServerSideEncryptionConfiguration"]["Rules"]),
        "versioning": s3.get_bucket_versioning(Bucket=name).get("Status"),
        "website": get("get_bucket_website", "NoSuchWebsiteConfiguration",
                       lambda r: {k: v for k, v in r.items() if k != "ResponseMetadata"}),
        "policy": get("get_bucket_policy", "NoSuchBucketPolicy", lambda r: json.loads(r["Policy"])["Statement"]),
        "cors": get("get_bucket_cors", "NoSuchCORSConfiguration", lambda r: r["CORSRules"]),
        "lifecycle": get("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration", lambda r: r["Rules"]),
        "tags": get("get_bucket_tagging", "NoSuchTagSet", lambda r: {t["Key"]: t["Value"] for t in r["TagSet"]}),
    }  # fmt: skip


BPA_FIELDS = {
    "block_public_acls": "BlockPublicAcls",
    "ignore_public_acls": "IgnorePublicAcls",
    "block_public_policy": "BlockPublicPolicy",
    "restrict_public_buckets": "RestrictPublicBuckets",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statement(statements: list[dict[str, Any]] | None, sid: str) -> dict[str, Any] | None:
    return next((s for s in statements or [] if s.get("Sid") == sid), None)


def assert_bucket_as_declared(s3: Any, spec: BucketSpec) -> dict[str, Any]:
    """Every aspect the spec declares, read back from S3. Returns what was read."""
    got = read_bucket(s3, spec.name)
    assert got["bpa"] == {BPA_FIELDS[flag]: on for flag, on in spec.public_access_block}
    assert got["ownership"] == [spec.object_ownership]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in got["encryption"]] == [spec.encryption]
    if spec.versioning:
        assert got["versioning"] == "Enabled"
    if spec.website:
        assert got["website"]["IndexDocument"] == {"Suffix": spec.website.index_document}
        assert got["website"]["ErrorDocument"] == {"Key": spec.website.error_document}
    for want in spec.statements:
        have = statement(got["policy"], want["Sid"])
        assert have is not None, f"{spec.name}: statement {want['Sid']} missing from {got['policy']}"
        assert have["Effect"] == want["Effect"]
        assert sorted(as_list(have["Action"])) == sorted(as_list(want["Action"]))
        assert sorted(as_list(have["Resource"])) == sorted(as_list(want["Resource"]))
        assert have.get("Condition") == want.get("Condition")
    for rule in spec.cors:
        assert any(
            set(r["AllowedOrigins"]) == set(rule.allowed_origins)
            and set(r["AllowedMethods"]) == set(rule.allowed_methods)
            and set(r.get("ExposeHeaders", [])) == set(rule.expose_headers)
            and r.get("MaxAgeSeconds") == rule.max_age_seconds
            for r in got["cors"] or []
        ), f"{spec.name}: CORS rule {rule} missing from {got['cors']}"
    rules = {r["ID"]: r for r in got["lifecycle"] or []}
    for rule in spec.lifecycle:
        have = rules.get(rule.id)
        assert have is not None and have["Status"] == "Enabled", f"{spec.name}: lifecycle {rule.id}: {have}"
        if rule.abort_incomplete_multipart_upload_days:
            days = rule.abort_incomplete_multipart_upload_days
            assert have["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": days}
        if rule.noncurrent_version_expiration_days:
            assert have["NoncurrentVersionExpiration"]["NoncurrentDays"] == rule.noncurrent_version_expiration_days
    assert dict(spec.tags).items() <= (got["tags"] or {}).items()
    return got


class _EmptyBody:
    def stream(self, **_: Any) -> Any:
        return iter([b""])


def answer_head_bucket(clients: Clients, bucket: str, status: int, region: str = REGION) -> None:
    """Make HeadBucket on `bucket` through `clients` answer `status` with no body, as S3 does (403: another account's
    bucket we may not read; 404: no such bucket) — e.g. to stage a name taken between our check and our create."""

    def send(request: Any, **_: Any) -> Any:
        if request.method == "HEAD" and urlsplit(request.url).path.strip("/") == bucket:
            return AWSResponse(request.url, status, {"x-amz-request-id": "injected"}, _EmptyBody())
        return None

    clients.client("s3", region).meta.events.register("before-send.s3.HeadBucket", send)


def restart_call_log(server: Any) -> None:
    """Forget the recorded calls, so that what follows is counted alone."""
    server.reset_calls()
