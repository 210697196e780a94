"""A bucket's refill from its replica, bounded by the run's deadline and resumable: tested against a fake S3 client
that answers only the calls the copy makes (moto has no clock a test can move, and no objects over 5 GB)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from selfheal.apply import refill as refill_module
from selfheal.apply.executor import Deadline, Deferred, Waits
from selfheal.apply.refill import MAX_COPY_OBJECT, refill
from selfheal.model import Step


class FakeS3:
    """Buckets as {key: (size, body)}; list_objects_v2 pages of 1,000, copy_object and a multipart copy."""

    def __init__(self, buckets: dict[str, dict[str, tuple[int, str]]]) -> None:
        self.buckets = buckets
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.on_copy = lambda: None
        self.owners: list[tuple[str, str, dict[str, str]]] = []  # (operation, bucket, owner checks it was given)

    def _owner(self, operation: str, bucket: str, params: dict[str, str]) -> None:
        # Only the owner checks are taken beyond the copy's own parameters; the Clients add this account's by default.
        assert set(params) <= {"ExpectedBucketOwner", "ExpectedSourceBucketOwner"}, params
        with self.lock:
            self.owners.append((operation, bucket, dict(params)))

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        fake = self

        class Pages:
            def paginate(self, Bucket: str, **owner: str) -> Any:  # noqa: N803 - boto3's parameter name
                fake._owner("ListObjectsV2", Bucket, owner)
                keys = sorted(fake.buckets[Bucket])
                for i in range(0, max(len(keys), 1), 1000):
                    yield {"Contents": [{"Key": k, "Size": fake.buckets[Bucket][k][0]} for k in keys[i:i + 1000]]}

        return Pages()

    def _copy(self, how: str, source: dict[str, str], bucket: str, key: str) -> None:
        with self.lock:
            self.calls.append((how, key))
            self.buckets[bucket][key] = self.buckets[source["Bucket"]][source["Key"]]
        self.on_copy()

    def copy_object(self, CopySource: dict[str, str], Bucket: str, Key: str, **owner: str) -> None:  # noqa: N803
        self._owner("CopyObject", CopySource["Bucket"], owner)
        self._copy("copy_object", CopySource, Bucket, Key)

    # What recover's copier asks for an object over 5 GB: HeadObject, then a multipart upload of copied parts.
    def head_object(self, Bucket: str, Key: str, **owner: str) -> dict[str, Any]:  # noqa: N803
        self._owner("HeadObject", Bucket, owner)
        return {"ContentLength": self.buckets[Bucket][Key][0], "ServerSideEncryption": "aws:kms",
                "ContentType": "video/quicktime"}

    def create_multipart_upload(self, **params: Any) -> dict[str, str]:
        assert "ServerSideEncryption" not in params  # the target bucket's own encryption, not the replica's
        self.uploads = {"Key": params["Key"], "parts": 0, "ContentType": params.get("ContentType")}
        return {"UploadId": "u1"}

    def upload_part_copy(self, **params: Any) -> dict[str, Any]:
        self.uploads["parts"] += 1
        self.source = params["CopySource"]
        self._owner("UploadPartCopy", self.source["Bucket"], {k: v for k, v in params.items() if k.startswith("Exp")})
        return {"CopyPartResult": {"ETag": f"e{params['PartNumber']}"}}

    def complete_multipart_upload(self, Bucket: str, Key: str, **params: Any) -> dict[str, Any]:  # noqa: N803
        self._copy(f"{self.uploads['parts']} parts", self.source, Bucket, Key)
        return {}


def step(**more: str) -> Step:
    return Step("s3", "wait_refill", {"Bucket": "photos", "Source": "replica", **more})


def test_a_copy_cut_short_by_the_deadline_is_deferred_and_the_next_run_copies_only_what_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a replica of 2,500 objects and a bucket that already holds one key with other content
    replica = {f"p/{n:05d}.jpg": (n, f"photo {n}") for n in range(2500)}
    s3 = FakeS3({"replica": dict(replica), "photos": {"p/00007.jpg": (1, "uploaded since")}})
    # AND a run whose clock reaches its deadline after 1,000 copies
    now = [0.0]
    monkeypatch.setattr(refill_module, "MARGIN_SECONDS", 0.5)

    def tick() -> None:
        with s3.lock:
            now[0] += 0.01

    s3.on_copy = tick
    deadline = Deadline(10.0, clock=lambda: now[0])

    # WHEN the refill runs, THEN it stops when the time is up and says how far it got
    with pytest.raises(Deferred, match=r"copied \d+ of 2499 objects back from bucket replica"):
        refill(s3, step(), Waits(), deadline)
    first = len(s3.calls)
    assert 900 <= first <= 1000 + refill_module.COPY_WORKERS

    # WHEN the next run has time enough, THEN it copies the rest, each key once, never the key already there
    refill(s3, step(), Waits(), Deadline(None))
    copied = [key for _, key in s3.calls]
    assert len(copied) == len(set(copied)) == 2499
    assert s3.buckets["photos"]["p/00007.jpg"] == (1, "uploaded since")
    assert {k: v for k, v in s3.buckets["photos"].items() if k != "p/00007.jpg"} == \
        {k: v for k, v in replica.items() if k != "p/00007.jpg"}

    # AND a third run writes nothing
    s3.calls.clear()
    refill(s3, step(), Waits(), Deadline(None))
    assert s3.calls == []


def test_an_object_over_5_gb_is_copied_in_parts() -> None:
    s3 = FakeS3({"replica": {"big.mov": (MAX_COPY_OBJECT + 1, "big"), "small.jpg": (10, "small")}, "photos": {}})
    refill(s3, step(), Waits(), Deadline(None))
    assert sorted(s3.calls) == [("11 parts", "big.mov"), ("copy_object", "small.jpg")]  # 512 MiB parts
    assert s3.uploads["ContentType"] == "video/quicktime"


def test_a_replica_in_another_account_is_read_and_copied_only_as_that_accounts_bucket() -> None:
    # GIVEN a replica the estate says account 210987654321 owns (copy_from: {bucket, account}), one object over 5 GB
    s3 = FakeS3({"replica": {"big.mov": (MAX_COPY_OBJECT + 1, "big"), "a.jpg": (10, "a")}, "photos": {}})
    # WHEN the refill runs
    refill(s3, step(SourceOwner="210987654321"), Waits(), Deadline(None))
    # THEN every call on the replica names that owner (ExpectedBucketOwner; a copy's ExpectedSourceBucketOwner), and
    # the photos bucket's are left to the clients, which name this account
    theirs = {"ExpectedBucketOwner": "210987654321"}
    source = {"ExpectedSourceBucketOwner": "210987654321"}
    assert sorted((op, bucket, str(owner)) for op, bucket, owner in s3.owners) == sorted([
        ("ListObjectsV2", "photos", "{}"), ("ListObjectsV2", "replica", str(theirs)),
        ("CopyObject", "replica", str(source)), ("HeadObject", "replica", str(theirs)),
        *[("UploadPartCopy", "replica", str(source))] * 11])
    assert s3.buckets["photos"].keys() == {"big.mov", "a.jpg"}


def test_a_replica_of_this_account_leaves_the_owner_checks_to_the_clients() -> None:
    s3 = FakeS3({"replica": {"a.jpg": (10, "a")}, "photos": {}})
    refill(s3, step(), Waits(), Deadline(None))
    assert [owner for _, _, owner in s3.owners] == [{}, {}, {}]  # Clients put this account's on each


class FakeBackup:
    """AWS Backup's restore job as a run sees it: started once, RUNNING for as many reads as `running_for`."""

    def __init__(self, running_for: int) -> None:
        self.running_for, self.reads = running_for, 0

    def start_restore_job(self, **params: Any) -> dict[str, str]:
        return {"RestoreJobId": "job-1"}

    def describe_restore_job(self, RestoreJobId: str) -> dict[str, Any]:  # noqa: N803 - AWS's parameter name
        self.reads += 1
        return {"RestoreJobId": RestoreJobId,
                "Status": "RUNNING" if self.reads <= self.running_for else "COMPLETED", "PercentDone": "40.0%"}


def restore_step() -> Step:
    return Step("s3", "wait_refill", {"Bucket": "photos", "RecoveryPointArn": "arn:aws:backup:us-east-1:123456789012:"
                                      "recovery-point:p-1", "IamRoleArn": "arn:aws:iam::123456789012:role/restore",
                                      "Metadata": {"DestinationBucketName": "photos"}, "ResourceType": "S3"})


def test_a_run_that_does_not_wait_for_restores_reads_the_job_once_and_hands_it_over() -> None:
    backup = FakeBackup(running_for=3)
    with pytest.raises(Deferred, match="RUNNING"):
        refill(backup, restore_step(), Waits(poll_seconds=0.001, timeout_seconds=5, restores=False), Deadline(None))
    assert backup.reads == 1  # a Lambda run does not spend its time polling an hour-long job


def test_a_run_that_waits_for_restores_polls_the_job_until_it_completes() -> None:
    backup = FakeBackup(running_for=3)
    refill(backup, restore_step(), Waits(poll_seconds=0.001, timeout_seconds=5), Deadline(None))
    assert backup.reads == 4
