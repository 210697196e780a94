"""A deleted bucket is refilled from its copy, end to end, with the function role's policy (template.yaml) enforced on
every call the engine makes: from a replica bucket (objects copied back, never overwriting), and from an AWS Backup
recovery point (a restore job into the recreated bucket, on the local AWS's clock)."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from devtools import followups
from devtools.localaws import LocalAws, other_account_session
from selfheal.aws import Clients
from selfheal.engine import Engine, Options
from selfheal.loader import load_estate
from selfheal.spec import Estate
from tests.e2e.conftest import heal_from_empty, role_calls
from tests.support.estates import GALERLY

pytestmark = [pytest.mark.e2e]

PHOTOS = "galerly-images-storage"
REPLICA = "galerly-images-replica"
ACCOUNT, BACKUP_ACCOUNT = "123456789012", "222222222222"  # the stack's, and a backup account holding the replica


def estate_with(tmp_path: Path, copy_from: Any, wait_seconds: float | None = None) -> Estate:
    """The tests' Galerly estate, its photos bucket declaring `copy_from` (and AWS's slow work waited for at most
    `wait_seconds`)."""
    raw = yaml.safe_load(GALERLY.read_text(encoding="utf-8"))
    photos = next(b for b in raw["buckets"] if b["name"] == "${photos_bucket}")
    photos["copy_from"] = copy_from
    if wait_seconds is not None:
        raw["settings"]["wait_timeout_seconds"] = wait_seconds
    path = tmp_path / "estate.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_estate(path, env={})


def role_engine(aws: LocalAws, estate: Estate, owners: list[tuple[str, str, dict[str, str]]] | None = None,
                **options: Any) -> Engine:
    """The engine as the role; `owners` collects (operation, bucket, owner headers) of every S3 call it sends."""
    session = boto3.Session(region_name="us-east-1")
    if owners is not None:
        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            headers = {k.lower(): str(v) for k, v in params["headers"].items()}
            bucket = urllib.parse.urlsplit(params["url"]).path.lstrip("/").split("/")[0]  # path-style on a local host
            checks = {k: v for k, v in headers.items() if k.endswith("expected-bucket-owner")}
            owners.append((model.name, bucket, checks))

        session.events.register("before-call.s3", record)
    clients = Clients(session=session, endpoint_url=aws.endpoint)
    return Engine(estate, clients, Options(poll_seconds=0.1, retry_base_seconds=0.01, **options))


def backup_account_replica(aws: LocalAws, readers: str) -> Any:
    """REPLICA made by the backup account, its policy letting `readers` (an account) in. The local AWS lets another
    account in only on an Allow of s3:* without a Condition (AWS would take a read-only grant too)."""
    theirs = other_account_session(aws.endpoint, BACKUP_ACCOUNT).client("s3", endpoint_url=aws.endpoint)
    theirs.create_bucket(Bucket=REPLICA)
    theirs.put_bucket_policy(Bucket=REPLICA, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "TheStackReadsItsCopy", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{readers}:root"},
         "Action": "s3:*", "Resource": [f"arn:aws:s3:::{REPLICA}", f"arn:aws:s3:::{REPLICA}/*"]}]}))
    return theirs


def put_photos(s3: Any, bucket: str, count: int) -> dict[str, bytes]:
    bodies = {f"gallery-{n % 5}/photo-{n:04d}.jpg": f"photo {n} ".encode() * (n % 7 + 1) for n in range(count)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")
    return bodies


def delete_bucket(s3: Any, bucket: str) -> None:
    """What the accident does: every version gone, then the bucket (the test's own calls, not the role's)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=bucket)


def contents(s3: Any, bucket: str) -> dict[str, bytes]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def photos_result(report: Any) -> Any:
    return next(r for r in report.results if r.name == PHOTOS)


