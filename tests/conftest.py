"""Shared fixtures. ``aws`` gives each test a clean local AWS (see devtools/localaws.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools.localaws import LocalAws  # noqa: E402

REGION = "us-east-1"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# Session-wide fake credentials, and no profile or config file to fall back on: no test can reach a real account.
os.environ.update(FAKE_AWS_ENV)
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN"):
    os.environ.pop(_var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
# Every run the tests start (CLI, handler, engine) reads the tests' own Galerly estate, never the shipped file.
os.environ["SELFHEAL_ESTATE"] = str(ROOT / "tests" / "fixtures" / "galerly.yaml")
for _var in [v for v in os.environ if v.startswith("SELFHEAL_VAR_")]:
    os.environ.pop(_var)


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    """One local AWS server (patched moto behind a counting proxy) for the whole run."""
    with LocalAws() as server:
        yield server


@pytest.fixture
def aws(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """Empty AWS state, no recorded calls, no delay; boto3 clients made in the test talk to it."""
    local_aws.reset()
    local_aws.set_delay(0)
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws.endpoint)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    yield local_aws


@pytest.fixture
def ddb(aws: LocalAws) -> Any:
    """A plain DynamoDB client on the local AWS (the test's own: not selfheal's, not the role's)."""
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=aws.endpoint)


@pytest.fixture
def s3(aws: LocalAws) -> Any:
    """A plain S3 client on the local AWS (the test's own: not selfheal's, not the role's)."""
    return boto3.client("s3", region_name=REGION, endpoint_url=aws.endpoint)


@pytest.fixture
def kms(aws: LocalAws) -> Any:
    """A plain KMS client on the local AWS (the test's own)."""
    return boto3.client("kms", region_name=REGION, endpoint_url=aws.endpoint)
