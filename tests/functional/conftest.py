"""Fixtures for the engine's acceptance tests: the shipped estate and plain boto3 clients on the local AWS."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.localaws import LocalAws
from selfheal.spec import Estate
from tests.functional.helpers import REGION, shipped_estate


@pytest.fixture(scope="session")
def estate() -> Estate:
    """The estate shipped with the function: the expectations of every test derive from it."""
    return shipped_estate()


@pytest.fixture
def ddb(aws: LocalAws) -> Any:
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=aws.endpoint)


@pytest.fixture
def s3(aws: LocalAws) -> Any:
    return boto3.client("s3", region_name=REGION, endpoint_url=aws.endpoint)


@pytest.fixture
def kms(aws: LocalAws) -> Any:
    return boto3.client("kms", region_name=REGION, endpoint_url=aws.endpoint)