@pytest.mark.iam_parameters(PhotosCopyBucketName=REPLICA)
def test_a_deleted_bucket_comes_back_with_its_objects_from_the_replica(enforced: LocalAws, s3: Any,
                                                                       tmp_path: Path) -> None:
    aws = enforced
    # GIVEN a healthy estate whose photos bucket holds 120 photos, also kept in a replica bucket
    heal_from_empty(aws.endpoint)
    s3.create_bucket(Bucket=REPLICA)
    photos = put_photos(s3, REPLICA, 120)
    estate = estate_with(tmp_path, {"bucket": REPLICA})
    # WHEN the photos bucket is deleted with every object, and the engine (as the role) heals the estate
    delete_bucket(s3, PHOTOS)
    aws.reset_calls()
    report = role_engine(aws, estate).apply()

    # THEN the bucket is back, configured, and holds every photo: restored, not "created" and empty
    result = photos_result(report)
    assert result.outcome.value == "restored", result.reason[:600]
    assert f"copied back from bucket {REPLICA}" in result.reason
    assert contents(s3, PHOTOS) == photos
    assert s3.get_bucket_versioning(Bucket=PHOTOS)["Status"] == "Enabled"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=PHOTOS)["TagSet"]}
    assert "selfheal:refill" not in tags and tags["managed-by"] == "selfheal"  # the marker went once it was done
    calls = role_calls(aws)
    ops = [c["operation"] for c in calls]
    assert ops.count("CopyObject") == 120
    assert not [c for c in calls if c.get("status", 200) == 403], "the role's policy allowed every call"
    assert not {"DeleteObject", "DeleteObjects", "PutObject"} & set(ops)  # copies only: nothing deleted or written over
    head = s3.head_object(Bucket=PHOTOS, Key="gallery-0/photo-0000.jpg")
    assert head["ContentType"] == "image/jpeg"

    # AND a second run finds nothing to do: no object copied again
    aws.reset_calls()
    again = photos_result(role_engine(aws, estate).apply())
    assert again.outcome.value == "ok", again.to_dict()
    assert "CopyObject" not in [c["operation"] for c in role_calls(aws)]
    # and its recovery names the replica beside its versions: a deletion now would be refilled from there
    assert again.recovery is not None and again.recovery.sources == ("versions", "replica")


@pytest.mark.iam_parameters(PhotosCopyBucketName=REPLICA)
def test_a_refill_cut_short_is_restoring_and_the_next_run_copies_only_what_is_missing(enforced: LocalAws, s3: Any,
                                                                                       tmp_path: Path) -> None:
    aws = enforced
    # GIVEN the photos bucket recreated and marked for a refill from its replica, 60 photos of which one run copied
    # 20, and a key written meanwhile with other content
    heal_from_empty(aws.endpoint)
    s3.create_bucket(Bucket=REPLICA)
    photos = put_photos(s3, REPLICA, 60)
    for key in sorted(photos)[:20]:
        s3.copy_object(CopySource={"Bucket": REPLICA, "Key": key}, Bucket=PHOTOS, Key=key)
    newer = sorted(photos)[-1]
    s3.put_object(Bucket=PHOTOS, Key=newer, Body=b"uploaded after the accident")
    s3.put_bucket_tagging(Bucket=PHOTOS, Tagging={"TagSet": [
        {"Key": "app", "Value": "galerly"}, {"Key": "managed-by", "Value": "selfheal"},
        {"Key": "selfheal:refill", "Value": f"bucket:{REPLICA}"}]})
    estate = estate_with(tmp_path, {"bucket": REPLICA})

    # WHEN `status` looks, THEN the bucket is restoring, not healthy
    looked = photos_result(role_engine(aws, estate).status())
    assert looked.outcome.value in ("restoring", "pending"), looked.to_dict()

    # WHEN the follow-up runs (the Lambda: restores not waited for)
    aws.reset_calls()
    result = photos_result(role_engine(aws, estate, trigger="followup", wait_for_restores=False).apply())

    # THEN only the 39 missing photos were copied, the newer upload kept, and the refill is over
    assert result.outcome.value == "restored", result.reason[:600]
    assert [c["operation"] for c in role_calls(aws)].count("CopyObject") == 39
    now = contents(s3, PHOTOS)
    assert now[newer] == b"uploaded after the accident"
    assert {k: v for k, v in now.items() if k != newer} == {k: v for k, v in photos.items() if k != newer}


