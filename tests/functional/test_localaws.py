"""The local AWS server: its moto patches must keep moto faithful, and its proxy must count what we send."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.localaws import LocalAws, classify, fix_s3control_endpoint, other_account_session

KEY = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
ATTRS = {"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}


def _ddb():
    return boto3.client("dynamodb")


def _create_table(ddb, name: str, **kwargs) -> dict:
    kwargs.setdefault("BillingMode", "PAY_PER_REQUEST")
    return ddb.create_table(TableName=name, **KEY, **ATTRS, **kwargs)["TableDescription"]


def _aws_managed_key_arn() -> str:
    return boto3.client("kms").describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]["Arn"]


def _backups(ddb, table: str, backup_type: str = "ALL") -> list[dict]:
    return ddb.list_backups(TableName=table, BackupType=backup_type)["BackupSummaries"]


# ---- RestoreTableFromBackup overrides ------------------------------------------------------------------------


def test_restore_honours_billing_and_sse_overrides(aws: LocalAws) -> None:
    ddb = _ddb()
    _create_table(
        ddb,
        "orders",
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
    )
    ddb.put_item(TableName="orders", Item={"pk": {"S": "o-1"}})
    backup_arn = ddb.create_backup(TableName="orders", BackupName="orders-bk")["BackupDetails"]["BackupArn"]

    restored = ddb.restore_table_from_backup(
        TargetTableName="orders-copy",
        BackupArn=backup_arn,
        BillingModeOverride="PAY_PER_REQUEST",
        SSESpecificationOverride={"Enabled": True, "SSEType": "KMS"},
    )["TableDescription"]

    described = ddb.describe_table(TableName="orders-copy")["Table"]
    for table in (restored, described):
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"] == {
            "Status": "ENABLED",
            "SSEType": "KMS",
            "KMSMasterKeyArn": _aws_managed_key_arn(),
        }
        assert table["RestoreSummary"]["SourceBackupArn"] == backup_arn
    assert described["SSEDescription"]["KMSMasterKeyArn"].startswith("arn:aws:kms:us-east-1:")
    assert ddb.scan(TableName="orders-copy")["Items"] == [{"pk": {"S": "o-1"}}]


def test_describe_backup_and_a_restore_name_the_indexes_as_aws_does(aws: LocalAws) -> None:
    # GIVEN an on-demand table with two indexes, backed up
    ddb = _ddb()
    attrs = [*ATTRS["AttributeDefinitions"], {"AttributeName": "a", "AttributeType": "S"},
             {"AttributeName": "b", "AttributeType": "S"}]
    indexes = [{"IndexName": f"by-{n}", "KeySchema": [{"AttributeName": n, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}} for n in ("a", "b")]
    ddb.create_table(TableName="orders", **KEY, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST",
                     GlobalSecondaryIndexes=indexes)
    backup_arn = ddb.create_backup(TableName="orders", BackupName="orders-bk")["BackupDetails"]["BackupArn"]

    # THEN DescribeBackup names the source table's indexes (SourceTableFeatureDetails), as AWS does
    described = ddb.describe_backup(BackupArn=backup_arn)["BackupDescription"]
    assert described["SourceTableDetails"]["BillingMode"] == "PAY_PER_REQUEST"
    features = described["SourceTableFeatureDetails"]["GlobalSecondaryIndexes"]
    assert [(ix["IndexName"], ix["Projection"]["ProjectionType"]) for ix in features] == [
        ("by-a", "KEYS_ONLY"), ("by-b", "KEYS_ONLY")]

    # WHEN a restore names an index the backup lacks THEN it is refused, and no table is made
    throughput = {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2}
    wrong = [{**indexes[0], "IndexName": "by-c", "ProvisionedThroughput": throughput}]
    with pytest.raises(ClientError) as refused:
        ddb.restore_table_from_backup(TargetTableName="copy", BackupArn=backup_arn, GlobalSecondaryIndexOverride=wrong)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "copy" not in ddb.list_tables()["TableNames"]

    # WHEN a provisioned restore names one of them THEN only that one is restored, with its capacity
    ddb.restore_table_from_backup(
        TargetTableName="copy", BackupArn=backup_arn, BillingModeOverride="PROVISIONED",
        ProvisionedThroughputOverride=throughput,
        GlobalSecondaryIndexOverride=[{**indexes[1], "ProvisionedThroughput": throughput}],
    )
    (kept,) = ddb.describe_table(TableName="copy")["Table"]["GlobalSecondaryIndexes"]
    assert kept["IndexName"] == "by-b"
    assert {k: kept["ProvisionedThroughput"][k] for k in throughput} == throughput


def test_restore_honours_provisioned_throughput_override(aws: LocalAws) -> None:
    ddb = _ddb()
    _create_table(ddb, "events")
    backup_arn = ddb.create_backup(TableName="events", BackupName="events-bk")["BackupDetails"]["BackupArn"]
    ddb.restore_table_from_backup(
        TargetTableName="events-copy",
        BackupArn=backup_arn,
        BillingModeOverride="PROVISIONED",
        ProvisionedThroughputOverride={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
    )
    table = ddb.describe_table(TableName="events-copy")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    assert "SSEDescription" not in table  # no override: AWS-owned key, like a new table


def test_restore_without_overrides_keeps_source_billing_mode(aws: LocalAws) -> None:
    ddb = _ddb()
    _create_table(ddb, "events")
    backup_arn = ddb.create_backup(TableName="events", BackupName="events-bk")["BackupDetails"]["BackupArn"]
    table = ddb.restore_table_from_backup(TargetTableName="events-copy", BackupArn=backup_arn)["TableDescription"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_restored_table_takes_pitr_ttl_and_tags_afterwards(aws: LocalAws) -> None:
    ddb = _ddb()
    _create_table(ddb, "orders", Tags=[{"Key": "team", "Value": "shop"}])
    backup_arn = ddb.create_backup(TableName="orders", BackupName="orders-bk")["BackupDetails"]["BackupArn"]
    arn = ddb.restore_table_from_backup(TargetTableName="orders-copy", BackupArn=backup_arn)["TableDescription"][
        "TableArn"
    ]
    # a restore carries none of these
    pitr = ddb.describe_continuous_backups(TableName="orders-copy")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == []

    ddb.update_continuous_backups(
        TableName="orders-copy", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    ddb.update_time_to_live(TableName="orders-copy", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "shop"}])

    pitr = ddb.describe_continuous_backups(TableName="orders-copy")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert ddb.describe_time_to_live(TableName="orders-copy")["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "shop"}]


# ---- UpdateTable SSESpecification ----------------------------------------------------------------------------


def test_update_table_sse_is_reported_like_create_table(aws: LocalAws) -> None:
    ddb = _ddb()
    assert "SSEDescription" not in _create_table(ddb, "orders")

    updated = ddb.update_table(TableName="orders", SSESpecification={"Enabled": True, "SSEType": "KMS"})
    expected = {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": _aws_managed_key_arn()}
    assert updated["TableDescription"]["SSEDescription"] == expected
    assert ddb.describe_table(TableName="orders")["Table"]["SSEDescription"] == expected

    # same key reporting as CreateTable with SSE
    created = _create_table(ddb, "orders-2", SSESpecification={"Enabled": True})
    assert created["SSEDescription"] == expected

    customer_key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    ddb.update_table(
        TableName="orders", SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": customer_key}
    )
    assert ddb.describe_table(TableName="orders")["Table"]["SSEDescription"]["KMSMasterKeyArn"] == customer_key

    ddb.update_table(TableName="orders", SSESpecification={"Enabled": False})
    assert "SSEDescription" not in ddb.describe_table(TableName="orders")["Table"]


# ---- DeleteTable with PITR leaves a SYSTEM backup ------------------------------------------------------------


def test_deleting_a_pitr_table_leaves_a_restorable_system_backup(aws: LocalAws) -> None:
    ddb = _ddb()
    _create_table(ddb, "orders")
    ddb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    items = [{"pk": {"S": f"o-{i}"}, "n": {"N": str(i)}} for i in range(3)]
    for item in items:
        ddb.put_item(TableName="orders", Item=item)

    ddb.delete_table(TableName="orders")

    system = _backups(ddb, "orders", "SYSTEM")
    assert [(b["BackupName"], b["BackupType"], b["BackupStatus"]) for b in system] == [
        ("orders$DeletedTableBackup", "SYSTEM", "AVAILABLE")
    ]
    assert _backups(ddb, "orders", "USER") == []
    assert ddb.list_backups(TableName="orders")["BackupSummaries"] == []  # AWS lists USER backups by default
    details = ddb.describe_backup(BackupArn=system[0]["BackupArn"])["BackupDescription"]["BackupDetails"]
    assert details["BackupType"] == "SYSTEM"
    assert details["BackupName"] == "orders$DeletedTableBackup"

    restored = ddb.restore_table_from_backup(TargetTableName="orders", BackupArn=system[0]["BackupArn"])
    assert restored["TableDescription"]["TableName"] == "orders"
    scanned = sorted(ddb.scan(TableName="orders")["Items"], key=lambda i: i["pk"]["S"])
    assert scanned == items


def test_deleting_a_table_without_pitr_leaves_no_backup(aws: LocalAws) -> None:
    ddb = _ddb()
    _create_table(ddb, "orders")
    ddb.put_item(TableName="orders", Item={"pk": {"S": "o-1"}})
    ddb.delete_table(TableName="orders")
    assert ddb.list_backups(BackupType="ALL")["BackupSummaries"] == []


def test_user_backups_are_listed_by_type(aws: LocalAws) -> None:
    ddb = _ddb()
    _create_table(ddb, "orders")
    ddb.create_backup(TableName="orders", BackupName="mine")
    assert [b["BackupType"] for b in ddb.list_backups(TableName="orders")["BackupSummaries"]] == ["USER"]
    assert _backups(ddb, "orders", "SYSTEM") == []
    assert len(_backups(ddb, "orders", "ALL")) == 1


# ---- TagResource overwrites, streams can be enabled again -----------------------------------------------------


def test_tag_resource_overwrites_the_value_of_an_existing_key(aws: LocalAws) -> None:
    ddb = _ddb()
    tags = [{"Key": "app", "Value": "shop"}, {"Key": "team", "Value": "a"}]
    arn = _create_table(ddb, "orders", Tags=tags)["TableArn"]

    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "app", "Value": "other"}, {"Key": "env", "Value": "prod"}])

    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "app", "Value": "other"},
        {"Key": "team", "Value": "a"},
        {"Key": "env", "Value": "prod"},
    ]


def test_a_disabled_stream_can_be_enabled_again_as_a_new_stream(aws: LocalAws) -> None:
    ddb = _ddb()
    first = _create_table(ddb, "orders", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    ddb.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
    assert "StreamSpecification" not in ddb.describe_table(TableName="orders")["Table"]

    again = ddb.update_table(
        TableName="orders", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )["TableDescription"]

    assert again["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert again["LatestStreamArn"] != first["LatestStreamArn"]
    assert again["LatestStreamLabel"] != first["LatestStreamLabel"]
    table = ddb.describe_table(TableName="orders")["Table"]
    assert table["StreamSpecification"] == again["StreamSpecification"]
    assert table["LatestStreamArn"] == again["LatestStreamArn"]
    stream = boto3.client("dynamodbstreams").describe_stream(StreamArn=again["LatestStreamArn"])["StreamDescription"]
    assert stream["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    with pytest.raises(ClientError):  # a stream that is still enabled cannot be enabled twice
        ddb.update_table(TableName="orders", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})


# ---- the proxy -----------------------------------------------------------------------------------------------


def _summary(calls: list[dict]) -> list[tuple]:
    return [(c["service"], c["operation"], c["write"], c["name"]) for c in calls]


def test_proxy_counts_reads_and_writes(aws: LocalAws) -> None:
    ddb, s3 = _ddb(), boto3.client("s3")
    _create_table(ddb, "orders")
    ddb.describe_table(TableName="orders")
    ddb.put_item(TableName="orders", Item={"pk": {"S": "o-1"}})
    ddb.get_item(TableName="orders", Key={"pk": {"S": "o-1"}})
    s3.create_bucket(Bucket="photos-bkt")
    s3.head_bucket(Bucket="photos-bkt")
    s3.put_bucket_policy(Bucket="photos-bkt", Policy='{"Version": "2012-10-17", "Statement": []}')
    s3.get_bucket_policy(Bucket="photos-bkt")
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket="photos-bkt")
    s3.put_object(Bucket="photos-bkt", Key="a/b.txt", Body=b"x")
    s3.delete_object(Bucket="photos-bkt", Key="a/b.txt")

    calls = aws.calls()
    assert _summary(calls) == [
        ("dynamodb", "CreateTable", True, "orders"),
        ("dynamodb", "DescribeTable", False, "orders"),
        ("dynamodb", "PutItem", True, "orders"),
        ("dynamodb", "GetItem", False, "orders"),
        ("s3", "CreateBucket", True, "photos-bkt"),
        ("s3", "HeadBucket", False, "photos-bkt"),
        ("s3", "PutBucketPolicy", True, "photos-bkt"),
        ("s3", "GetBucketPolicy", False, "photos-bkt"),
        ("s3", "GetBucketCors", False, "photos-bkt"),
        ("s3", "PutObject", True, "photos-bkt"),
        ("s3", "DeleteObject", True, "photos-bkt"),
    ]
    assert calls[8]["status"] == 404
    assert [c["operation"] for c in aws.writes()] == [
        "CreateTable",
        "PutItem",
        "CreateBucket",
        "PutBucketPolicy",
        "PutObject",
        "DeleteObject",
    ]
    aws.reset_calls()
    assert aws.calls() == []


def test_proxy_counts_s3control_and_sts(aws: LocalAws) -> None:
    s3control = fix_s3control_endpoint(boto3.client("s3control"))
    account = boto3.client("sts").get_caller_identity()["Account"]
    s3control.put_public_access_block(
        AccountId=account, PublicAccessBlockConfiguration={"BlockPublicPolicy": True, "BlockPublicAcls": True}
    )
    config = s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
    assert config["BlockPublicPolicy"] is True
    assert _summary(aws.calls()) == [
        ("sts", "GetCallerIdentity", False, None),
        ("s3control", "PutPublicAccessBlock", True, None),
        ("s3control", "GetPublicAccessBlock", False, None),
    ]


@pytest.mark.parametrize(
    ("method", "path", "operation", "write"),
    [
        ("GET", "/", "ListBuckets", False),
        ("PUT", "/b1?cors", "PutBucketCors", True),
        ("GET", "/b1?lifecycle", "GetBucketLifecycleConfiguration", False),
        ("DELETE", "/b1?policy", "DeleteBucketPolicy", True),
        ("PUT", "/b1?publicAccessBlock", "PutPublicAccessBlock", True),
        ("GET", "/b1?list-type=2&prefix=a", "ListObjectsV2", False),
        ("POST", "/b1?delete", "DeleteObjects", True),
        ("GET", "/b1/k?tagging", "GetObjectTagging", False),
        ("POST", "/b1/k?uploads", "CreateMultipartUpload", True),
        ("GET", "/v20180820/configuration/publicAccessBlock", "GetPublicAccessBlock", False),
    ],
)
def test_classify_s3_paths(method: str, path: str, operation: str, write: bool) -> None:
    call = classify(method, path, {}, b"")
    assert (call["operation"], call["write"]) == (operation, write)


def test_delay_applies_and_can_change_at_run_time(aws: LocalAws) -> None:
    ddb = _ddb()
    ddb.list_tables()  # warm the connection

    def one_call() -> float:
        start = time.perf_counter()
        ddb.list_tables()
        return time.perf_counter() - start

    fast = one_call()
    aws.set_delay(150)
    slow = one_call()
    aws.set_delay(0)
    fast_again = one_call()
    assert slow >= 0.150
    assert fast < 0.1 and fast_again < 0.1


def test_a_delayed_call_holds_up_no_other(aws: LocalAws) -> None:
    # The delay is AWS's latency: a sleep on the request's own thread, holding no lock another request needs, so
    # calls in flight together take about one delay, not one each.
    from concurrent.futures import ThreadPoolExecutor

    from botocore.config import Config

    ddb = boto3.client("dynamodb", config=Config(max_pool_connections=16))
    ddb.list_tables()
    aws.set_delay(400)
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: ddb.list_tables(), range(16)))
    elapsed = time.perf_counter() - started
    aws.set_delay(0)
    assert 0.4 <= elapsed < 1.6, elapsed  # one at a time would take 6.4 s


def test_moto_in_process_answers_as_its_http_server_did(aws: LocalAws) -> None:
    # The proxy calls moto's WSGI application itself: what reached moto over HTTP must reach it the same way.
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="answers-bucket")
    s3.put_object(Bucket="answers-bucket", Key="dir/a b+c.jpg", Body=b"x" * 1234, ContentType="image/jpeg",
                  Metadata={"camera_model": "x100", "lens-mm": "23"})
    head = s3.head_object(Bucket="answers-bucket", Key="dir/a b+c.jpg")
    assert (head["ContentLength"], head["ContentType"], head["Metadata"]) == (
        1234, "image/jpeg", {"camera_model": "x100", "lens-mm": "23"})
    assert head["ResponseMetadata"]["HTTPHeaders"]["date"]
    got = s3.get_object(Bucket="answers-bucket", Key="dir/a b+c.jpg", Range="bytes=0-9")
    assert (got["Body"].read(), got["ContentRange"]) == (b"x" * 10, "bytes 0-9/1234")
    assert _error(lambda: s3.get_object(Bucket="answers-bucket", Key="missing")) == (404, "NoSuchKey")


def test_reset_forgets_state_and_calls(aws: LocalAws) -> None:
    ddb, s3 = _ddb(), boto3.client("s3")
    _create_table(ddb, "orders")
    s3.create_bucket(Bucket="photos-bkt")
    assert aws.calls()
    aws.reset()
    assert aws.calls() == []
    assert ddb.list_tables()["TableNames"] == []
    assert s3.list_buckets()["Buckets"] == []


def test_other_account_owns_a_bucket_name(aws: LocalAws) -> None:
    other = other_account_session(aws.endpoint)
    assert other.client("sts", endpoint_url=aws.endpoint).get_caller_identity()["Account"] == "222222222222"
    other.client("s3", endpoint_url=aws.endpoint).create_bucket(Bucket="taken-name")

    with pytest.raises(ClientError) as error:
        boto3.client("s3").create_bucket(Bucket="taken-name")
    assert error.value.response["Error"]["Code"] == "BucketAlreadyExists"
    assert boto3.client("s3").list_buckets()["Buckets"] == []


def _error(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["ResponseMetadata"]["HTTPStatusCode"], error.value.response["Error"]["Code"]


def test_another_accounts_bucket_answers_403_to_head_and_reads(aws: LocalAws) -> None:
    theirs = other_account_session(aws.endpoint).client("s3", endpoint_url=aws.endpoint)
    theirs.create_bucket(Bucket="taken-name")
    theirs.put_bucket_tagging(Bucket="taken-name", Tagging={"TagSet": [{"Key": "owner", "Value": "them"}]})
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="our-name")

    assert _error(lambda: s3.head_bucket(Bucket="taken-name")) == (403, "403")
    assert _error(lambda: s3.get_bucket_location(Bucket="taken-name")) == (403, "AccessDenied")
    assert _error(lambda: s3.get_bucket_tagging(Bucket="taken-name")) == (403, "AccessDenied")
    assert _error(lambda: s3.get_bucket_policy(Bucket="taken-name")) == (403, "AccessDenied")
    assert _error(lambda: s3.list_objects_v2(Bucket="taken-name")) == (403, "AccessDenied")
    assert _error(lambda: s3.put_bucket_tagging(Bucket="taken-name", Tagging={"TagSet": []})) == (403, "AccessDenied")
    assert _error(lambda: s3.create_bucket(Bucket="taken-name")) == (409, "BucketAlreadyExists")
    assert _error(lambda: s3.head_bucket(Bucket="no-such-name")) == (404, "404")
    assert s3.head_bucket(Bucket="our-name")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _error(lambda: theirs.head_bucket(Bucket="our-name")) == (403, "403")

    # the owner is unaffected, and a name given up is free again
    assert theirs.head_bucket(Bucket="taken-name")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert theirs.get_bucket_tagging(Bucket="taken-name")["TagSet"] == [{"Key": "owner", "Value": "them"}]
    theirs.delete_bucket(Bucket="taken-name")
    assert _error(lambda: s3.head_bucket(Bucket="taken-name")) == (404, "404")
    s3.create_bucket(Bucket="taken-name")
    assert s3.head_bucket(Bucket="taken-name")["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_serve_stops_cleanly_on_sigterm() -> None:
    server = LocalAws().start()
    assert server.endpoint.startswith("http://127.0.0.1:")
    assert server.calls() == []
    server.stop()
    assert server.returncode == 0


def test_listing_versions_answers_as_before_and_leaves_every_version_whole(aws: LocalAws) -> None:
    # The listing copies versions without their bytes (moto copied them all for every page): what it answers and
    # what the bucket keeps must be exactly as without that patch.
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint)
    s3.create_bucket(Bucket="listing-bucket")
    s3.put_bucket_versioning(Bucket="listing-bucket", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="listing-bucket", Key="a.jpg", Body=b"first")
    second = s3.put_object(Bucket="listing-bucket", Key="a.jpg", Body=b"second, longer")
    s3.delete_object(Bucket="listing-bucket", Key="a.jpg")
    for _ in range(3):  # copies made by earlier listings, once collected, must not close the stored keys' bytes
        page = s3.list_object_versions(Bucket="listing-bucket", MaxKeys=1000)
        listed = [(v["VersionId"], v["ETag"], v["Size"], v["IsLatest"]) for v in page["Versions"]]
        assert listed == [(second["VersionId"], second["ETag"], 14, False),
                          (first["VersionId"], first["ETag"], 5, False)]
        assert [m["IsLatest"] for m in page["DeleteMarkers"]] == [True]
    for answer, data in ((first, b"first"), (second, b"second, longer")):
        got = s3.get_object(Bucket="listing-bucket", Key="a.jpg", VersionId=answer["VersionId"])["Body"].read()
        assert got == data
    copy = s3.copy_object(Bucket="listing-bucket", Key="b.jpg",
                          CopySource={"Bucket": "listing-bucket", "Key": "a.jpg", "VersionId": first["VersionId"]})
    assert copy["CopyObjectResult"]["ETag"] == first["ETag"]
    assert s3.get_object(Bucket="listing-bucket", Key="b.jpg")["Body"].read() == b"first"
