"""`selfheal import` against a live (local) account: the file it writes plans to exit 0 with zero writes, restores
a deleted table, validates against the schema, and says what it found but cannot declare."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import boto3
import jsonschema
import pytest
import yaml

from selfheal.loader import load_estate
from selfheal.schema import build
from selfheal.spec import Estate
from tests.e2e.conftest import heal_from_empty
from tests.support import cli
from tests.support.cli import environment
from tests.support.estates import GALERLY
from tests.support.seed import SEED_BUCKETS, SEED_TABLES

pytestmark = pytest.mark.e2e

SCHEMA = jsonschema.Draft7Validator(build())


@pytest.fixture
def selfheal(aws, tmp_path):
    """`python -m selfheal ARGS` in a subprocess, as a user runs it, from a directory of its own."""
    return lambda *args: cli.selfheal(*args, env=environment(), cwd=tmp_path)


def imported(selfheal, aws, path: Path, *selection: str) -> str:
    """Import into `path`: exit 0, not one AWS write, a file the schema and the validator accept."""
    aws.reset_calls()
    run = selfheal("import", *selection, "-o", str(path))
    assert run.code == 0, run.err
    assert aws.writes() == []
    assert run.out == "" and "imported" in run.err
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=")
    schema_ref = text.splitlines()[0].split("$schema=", 1)[1]
    assert (path.parent / schema_ref).resolve().is_file()  # editors find the schema the first line names
    assert [e.message for e in SCHEMA.iter_errors(yaml.safe_load(text))] == []
    return text


def plans_in_sync(selfheal, aws, path: Path) -> None:
    aws.reset_calls()
    plan = selfheal("plan", "--estate", str(path), "--json")
    assert plan.code == 0, (plan.out, plan.err)
    assert set(plan.outcomes().values()) == {"ok"}
    assert aws.writes() == []


def by_name(estate: Estate) -> dict[str, object]:
    return {r.name: r for r in estate.resources}


# --- the seed estate --------------------------------------------------------------------------------------------


def test_the_seed_estate_round_trips_and_its_import_restores_a_deleted_table(selfheal, aws, ddb, tmp_path):
    heal_from_empty(aws.endpoint)
    path = tmp_path / "imported.yaml"
    text = imported(selfheal, aws, path, "--prefix", "galerly", "--bucket", *SEED_BUCKETS)

    plans_in_sync(selfheal, aws, path)
    # The same tables and buckets as the shipped estate, resource for resource, in fewer lines: its recovery objective
    # is an intent no account shows, and its AWS Backup plan is not imported.
    shipped = {name: replace(r, objective=None) for name, r in by_name(load_estate(GALERLY, env={})).items()
               if r.kind in ("table", "bucket")}
    assert by_name(load_estate(path, env={})) == shipped
    assert "table_defaults:\n  tags: {app: galerly, managed-by: selfheal}" in text
    assert "# found:" not in text
    assert sorted(load_estate(path, env={}).only(list(SEED_TABLES)).variables) == [
        ("frontend_app_bucket", "galerly-frontend-app"), ("images_storage_bucket", "galerly-images-storage"),
        ("prefix", "galerly"), ("region", "us-east-1")]

    # A table with PITR deleted by hand comes back from its backup, as the imported estate declares it.
    ddb.put_item(TableName="galerly-users", Item={"email": {"S": "ada@example.com"}, "id": {"S": "u-1"}})
    ddb.update_table(TableName="galerly-users", DeletionProtectionEnabled=False)
    ddb.delete_table(TableName="galerly-users")
    apply = selfheal("apply", "--estate", str(path), "--json")
    assert apply.code == 0, apply.err
    assert apply.outcomes()["galerly-users"] == "restored"
    assert not any(c["operation"] == "CreateTable" for c in aws.writes())
    item = ddb.get_item(TableName="galerly-users", Key={"email": {"S": "ada@example.com"}})["Item"]
    assert item["id"] == {"S": "u-1"}
    assert ddb.describe_table(TableName="galerly-users")["Table"]["DeletionProtectionEnabled"] is True
    plans_in_sync(selfheal, aws, path)


# --- a varied estate --------------------------------------------------------------------------------------------

VARIED = """
version: 1
vars: {prefix: shop, region: us-east-1}
table_defaults:
  tags: {team: checkout}