def test_a_deleted_bucket_comes_back_from_its_aws_backup_recovery_point(enforced: LocalAws, s3: Any,
                                                                        tmp_path: Path) -> None:
    aws = enforced
    # GIVEN a photos bucket with 40 photos in an AWS Backup recovery point, a restore that takes 4 s, and runs that
    # wait 1 s at most for AWS's slow work
    heal_from_empty(aws.endpoint)
    photos = put_photos(s3, PHOTOS, 40)
    point = aws.add_bucket_recovery_point(PHOTOS)
    delete_bucket(s3, PHOTOS)
    aws.set_clock(restore=4)
    estate = estate_with(tmp_path, "aws-backup", wait_seconds=1)
    aws.reset_calls()

    # WHEN the scheduled run (as the role, restores not waited for) recreates the bucket
    first = photos_result(role_engine(aws, estate, trigger="schedule", wait_for_restores=False,
                                      restore_role=followups.RESTORE_ROLE).apply())

    # THEN it is restoring, from that point, with the bucket configured and not yet holding the photos
    assert first.outcome.value == "restoring", first.reason[:700]
    assert point in first.reason
    assert s3.get_bucket_versioning(Bucket=PHOTOS)["Status"] == "Enabled"
    starts = [c for c in role_calls(aws) if c["operation"] == "StartRestoreJob"]
    assert len(starts) == 1

    # WHEN the follow-up runs once the job is done, THEN it finds the same job (no second restore) and the photos are
    # back (AWS's clock moved on past the job's 4 s, no wall-clock wait)
    aws.advance_clock(4.5)
    aws.reset_calls()
    second = photos_result(role_engine(aws, estate, trigger="followup", wait_for_restores=False,
                                       restore_role=followups.RESTORE_ROLE).apply())
    assert second.outcome.value == "restored", second.reason[:700]
    assert contents(s3, PHOTOS) == photos
    tags = {t["Key"] for t in s3.get_bucket_tagging(Bucket=PHOTOS)["TagSet"]}
    assert "selfheal:refill" not in tags


def test_a_refill_from_aws_backup_never_writes_over_an_object_put_into_the_recreated_bucket(
        enforced: LocalAws, s3: Any, tmp_path: Path) -> None:
    aws = enforced
    # GIVEN the photos bucket deleted, its 20 photos in an AWS Backup recovery point, and a restore that takes 3 s
    heal_from_empty(aws.endpoint)
    photos = put_photos(s3, PHOTOS, 20)
    aws.add_bucket_recovery_point(PHOTOS)
    delete_bucket(s3, PHOTOS)
    aws.set_clock(restore=3)
    estate = estate_with(tmp_path, "aws-backup", wait_seconds=0.5)
    engine = role_engine(aws, estate, trigger="schedule", wait_for_restores=False, restore_role=followups.RESTORE_ROLE)
    assert photos_result(engine.apply()).outcome.value == "restoring"
    # WHEN the app uploads a photo under a key the point also holds, while the restore job runs
    newer = sorted(photos)[3]
    s3.put_object(Bucket=PHOTOS, Key=newer, Body=b"uploaded while the restore ran")
    aws.advance_clock(3.5)  # the job done on AWS's clock
    result = photos_result(role_engine(aws, estate, trigger="followup", wait_for_restores=False,
                                       restore_role=followups.RESTORE_ROLE).apply())
    # THEN the restore brought back every other photo and left that one as the app wrote it (one version: never
    # put over it)
    assert result.outcome.value == "restored", result.reason[:700]
    now = contents(s3, PHOTOS)
    assert now[newer] == b"uploaded while the restore ran"
    assert {k: v for k, v in now.items() if k != newer} == {k: v for k, v in photos.items() if k != newer}
    assert len(s3.list_object_versions(Bucket=PHOTOS, Prefix=newer).get("Versions", [])) == 1


def test_without_a_copy_the_result_says_the_objects_are_gone(enforced: LocalAws, s3: Any) -> None:
    aws = enforced
    heal_from_empty(aws.endpoint)
    put_photos(s3, PHOTOS, 3)
    delete_bucket(s3, PHOTOS)
    result = photos_result(role_engine(aws, load_estate(GALERLY, env={})).apply())
    assert result.outcome.value == "created"
    assert any(n.startswith("recreated empty: the objects it held are gone") and "copy_from" in n
               for n in result.notes), result.notes


