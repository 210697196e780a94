"""A client built from the service data parsed at build time (selfheal/servicedata.py) answers as one built from
botocore's own files: the same calls, the same answers, its waiters and paginators, against the local AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.localaws import LocalAws
from selfheal import aws, servicedata
from selfheal.aws import Clients
from selfheal.servicedata import CachedLoader

SERVICES = ("dynamodb", "s3", "sts", "kms")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("servicedata") / "botocore-data.marshal"
    servicedata.write(path, SERVICES)
    return path


def _clients(aws_: LocalAws, monkeypatch: pytest.MonkeyPatch, cache: Path | None) -> Clients:
    monkeypatch.setattr(servicedata, "CACHE", cache or Path("/nonexistent/botocore-data.marshal"))
    monkeypatch.setattr(aws, "_LOADERS", {})  # a fresh process: it chooses its loader again
    clients = Clients(session=boto3.Session(region_name="us-east-1"), endpoint_url=aws_.endpoint)
    assert isinstance(clients.core.get_component("data_loader"), CachedLoader) == (cache is not None)
    return clients


def _answers(clients: Clients) -> list[Any]:
    ddb, s3, sts, kms = (clients.client(s) for s in SERVICES)
    ddb.get_waiter("table_exists").wait(TableName="cached-table", WaiterConfig={"Delay": 0.01, "MaxAttempts": 5})
    tables = [t for page in ddb.get_paginator("list_tables").paginate() for t in page["TableNames"]]
    table = ddb.describe_table(TableName="cached-table")["Table"]
    head = s3.head_bucket(Bucket="cached-bucket")
    versions = s3.list_object_versions(Bucket="cached-bucket")
    missing = None
    try:
        ddb.describe_table(TableName="no-such-table")
    except ddb.exceptions.ResourceNotFoundException as exc:  # the modelled error class, from the model
        missing = exc.response["Error"]["Code"]
    key = kms.describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]["KeyManager"]
    return [tables, table["KeySchema"], table["TableStatus"], head["ResponseMetadata"]["HTTPStatusCode"],
            [v["Key"] for v in versions.get("Versions", [])], missing, sts.get_caller_identity()["Account"], key,
            clients.call_counts()]  # fmt: skip


def test_a_cached_client_answers_as_an_uncached_one(aws: LocalAws, ddb: Any, s3: Any, cache: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    ddb.create_table(TableName="cached-table", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    s3.create_bucket(Bucket="cached-bucket")
    s3.put_bucket_versioning(Bucket="cached-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="cached-bucket", Key="photo.jpg", Body=b"x")

    uncached = _answers(_clients(aws, monkeypatch, None))
    cached = _answers(_clients(aws, monkeypatch, cache))

    assert cached == uncached
    assert cached[0] == ["cached-table"] and cached[4] == ["photo.jpg"] and cached[5] == "ResourceNotFoundException"
