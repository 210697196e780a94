"""End-to-end fixtures: the function role's policy (template.yaml) is enforced on every call selfheal makes.

The local AWS answers AccessDenied, as AWS would, to any call of selfheal's clients (User-Agent "selfheal") that the
role does not allow, including the permissions AWS implies for an operation (devtools/iam.py). The operator-only
`selfheal delete` (User-Agent "selfheal-operator") and the tests' own setup calls are not the role and pass.
A test whose stack is deployed with other parameters says so: `@pytest.mark.iam_parameters(Prefix="staging")`.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.localaws import LocalAws
from selfheal.aws import Clients
from selfheal.engine import Engine
from selfheal.loader import load_estate
from tests.support.enforce import enforce_template_policy
from tests.support.estates import GALERLY


@pytest.fixture(autouse=True)
def enforce_role_policy(request: pytest.FixtureRequest) -> None:
    enforce_template_policy(request)


@pytest.fixture
def enforced(aws: LocalAws) -> LocalAws:
    """The local AWS with the role's policy enforced (the autouse fixture above has turned it on)."""
    return aws


def heal_from_empty(endpoint: str) -> None:
    """The shipped estate built on an empty account by the engine (as the role), instantly: the clock is still 0."""
    clients = Clients(session=boto3.Session(region_name="us-east-1"), endpoint_url=endpoint)
    report = Engine(load_estate(GALERLY, env={}), clients).apply()
    assert report.exit_code == 0, [r.to_dict() for r in report.results if r.outcome.value not in ("created", "ok")]


def put_items(ddb: Any, table: str, count: int) -> None:
    """`count` photo items, written 25 at a time (BatchWriteItem's limit) by the test, not the role."""
    items = [{"gallery_id": {"S": f"g-{n % 7}"}, "id": {"S": f"photo-{n:05d}"}, "user_id": {"S": f"u-{n % 13}"},
              "created_at": {"S": f"2026-11-{n % 28 + 1:02d}T10:00:00Z"}} for n in range(count)]
    for i in range(0, count, 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}} for item in items[i:i + 25]]})
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == count


def role_calls(aws: LocalAws) -> list[dict[str, Any]]:
    """The calls the function role made since the last reset of the call log."""
    return [c for c in aws.calls() if c.get("client") == "selfheal"]