tables:
  - name: ${prefix}-orders
    hash_key: customer_id
    range_key: {name: order_ts, type: N}
    billing: {mode: provisioned, read_capacity: 5, write_capacity: 3}
    encryption: {kms_key: KEY_ARN}
    pitr: {recovery_days: 7}
    stream: NEW_IMAGE
    ttl: expires_at
    gsis:
      - name: ByStatus
        hash_key: status
        range_key: {name: order_ts, type: N}
        projection: {include: [total, currency]}
        read_capacity: 2
        write_capacity: 4
      - {name: BySku, hash_key: sku, projection: KEYS_ONLY}
    lsis:
      - {name: ByTotal, range_key: {name: total, type: N}, projection: {include: [currency]}}
  - name: ${prefix}-carts
    hash_key: cart_id
    deletion_protection: false
    tags: {team: checkout, tier: hot}
  - name: ${prefix}-events
    hash_key: {name: id, type: B}
    pitr: false
buckets:
  - name: shop-assets
    encryption: {kms_key: alias/shop-data, bucket_key: false}
    versioning: true
    policy:
      presets: [tls-only]
      statements:
        - Sid: PartnerReadsReports
          Effect: Allow
          Principal: {AWS: "arn:aws:iam::111122223333:root"}
          Action: [s3:GetObject]
          Resource: arn:aws:s3:::shop-assets/reports/*
        - Sid: OwnFolderOnly
          Effect: Deny
          Principal: "*"
          Action: s3:PutObject
          NotResource: "arn:aws:s3:::shop-assets/home/$${aws:username}/*"
          Condition: {StringNotEquals: {aws:PrincipalAccount: "123456789012"}}
    cors: [{allowed_origins: [https://shop.example], allowed_methods: [GET, PUT], max_age_seconds: 600}]
    lifecycle: [{id: expire-tmp, prefix: tmp/, expiration_days: 1, accept_data_loss: true}]
    tags: {team: checkout}
  - name: shop-site
    public_access_block: {block_public_policy: false, restrict_public_buckets: false}
    website: {index_document: index.html}
    policy: {presets: [public-read]}
"""


@pytest.mark.iam_parameters(Prefix="shop", FrontendBucketName="shop-site", PhotosBucketName="shop-assets")
def test_a_varied_estate_round_trips(selfheal, aws, tmp_path):
    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=aws.endpoint)
    key = kms.create_key(Description="shop data")["KeyMetadata"]
    kms.create_alias(AliasName="alias/shop-data", TargetKeyId=key["KeyId"])
    declared = tmp_path / "varied.yaml"
    # The table's key by its ARN: moto keeps a table's key as it was given where AWS reports the key's ARN, so an
    # alias here would never plan in sync on the local AWS (with or without import).
    declared.write_text(VARIED.replace("KEY_ARN", key["Arn"]), encoding="utf-8")
    apply = selfheal("apply", "--estate", str(declared), "--json")
    assert apply.code == 0, (apply.out, apply.err)

    path = tmp_path / "imported.yaml"
    text = imported(selfheal, aws, path, "--prefix", "shop", "--bucket", "shop-assets", "shop-site")

    plans_in_sync(selfheal, aws, path)
    imported_estate, declared_estate = by_name(load_estate(path, env={})), by_name(load_estate(declared, env={}))
    assert imported_estate["shop-orders"].kms_key == "alias/shop-data"  # the key by its alias, not its ARN
    imported_estate["shop-orders"] = replace(imported_estate["shop-orders"], kms_key=key["Arn"])
    assert imported_estate == declared_estate
    for expected in (
        "table_defaults:\n  tags: {team: checkout}",
        "billing: {mode: provisioned, read_capacity: 5, write_capacity: 3}",
        "pitr: {recovery_days: 7}",
        "lsis: [{name: ByTotal, range_key: {name: total, type: N}, projection: {include: [currency]}}]",
        "{name: BySku, hash_key: sku, projection: KEYS_ONLY}",  # capacity 1 is the default
        "deletion_protection: false",
        "tags: {team: checkout, tier: hot}",
        "arn:aws:s3:::${assets_bucket}/reports/*",  # the statement follows the bucket's var
        "$${aws:username}",  # a literal ${...} stays literal
        "encryption: {kms_key: alias/shop-data, bucket_key: false}",
    ):
        assert expected in text, expected
    assert "# found:" not in text


# --- an app selfheal never touched ------------------------------------------------------------------------------


@pytest.mark.iam_parameters(Prefix="legacy", FrontendBucketName="legacy-media", PhotosBucketName="legacy-unused")
def test_an_app_built_by_hand_is_imported_with_what_cannot_be_declared_marked(selfheal, aws, ddb, s3, tmp_path):
    ddb.create_table(
        TableName="legacy-orders",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 10},
    )
    scaling = boto3.client("application-autoscaling", region_name="us-east-1", endpoint_url=aws.endpoint)
    scaling.register_scalable_target(ServiceNamespace="dynamodb", ResourceId="table/legacy-orders",
                                     ScalableDimension="dynamodb:table:ReadCapacityUnits", MinCapacity=5,
                                     MaxCapacity=50)
    s3.create_bucket(Bucket="legacy-media")
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.endpoint)
    queue = sqs.get_queue_attributes(QueueUrl=sqs.create_queue(QueueName="uploads")["QueueUrl"],
                                     AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket="legacy-media", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_bucket_lifecycle_configuration(Bucket="legacy-media", LifecycleConfiguration={"Rules": [
        {"ID": "to-glacier", "Status": "Enabled", "Filter": {"Prefix": "old/"},
         "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]},
        {"ID": "expire-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 14}},
    ]})
    s3.put_bucket_policy(Bucket="legacy-media", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::legacy-media"},
    ]}))

    path = tmp_path / "legacy.yaml"
    text = imported(selfheal, aws, path, "--table", "legacy-orders", "--bucket", "legacy-media")
    for found in (
        "auto scaling on read 5-50",
        "encryption: aws-owned",
        "event notifications (1 to SQS)",
        "lifecycle rule to-glacier — not declarable (Transitions)",
        "policy statement #1 (no Sid) — not declarable (Sid: missing)",
        "no public access block",
        "no object ownership controls",
    ):
        assert found in text, found
    assert "{id: expire-logs, prefix: logs/, expiration_days: 14}" in text
    assert "name: legacy-orders" in text  # no --prefix: the name as it is
    # The AWS-owned key, no ownership controls and no access block are declared as they are: nothing to change.
    plans_in_sync(selfheal, aws, path)


# --- a catalogue of resources as they are found on accounts selfheal never touched --------------------------------


def _table(ddb, name: str, **extra: object) -> None:
    """A table made by hand: on-demand, the AWS-owned key, no PITR, no deletion protection unless `extra` says."""
    attrs = {"id": "S"} | dict(extra.pop("attrs", {}))  # type: ignore[call-overload]
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}]
                     + list(extra.pop("range", [])),  # type: ignore[call-overload]
                     AttributeDefinitions=[{"AttributeName": k, "AttributeType": v} for k, v in attrs.items()],
                     **({"BillingMode": "PAY_PER_REQUEST"} | extra))


@pytest.mark.iam_parameters(Prefix="cat", FrontendBucketName="cat-site", PhotosBucketName="cat-data")
def test_a_catalogue_of_resources_as_found_imports_and_plans_with_zero_writes(selfheal, aws, ddb, s3, tmp_path):
    # GIVEN tables and buckets made with plain boto3 the ways accounts hold them, never by selfheal
    _table(ddb, "cat-default-key")  # no SSESpecification: DynamoDB's AWS-owned key, reported as no SSEDescription
    _table(ddb, "cat-managed-key", SSESpecification={"Enabled": True, "SSEType": "KMS"}, DeletionProtectionEnabled=True)
    _table(ddb, "cat-provisioned", BillingMode="PROVISIONED",
           ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 2})
    _table(ddb, "cat-scaled", BillingMode="PROVISIONED",
           ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 10})
    scaling = boto3.client("application-autoscaling", region_name="us-east-1", endpoint_url=aws.endpoint)
    scaling.register_scalable_target(ServiceNamespace="dynamodb", ResourceId="table/cat-scaled",
                                     ScalableDimension="dynamodb:table:WriteCapacityUnits", MinCapacity=5,
                                     MaxCapacity=40)
    _table(ddb, "cat-indexed", attrs={"ts": "N", "owner": "S"}, range=[{"AttributeName": "ts", "KeyType": "RANGE"}],
           LocalSecondaryIndexes=[{"IndexName": "ByOwner", "KeySchema": [
               {"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "owner", "KeyType": "RANGE"}],
               "Projection": {"ProjectionType": "KEYS_ONLY"}}],
           GlobalSecondaryIndexes=[{"IndexName": "ByTs", "KeySchema": [{"AttributeName": "ts", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["owner"]}}])
    _table(ddb, "cat-streamed", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    _table(ddb, "cat-expiring", Tags=[{"Key": "team", "Value": "growth"}, {"Key": "cost-center", "Value": "42"}])
    ddb.update_time_to_live(TableName="cat-expiring", TimeToLiveSpecification={"Enabled": True,
                                                                             "AttributeName": "expires"})
    ddb.update_continuous_backups(TableName="cat-expiring", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7})
    # Old-style buckets (before April 2023): ACLs on, no ownership controls, no public access block, no encryption
    # configuration put (S3 reports and applies SSE-S3, its base encryption).
    for bucket in ("cat-site", "cat-data", "cat-replica"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_acl(Bucket="cat-site", ACL="private")
    s3.put_bucket_website(Bucket="cat-site", WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"}})
    s3.put_bucket_policy(Bucket="cat-site", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::cat-site/*"}]}))
    s3.put_bucket_cors(Bucket="cat-site", CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://cat.example"], "AllowedMethods": ["GET", "HEAD"], "MaxAgeSeconds": 300}]})
    for bucket in ("cat-data", "cat-replica"):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket="cat-data", LifecycleConfiguration={"Rules": [
        {"ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 3}},
        {"ID": "old-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]})
    s3.put_bucket_replication(Bucket="cat-data", ReplicationConfiguration={
        "Role": "arn:aws:iam::123456789012:role/replication", "Rules": [
            {"ID": "all", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
             "DeleteMarkerReplication": {"Status": "Disabled"},
             "Destination": {"Bucket": "arn:aws:s3:::cat-replica"}}]})
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.endpoint)
    queue = sqs.get_queue_attributes(QueueUrl=sqs.create_queue(QueueName="cat-uploads")["QueueUrl"],
                                     AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket="cat-data", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_bucket_tagging(Bucket="cat-data", Tagging={"TagSet": [{"Key": "team", "Value": "growth"}]})

    # WHEN the account is imported and the file planned
    path = tmp_path / "found.yaml"
    text = imported(selfheal, aws, path, "--prefix", "cat", "--bucket", "cat-site", "cat-data")

    # THEN the plan is in sync: exit 0 and not one write, every resource as found
    plans_in_sync(selfheal, aws, path)
    estate = load_estate(path, env={})
    assert len(estate.tables) == 7 and len(estate.buckets) == 2
    tables = {t.name: t for t in estate.tables}
    assert tables["cat-default-key"].aws_owned_key and not tables["cat-managed-key"].aws_owned_key
    assert "encryption: aws-owned" in text
    site, data = estate.buckets
    assert site.object_ownership == data.object_ownership == "ObjectWriter"
    assert not any(site.bpa.values()) and not any(data.bpa.values())
    for found in ("auto scaling on write 5-40", "replication", "event notifications (1 to SQS)",
                  "no public access block", "no object ownership controls"):
        assert found in text, found
    assert "not declarable: selfheal will switch" not in text and "AWS-owned key (DynamoDB's default)" not in text


# --- bad input: one line naming the flag and the fix, exit 1, no AWS write --------------------------------------


@pytest.fixture
def run_cli(aws, capsys):
    return lambda *argv: cli.in_process(capsys, "--endpoint-url", aws.endpoint, *argv)


def test_import_bad_input_is_one_line_exit_1_and_no_write(run_cli, aws, ddb, tmp_path):
    heal_from_empty(aws.endpoint)
    existing = tmp_path / "estate.yaml"
    existing.write_text("keep me\n")
    cases = [
        (["import"], "import: nothing selected — pass --prefix P", True),
        (["import", "--table", "galerly-users", "-o", str(existing)],
         f"-o {existing}: the file exists — pass --force to overwrite it", True),
        (["import", "--prefix", "galerly", "-o", str(tmp_path)], "is a directory", True),
        (["import", "--prefix", "bad prefix"], "--prefix 'bad prefix': not the start of a table name", True),
        (["--estate", "x.yaml", "import", "--prefix", "galerly"], "--estate: not an option of import", True),
        (["import", "--prefix", "galerly", "--only", "x"], "unrecognized arguments: --only x", True),
        (["import", "--table", "galerly-user"],
         "--table galerly-user: no such table in us-east-1 — did you mean 'galerly-users'? check the name", False),
        (["import", "--prefix", "galerli"], "--prefix galerli: no table named galerli-* in us-east-1", False),
        (["import", "--bucket", "nobody-has-this-bucket"], "--bucket nobody-has-this-bucket: no such bucket", False),
    ]
    for argv, expected, no_call in cases:
        aws.reset_calls()
        code, out, err = run_cli(*argv)
        assert code == 1, argv
        assert out == ""
        (line,) = err.strip().splitlines()
        assert line.startswith("selfheal: error: ") and expected in line and " — " in line, line
        assert aws.writes() == []
        if no_call:
            assert aws.calls() == [], argv
    assert existing.read_text() == "keep me\n"

    code, out, err = run_cli("import", "--table", "galerly-users", "-o", str(existing), "--force")
    assert code == 0, err
    assert "name: galerly-users" in existing.read_text()
