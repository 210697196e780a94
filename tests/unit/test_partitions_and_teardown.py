"""ARNs in the partition of the region (aws-cn, aws-us-gov), and `selfheal delete`'s handling of deletion protection.

The delete path is checked with a fake DynamoDB client: moto never keeps a table UPDATING after UpdateTable, and
never refuses a DeleteTable for a reason other than protection, which is what the fake plays.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from selfheal.loader import load_estate
from selfheal.plan.buckets import canonical_statement
from selfheal.spec import partition_of, preset_statement
from selfheal.teardown import _delete


@pytest.mark.parametrize(("region", "partition"), [
    ("us-east-1", "aws"), ("eu-west-3", "aws"), ("cn-north-1", "aws-cn"), ("cn-northwest-1", "aws-cn"),
    ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso"), ("us-isob-east-1", "aws-iso-b"),
])
def test_partition_of_a_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition


def test_a_bucket_in_china_gets_its_policy_arns_in_the_aws_cn_partition() -> None:
    estate = load_estate(env={}, overrides={"region": "cn-north-1"})
    site = next(b for b in estate.buckets if b.is_public)
    (public,) = [s for s in site.statements if s["Sid"] == "PublicReadGetObject"]
    assert public["Resource"] == f"arn:aws-cn:s3:::{site.name}/*"
    assert preset_statement("tls-only", "b", "aws-us-gov")["Resource"] == ["arn:aws-us-gov:s3:::b",
                                                                           "arn:aws-us-gov:s3:::b/*"]


def test_an_account_principal_is_compared_as_its_root_arn_in_the_buckets_partition() -> None:
    stmt = {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "s3:GetObject",
            "Resource": "arn:aws-cn:s3:::b/*"}
    stored = {**stmt, "Principal": {"AWS": "arn:aws-cn:iam::123456789012:root"}}
    assert canonical_statement(stmt, "aws-cn") == canonical_statement(stored, "aws-cn")
    assert canonical_statement(stmt, "aws") != canonical_statement(stored, "aws")


class FakeTable:
    """A DynamoDB client for one table: UPDATING for `updating` DescribeTable calls after an UpdateTable."""

    def __init__(self, delete_error: str | None = None, updating: int = 2) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.delete_error, self.updating, self._left = delete_error, updating, 0

    def update_table(self, **kwargs: Any) -> None:
        self.calls.append(("update_table", kwargs))
        self._left = self.updating

    def describe_table(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("describe_table", kwargs))
        status = "UPDATING" if self._left else "ACTIVE"
        self._left = max(0, self._left - 1)
        return {"Table": {"TableStatus": status}}

    def delete_table(self, **kwargs: Any) -> None:
        self.calls.append(("delete_table", kwargs))
        if self._left:
            raise ClientError({"Error": {"Code": "ResourceInUseException", "Message": "Table is being updated"}},
                              "DeleteTable")
        if self.delete_error:
            raise ClientError({"Error": {"Code": self.delete_error, "Message": "refused"}}, "DeleteTable")


def test_delete_waits_for_active_after_lifting_protection() -> None:
    client = FakeTable()
    done = _delete(client, "t", "t-before-delete", protected=True, poll=0, timeout=5)
    assert done.outcome == "deleted"
    ops = [op for op, _ in client.calls]
    assert ops == ["update_table", "describe_table", "describe_table", "describe_table", "delete_table"]


def test_a_delete_that_fails_switches_protection_back_on_and_keeps_the_backup() -> None:
    client = FakeTable(delete_error="LimitExceededException")
    done = _delete(client, "t", "t-before-delete", protected=True, poll=0, timeout=5)
    assert done.outcome == "error" and done.backup == "t-before-delete"
    assert "deletion protection switched back on" in done.reason and "backup t-before-delete kept" in done.reason
    updates = [kwargs for op, kwargs in client.calls if op == "update_table"]
    assert updates == [{"TableName": "t", "DeletionProtectionEnabled": False},
                       {"TableName": "t", "DeletionProtectionEnabled": True}]


def test_an_unprotected_table_is_deleted_without_touching_protection() -> None:
    client = FakeTable()
    assert _delete(client, "t", "b", protected=False, poll=0, timeout=5).outcome == "deleted"
    assert [op for op, _ in client.calls] == ["delete_table"]
