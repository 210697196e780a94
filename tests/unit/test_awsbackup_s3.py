"""The local AWS's AWS Backup for S3 (devtools/awsbackup.py): recovery points of a bucket's objects and restore jobs
that take time and never put an object in place of one that is there; every answer checked against botocore's output
shape for the operation (tests/support/shapes.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.awsbackup import AwsBackupFake
from tests.support.shapes import problems


def call(fake: AwsBackupFake, operation: str, labels: tuple[str, ...] = (), body: Any = None) -> tuple[int, Any]:
    status, _, payload = fake.handle(operation, labels, {}, json.dumps(body or {}).encode(), "123456789012",
                                     "us-east-1")
    answer = json.loads(payload)
    if status == 200:
        assert problems("backup", operation, answer, resource_type="S3") == []
    return status, answer


@pytest.fixture
def s3() -> Any:
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def test_a_recovery_point_of_a_bucket_restores_into_it_after_the_clock_without_overwriting(s3: Any) -> None:
    # GIVEN a bucket of three objects in a recovery point, then one deleted and one overwritten
    s3.create_bucket(Bucket="photos")
    for key in ("a.jpg", "b.jpg", "c.jpg"):
        s3.put_object(Bucket="photos", Key=key, Body=f"old {key}".encode(), ContentType="image/jpeg")
    fake = AwsBackupFake(lambda *args: None, lambda: time.monotonic() + 0.5)  # a restore takes 0.5 s
    point = fake.add_s3_recovery_point("123456789012", "us-east-1", "photos")
    s3.delete_object(Bucket="photos", Key="a.jpg")
    s3.put_object(Bucket="photos", Key="b.jpg", Body=b"new b")

    # THEN it is listed for the bucket's ARN, as AWS Backup lists points
    status, listed = call(fake, "ListRecoveryPointsByResource", ("arn:aws:s3:::photos",))
    assert status == 200 and [p["RecoveryPointArn"] for p in listed["RecoveryPoints"]] == [point]
    assert point.startswith("arn:aws:backup:us-east-1:123456789012:recovery-point:")

    # WHEN it is restored into the existing bucket, THEN the job runs on the clock and writes nothing meanwhile
    request = {"RecoveryPointArn": point, "IamRoleArn": "arn:aws:iam::123456789012:role/restore", "ResourceType": "S3",
               "IdempotencyToken": "t1", "Metadata": {"DestinationBucketName": "photos", "NewBucket": "false",
                                                      "Encrypted": "true", "EncryptionType": "SSE-S3"}}
    status, started = call(fake, "StartRestoreJob", body=request)
    assert status == 200
    assert call(fake, "StartRestoreJob", body=request)[1] == started  # the same token: the same job
    status, job = call(fake, "DescribeRestoreJob", (started["RestoreJobId"],))
    assert job["Status"] == "RUNNING" and job["ResourceType"] == "S3"
    assert "a.jpg" not in [o["Key"] for o in s3.list_objects_v2(Bucket="photos").get("Contents", [])]

    # WHEN the clock has passed, THEN the deleted object is back and the overwritten one is left as it is
    time.sleep(0.6)
    status, job = call(fake, "DescribeRestoreJob", (started["RestoreJobId"],))
    assert job["Status"] == "COMPLETED" and job["CreatedResourceArn"] == "arn:aws:s3:::photos"
    assert s3.get_object(Bucket="photos", Key="a.jpg")["Body"].read() == b"old a.jpg"
    assert s3.get_object(Bucket="photos", Key="b.jpg")["Body"].read() == b"new b"


def test_a_restore_into_a_bucket_that_is_not_there_fails_the_job(s3: Any) -> None:
    s3.create_bucket(Bucket="photos")
    fake = AwsBackupFake(lambda *args: None)
    point = fake.add_s3_recovery_point("123456789012", "us-east-1", "photos")
    status, started = call(fake, "StartRestoreJob", body={
        "RecoveryPointArn": point, "ResourceType": "S3", "IamRoleArn": "arn:aws:iam::123456789012:role/restore",
        "Metadata": {"DestinationBucketName": "gone-bucket", "NewBucket": "false"}})
    assert status == 200
    job = call(fake, "DescribeRestoreJob", (started["RestoreJobId"],))[1]
    assert job["Status"] == "FAILED" and "gone-bucket" in job["StatusMessage"]
    role = "arn:aws:iam::123456789012:role/restore"
    status, error = call(fake, "StartRestoreJob", body={"RecoveryPointArn": point, "IamRoleArn": role, "Metadata": {}})
    assert status == 400 and "DestinationBucketName" in error["Message"]
    status, error = call(fake, "StartRestoreJob", body={"RecoveryPointArn": point, "IamRoleArn": role,
                                                        "Metadata": {"targetTableName": "photos"}})
    assert status == 400 and "Invalid metadata for S3: targettablename" in error["Message"]
