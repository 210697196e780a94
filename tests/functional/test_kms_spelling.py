"""A bucket's KMS key is compared by key ARN: S3 returns it as it was written (alias ARN, key id), so the same key
spelled another way is no drift, and a different key is."""

from __future__ import annotations

import boto3

from selfheal.aws import Clients
from selfheal.engine import Engine, Options
from selfheal.loader import parse_estate
from selfheal.model import Outcome

ESTATE = """
buckets:
  - name: kms-spelled-bucket
    encryption: {kms_key: alias/photos, bucket_key: true}
"""


def test_the_same_key_spelled_as_an_alias_arn_is_in_sync_and_another_key_is_drift(aws) -> None:
    session = boto3.Session(region_name="us-east-1")
    kms = session.client("kms", endpoint_url=aws.endpoint)
    s3 = session.client("s3", endpoint_url=aws.endpoint)
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/photos", TargetKeyId=key["KeyId"])
    other = kms.create_key()["KeyMetadata"]
    estate = parse_estate(ESTATE, env={})
    engine = Engine(estate, Clients(session=session, endpoint_url=aws.endpoint))
    assert engine.apply().exit_code == 0

    def encrypt_with(key_id: str) -> None:
        s3.put_bucket_encryption(Bucket="kms-spelled-bucket", ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id},
            "BucketKeyEnabled": True}]})

    # GIVEN the declared key, written by someone as its alias ARN
    encrypt_with(f"arn:aws:kms:us-east-1:{key['AWSAccountId']}:alias/photos")
    aws.reset_calls()
    # THEN it is in sync: no write
    assert engine.plan().exit_code == 0
    assert {r.outcome for r in engine.apply().results} == {Outcome.OK} and aws.writes() == []

    # GIVEN another key
    encrypt_with(other["Arn"])
    # THEN it is drift, repaired to the declared key
    plan = engine.plan()
    assert plan.exit_code == 2 and [c.path for c in plan.results[0].changes] == ["encryption"]
    assert engine.apply().results[0].outcome is Outcome.REPAIRED
    got = s3.get_bucket_encryption(Bucket="kms-spelled-bucket")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert got["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == "alias/photos"


TABLE_ESTATE = """
tables:
  - name: kms-spelled-table
    hash_key: {name: pk, type: S}
    pitr: false
    encryption: {kms_key: alias/orders}
"""


def test_a_recovery_point_is_restored_with_the_declared_keys_arn_though_the_estate_names_its_alias(aws) -> None:
    # GIVEN a table declared with its key's alias, kept only by an AWS Backup recovery point, then deleted
    session = boto3.Session(region_name="us-east-1")
    kms = session.client("kms", endpoint_url=aws.endpoint)
    ddb = session.client("dynamodb", endpoint_url=aws.endpoint)
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/orders", TargetKeyId=key["KeyId"])
    estate = parse_estate(TABLE_ESTATE, env={})
    clients = Clients(session=session, endpoint_url=aws.endpoint)
    assert Engine(estate, clients).apply().exit_code == 0
    ddb.put_item(TableName="kms-spelled-table", Item={"pk": {"S": "a"}})
    point = aws.add_recovery_point("kms-spelled-table")
    ddb.update_table(TableName="kms-spelled-table", DeletionProtectionEnabled=False)
    ddb.delete_table(TableName="kms-spelled-table")

    # WHEN the engine restores it with AWS Backup (which takes kmsMasterKeyArn as a key ARN only)
    role = "arn:aws:iam::123456789012:role/restore"
    report = Engine(estate, clients, Options(restore_role=role)).apply()

    # THEN it is restored from the point, encrypted with the declared key, named by its ARN
    assert report.results[0].outcome is Outcome.RESTORED, report.results[0].reason
    table = ddb.describe_table(TableName="kms-spelled-table")["Table"]
    assert table["RestoreSummary"]["SourceBackupArn"] == point
    assert table["SSEDescription"]["KMSMasterKeyArn"] == key["Arn"]
    assert ddb.scan(TableName="kms-spelled-table")["Count"] == 1
