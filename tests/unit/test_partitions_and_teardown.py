"""ARNs in the partition of the region (aws-cn, aws-us-gov), and `selfheal delete`'s handling of deletion protection.

The delete path is checked with botocore's Stubber on a real DynamoDB client: moto never keeps a table UPDATING after
UpdateTable, and never refuses a DeleteTable for a reason other than protection, which is what the queued answers
play.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from selfheal.apply import Waits
from selfheal.kinds.tables import TableKind
from selfheal.loader import load_estate
from selfheal.plan.buckets import canonical_statement
from selfheal.spec import partition_of, preset_statement
from selfheal.teardown import confirmation, deletable, doomed
from tests.support.estates import GALERLY


@pytest.mark.parametrize(("region", "partition"), [
    ("us-east-1", "aws"), ("eu-west-3", "aws"), ("cn-north-1", "aws-cn"), ("cn-northwest-1", "aws-cn"),
    ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso"), ("us-isob-east-1", "aws-iso-b"),
])
def test_partition_of_a_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition


def test_a_bucket_in_china_gets_its_policy_arns_in_the_aws_cn_partition() -> None:
    estate = load_estate(GALERLY, env={}, overrides={"region": "cn-north-1"})
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


def stubbed() -> tuple[Any, Stubber]:
    """A real DynamoDB client whose answers are queued (botocore's Stubber checks each against the API's shapes)."""
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    return client, Stubber(client)


def described(stubber: Stubber, *statuses: str) -> None:
    for status in statuses:
        stubber.add_response("describe_table", {"Table": {"TableStatus": status}}, {"TableName": "t"})


WAITS = Waits(poll_seconds=0, timeout_seconds=5)


def test_delete_waits_for_active_after_lifting_protection() -> None:
    client, stubber = stubbed()
    stubber.add_response("update_table", {}, {"TableName": "t", "DeletionProtectionEnabled": False})
    described(stubber, "UPDATING", "UPDATING", "ACTIVE")  # botocore's table_exists waiter, until ACTIVE
    stubber.add_response("delete_table", {}, {"TableName": "t"})
    with stubber:
        done = TableKind()._delete_table(client, "t", "t-before-delete", True, WAITS)
        stubber.assert_no_pending_responses()
    assert done.outcome == "deleted"


def test_a_delete_that_fails_switches_protection_back_on_and_keeps_the_backup() -> None:
    client, stubber = stubbed()
    stubber.add_response("update_table", {}, {"TableName": "t", "DeletionProtectionEnabled": False})
    described(stubber, "UPDATING", "ACTIVE")
    stubber.add_client_error("delete_table", "LimitExceededException", "refused", expected_params={"TableName": "t"})
    described(stubber, "ACTIVE")
    stubber.add_response("update_table", {}, {"TableName": "t", "DeletionProtectionEnabled": True})
    with stubber:
        done = TableKind()._delete_table(client, "t", "t-before-delete", True, WAITS)
        stubber.assert_no_pending_responses()
    assert done.outcome == "error" and done.backup == "t-before-delete"
    assert "deletion protection switched back on" in done.reason and "backup t-before-delete kept" in done.reason


def test_a_table_that_never_gets_active_is_not_deleted_and_says_so() -> None:
    client, stubber = stubbed()
    stubber.add_response("update_table", {}, {"TableName": "t", "DeletionProtectionEnabled": False})
    described(stubber, *["UPDATING"] * 4)  # two looks before the delete, two before protection goes back on
    with stubber:
        done = TableKind()._delete_table(client, "t", "b", True, Waits(poll_seconds=0.01, timeout_seconds=0.02))
        stubber.assert_no_pending_responses()
    assert done.outcome == "error"
    assert done.reason.startswith("table t not ACTIVE after 0s — the table was not deleted (backup b kept)")
    assert "switching deletion protection back on failed too: table t not ACTIVE" in done.reason


def test_an_unprotected_table_is_deleted_without_touching_protection() -> None:
    client, stubber = stubbed()
    stubber.add_response("delete_table", {}, {"TableName": "t"})
    with stubber:
        assert TableKind()._delete_table(client, "t", "b", False, WAITS).outcome == "deleted"
        stubber.assert_no_pending_responses()


def test_only_kinds_that_say_so_are_deleted_and_the_confirmation_names_them() -> None:
    estate = load_estate(GALERLY, env={})
    assert [k.name for k in deletable()] == ["table"]
    assert confirmation() == "DELETE ALL TABLES"
    assert {s.kind for s in doomed(estate)} == {"table"} and len(doomed(estate)) == len(estate.tables)