@pytest.mark.iam_parameters(PhotosCopyBucketName=REPLICA)
def test_a_replica_in_another_region_is_one_line_and_no_write(enforced: LocalAws, s3: Any, tmp_path: Path) -> None:
    aws = enforced
    heal_from_empty(aws.endpoint)
    s3.create_bucket(Bucket=REPLICA, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    delete_bucket(s3, PHOTOS)
    aws.reset_calls()
    report = role_engine(aws, estate_with(tmp_path, {"bucket": REPLICA})).apply()
    result = photos_result(report)
    assert result.outcome.value == "error" and report.exit_code == 1
    assert result.reason == (f"copy_from: bucket {REPLICA} is in eu-west-1, this bucket in us-east-1 — name a copy in "
                             "us-east-1 (a refill copies within one region, as AWS Backup restores do)")
    assert not [c for c in role_calls(aws) if c["write"] and c.get("name") == PHOTOS]


@pytest.mark.iam_parameters(PhotosCopyBucketName=REPLICA, PhotosCopyBucketAccount=BACKUP_ACCOUNT)
def test_a_replica_in_a_backup_account_refills_the_bucket_and_every_call_names_its_owner(
        enforced: LocalAws, s3: Any, tmp_path: Path) -> None:
    aws = enforced
    # GIVEN the photos' replica in a backup account (copy_from: {bucket, account}) that lets this account read it
    heal_from_empty(aws.endpoint)
    theirs = backup_account_replica(aws, ACCOUNT)
    photos = put_photos(theirs, REPLICA, 30)
    estate = estate_with(tmp_path, {"bucket": REPLICA, "account": BACKUP_ACCOUNT})
    # WHEN the photos bucket is deleted and the engine, as the role (its replica statement on that account), heals
    delete_bucket(s3, PHOTOS)
    aws.reset_calls()
    owners: list[tuple[str, str, dict[str, str]]] = []
    result = photos_result(role_engine(aws, estate, owners).apply())

    # THEN the photos are back, copied from the backup account's bucket
    assert result.outcome.value == "restored", result.reason[:600]
    assert contents(s3, PHOTOS) == photos
    assert not [c for c in role_calls(aws) if c.get("status", 200) == 403], "the role's policy allowed every call"
    # AND every call on the replica expected its declared owner; every copy into the photos bucket expected this
    # account as the destination's owner and the backup account as the source's
    on_replica = [(op, h) for op, bucket, h in owners if bucket == REPLICA]
    assert {op for op, _ in on_replica} == {"HeadBucket", "ListObjectsV2"}
    assert all(h == {"x-amz-expected-bucket-owner": BACKUP_ACCOUNT} for _, h in on_replica)
    copies = [h for op, bucket, h in owners if op == "CopyObject"]
    assert len(copies) == 30 and all(h == {"x-amz-expected-bucket-owner": ACCOUNT,
                                           "x-amz-source-expected-bucket-owner": BACKUP_ACCOUNT} for h in copies)
    # (CreateBucket takes no ExpectedBucketOwner: it makes this account's bucket or fails)
    assert {op for op, bucket, h in owners if bucket == PHOTOS and h.get("x-amz-expected-bucket-owner") != ACCOUNT} \
        == {"CreateBucket"}


@pytest.mark.iam_parameters(PhotosCopyBucketName=REPLICA)
def test_a_replica_owned_by_another_account_than_declared_is_an_error_with_no_write(
        enforced: LocalAws, s3: Any, tmp_path: Path) -> None:
    aws = enforced
    # GIVEN copy_from names a replica of this account (no `account`), but another account holds that name and its
    # policy lets this account in (a squatted replica name would hand the bucket someone else's objects)
    heal_from_empty(aws.endpoint)
    theirs = backup_account_replica(aws, ACCOUNT)
    put_photos(theirs, REPLICA, 3)
    delete_bucket(s3, PHOTOS)
    aws.reset_calls()
    # WHEN the engine heals, THEN HeadBucket on the replica answers 403 (ExpectedBucketOwner: this account), the photos
    # bucket is an error naming the copy, and nothing is written to either bucket
    report = role_engine(aws, estate_with(tmp_path, {"bucket": REPLICA})).apply()
    result = photos_result(report)
    assert result.outcome.value == "error" and report.exit_code == 1, result.to_dict()
    assert result.reason.startswith("copy_from: ") and REPLICA in result.reason, result.reason
    assert [c["status"] for c in role_calls(aws) if c["operation"] == "HeadBucket" and c["name"] == REPLICA] == [403]
    assert not [c for c in role_calls(aws) if c["write"] and c.get("name") in (PHOTOS, REPLICA)]
