"""`selfheal recover` against the local AWS: a photos bucket after a mass delete, overwrites and new keys comes back as
it was at TIME — over a page holding only delete markers, with a multipart copy (threshold lowered), a rerun that
writes nothing and an undo — and bad input is one line, exit 1, zero writes.

The CLI runs as a subprocess with the operator's User-Agent (not the function's role, whose policy the autouse
fixture enforces and which has none of these permissions). In-process runs record every S3 call the code makes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.localaws import LocalAws
from selfheal.recover.decide import iso
from selfheal.recover.manifest import read
from selfheal.recover.run import BucketProblem, Request, recover, undo
from tests.support import cli
from tests.support.cli import Run, environment

pytestmark = pytest.mark.e2e

BUCKET = "galerly-photos-recover"
MIB = 1024 * 1024
BIG = 11 * MIB  # copied in 3 parts with the threshold at 8 MiB and parts of 5 MiB
SMALL_PARTS = ["--multipart-threshold", str(8 * MIB), "--part-size", str(5 * MIB)]
WRITE_OPERATIONS_ALLOWED = {"CopyObject", "DeleteObject", "CreateMultipartUpload", "UploadPartCopy",
                            "CompleteMultipartUpload", "AbortMultipartUpload", "RestoreObject"}


@pytest.fixture
def selfheal(aws: LocalAws, tmp_path: Path) -> Any:
    """`python -m selfheal ARGS` in a subprocess, from a directory of its own (the operator's User-Agent)."""
    return lambda *args: cli.selfheal(*args, env=environment(), cwd=tmp_path, timeout=300)


def body(n: int, tag: str) -> bytes:
    return (f"{tag}:{n}:".encode() * 40)[: 200 + n]


@dataclass
class Damage:
    when: datetime
    before: dict[str, bytes]  # key -> its bytes at TIME
    damaged: dict[str, bytes | None]  # key -> bytes after the damage (None: deleted)
    newer: list[str]
    versions_before_recover: set[tuple[str, str]]


def versions(s3: Any, bucket: str = BUCKET) -> set[tuple[str, str]]:
    out = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        out |= {(v["Key"], v["VersionId"]) for v in page.get("Versions", []) + page.get("DeleteMarkers", [])}
    return out


def current(s3: Any, key: str, bucket: str = BUCKET) -> bytes | None:
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchKey"
        return None


def a_moment_between() -> datetime:
    """A point in time after what was written before and before what is changed after. S3 keeps a version's time to
    the second, cut (not rounded): what was written is at or before now, and what is changed after waits for the next
    whole second, so it is later than now to the second too."""
    when = datetime.now(UTC)
    time.sleep(1.02 - when.timestamp() % 1)
    return when


def damage(s3: Any) -> Damage:
    """30 photos (tags, metadata, SSE-S3 on some) and an 11 MiB video; TIME; then a mass delete of 20 photos and the
    video, 5 overwrites, 3 new keys, and one photo deleted three times (its delete markers fill a page alone)."""
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    before = {}
    for n in range(30):
        key = f"photos/p{n:02d}.jpg"
        extra: dict[str, Any] = {"ContentType": "image/jpeg", "Metadata": {"gallery": f"g{n % 3}"}}
        if n % 2:
            extra.update(Tagging=f"owner=u{n}&kind=photo", CacheControl="max-age=86400", ServerSideEncryption="AES256")
        s3.put_object(Bucket=BUCKET, Key=key, Body=body(n, "v1"), **extra)
        before[key] = body(n, "v1")
    video = bytes(range(256)) * (BIG // 256)
    s3.put_object(Bucket=BUCKET, Key="photos/video.mp4", Body=video, ContentType="video/mp4",
                  Metadata={"camera": "x100"}, Tagging="kind=video")
    before["photos/video.mp4"] = video
    when = a_moment_between()
    damaged: dict[str, bytes | None] = dict(before)
    for n in range(20):
        s3.delete_object(Bucket=BUCKET, Key=f"photos/p{n:02d}.jpg")
        damaged[f"photos/p{n:02d}.jpg"] = None
    for n in range(20, 25):
        s3.put_object(Bucket=BUCKET, Key=f"photos/p{n:02d}.jpg", Body=b"overwritten by a bad sync")
        damaged[f"photos/p{n:02d}.jpg"] = b"overwritten by a bad sync"
    s3.delete_object(Bucket=BUCKET, Key="photos/video.mp4")
    damaged["photos/video.mp4"] = None
    for _ in range(2):  # p00 is deleted three times in all: three delete markers in a row
        s3.delete_object(Bucket=BUCKET, Key="photos/p00.jpg")
    newer = [f"photos/new{n}.jpg" for n in range(3)]
    for key in newer:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"uploaded after TIME")
        damaged[key] = b"uploaded after TIME"
    return Damage(when, before, damaged, newer, versions(s3))


def operator_writes(aws: LocalAws) -> list[dict[str, Any]]:
    return [c for c in aws.calls() if c["client"] == "operator" and c["write"]]


def test_mass_delete_and_overwrites_come_back_rerun_writes_nothing_and_undo_puts_the_damage_back(
        aws: LocalAws, s3: Any, selfheal: Any, tmp_path: Path) -> None:
    d = damage(s3)
    to = iso(d.when)
    common = ["recover", BUCKET, "--to", to, "--page-size", "2", *SMALL_PARTS]

    # GIVEN the damage, WHEN a dry run looks, THEN it counts each case, prices it and writes nothing (exit 2)
    aws.reset_calls()
    dry = selfheal(*common, "--dry-run", "--remove-newer", "--json")
    assert dry.code == 2, dry.err
    report = dry.json
    assert report["cases"] == {"as_at": 5, "copy": 26, "newer": 3, "archived": 0}
    assert report["bytes_to_copy"] == sum(len(d.before[k]) for k in d.before if d.damaged[k] != d.before[k])
    assert report["estimate"]["requests"] == {"head": 26, "copy_put_post": 25 + 3 + 2, "delete_marker": 3}
    assert report["estimate"]["request_cost_usd"] > 0 and report["estimate"]["seconds"] > 0
    assert operator_writes(aws) == [] and not list(tmp_path.glob("*.jsonl"))
    # the listing went page by page (two entries each), through a page of delete markers only
    lists = [c for c in aws.calls() if c["operation"] == "ListObjectVersions"]
    assert len(lists) > 30

    # WHEN recover runs THEN every key is as at TIME: deleted and overwritten ones copied back, newer ones marked
    aws.reset_calls()
    run = selfheal(*common, "--remove-newer", "--json")
    assert run.code == 0, run.err
    assert run.json["done"] == {"copied": 26, "marked": 3} and run.json["failed"] == []
    for key, data in d.before.items():
        assert current(s3, key) == data, key
    for key in d.newer:
        assert current(s3, key) is None
    head = s3.head_object(Bucket=BUCKET, Key="photos/p01.jpg")
    assert (head["ContentType"], head["CacheControl"], head["Metadata"], head["ServerSideEncryption"]) == (
        "image/jpeg", "max-age=86400", {"gallery": "g1"}, "AES256")
    assert s3.get_object_tagging(Bucket=BUCKET, Key="photos/p01.jpg")["TagSet"] == [
        {"Key": "owner", "Value": "u1"}, {"Key": "kind", "Value": "photo"}]
    video = s3.head_object(Bucket=BUCKET, Key="photos/video.mp4")
    assert (video["ContentType"], video["Metadata"], video["ETag"].endswith('-3"')) == ("video/mp4",
                                                                                        {"camera": "x100"}, True)
    assert s3.get_object_tagging(Bucket=BUCKET, Key="photos/video.mp4")["TagSet"] == [{"Key": "kind",
                                                                                       "Value": "video"}]
    # nothing was deleted: every version and delete marker that existed is still there
    assert d.versions_before_recover <= versions(s3)
    ops = [c["operation"] for c in operator_writes(aws)]
    # (the local AWS's log names UploadPartCopy by its HTTP shape, UploadPart)
    assert set(ops) <= WRITE_OPERATIONS_ALLOWED | {"UploadPart"} and ops.count("DeleteObject") == 3
    assert ops.count("UploadPart") == 3 and ops.count("CompleteMultipartUpload") == 1
    manifest = tmp_path / run.json["manifest"]
    entries = read(manifest).entries
    assert sorted(e.key for e in entries) == sorted(k for k in d.damaged if d.damaged[k] != d.before.get(k))

    # WHEN it runs again THEN it writes nothing (its own multipart copy is known from the manifest)
    aws.reset_calls()
    again = selfheal(*common, "--remove-newer", "--json")
    assert again.code == 0, again.err
    assert again.json["cases"] == {"as_at": 34, "copy": 0, "newer": 0, "archived": 0}
    assert operator_writes(aws) == []

    # WHEN the recovery is undone THEN the keys are as the recover found them, by copies and markers again
    versions_before_undo = versions(s3)
    aws.reset_calls()
    back = selfheal("recover", BUCKET, "--undo", str(manifest), "--json")
    assert back.code == 0, back.err
    assert back.json["done"] == {"restored": 8, "marked": 21} and back.json["changed_since"] == []
    for key, data in d.damaged.items():
        assert current(s3, key) == data, key
    assert versions_before_undo <= versions(s3)
    assert set(c["operation"] for c in operator_writes(aws)) <= WRITE_OPERATIONS_ALLOWED | {"UploadPart"}

    # and an undo run again writes nothing
    aws.reset_calls()
    assert selfheal("recover", BUCKET, "--undo", str(manifest), "--json").json["done"] == {"already": 29}
    assert operator_writes(aws) == []


def test_newer_keys_are_listed_and_left_without_remove_newer(aws: LocalAws, s3: Any, selfheal: Any) -> None:
    d = damage(s3)
    run = selfheal("recover", BUCKET, "--to", iso(d.when), "--prefix", "photos/new", "--json")
    assert run.code == 0, run.err
    assert run.json["cases"]["newer"] == 3 and run.json["newer"] == d.newer and run.json["done"] == {}
    assert all(current(s3, key) == b"uploaded after TIME" for key in d.newer)
    text = selfheal("recover", BUCKET, "--to", iso(d.when), "--prefix", "photos/new")
    assert "left alone (--remove-newer adds a delete marker)" in text.out and "photos/new0.jpg" in text.out


class Recorder:
    """Every S3 call the code makes, with its API parameters (botocore's before-parameter-build event)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.s3", self.record)

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def operator_client(aws: LocalAws) -> tuple[Any, Recorder]:
    from selfheal.aws import OPERATOR_AGENT, Clients

    client = Clients(region="us-east-1", endpoint_url=aws.endpoint, user_agent=OPERATOR_AGENT).client("s3")
    return client, Recorder(client)


def version_delete_attempts(recorder: Recorder) -> list[tuple[str, dict[str, Any]]]:
    """DeleteObject with a versionId (a version deleted for good), DeleteObjects (which can carry version ids)."""
    return [(n, p) for n, p in recorder.calls if n in ("DeleteObjects", "DeleteObjectVersion")
            or (n == "DeleteObject" and "VersionId" in p)]


def test_no_call_ever_deletes_a_version(aws: LocalAws, s3: Any, tmp_path: Path) -> None:
    d = damage(s3)
    client, recorder = operator_client(aws)
    request = Request(BUCKET, d.when, remove_newer=True, page_size=3, multipart_threshold=8 * MIB, part_size=5 * MIB)
    result = recover(client, request, "us-east-1", tmp_path / "m.jsonl")
    assert result.exit_code() == 0 and result.done == {"copied": 26, "marked": 3}
    result = undo(client, read(tmp_path / "m.jsonl"), "us-east-1", journal_path=tmp_path / "u.jsonl")
    assert result.exit_code() == 0
    names = recorder.names()
    assert {"CopyObject", "UploadPartCopy", "DeleteObject"} <= set(names)
    assert version_delete_attempts(recorder) == []
    # every DeleteObject sent names no version: it adds a delete marker on a versioned bucket (and, as every S3 call
    # of selfheal's clients, carries ExpectedBucketOwner: the bucket must be this account's)
    assert [p for n, p in recorder.calls
            if n == "DeleteObject" and set(p) != {"Bucket", "Key", "ExpectedBucketOwner"}] == []
    # and a copy's source is this account's bucket too (ExpectedSourceBucketOwner, put by the same clients)
    assert {p.get("ExpectedSourceBucketOwner") for n, p in recorder.calls
            if n in ("CopyObject", "UploadPartCopy")} == {"123456789012"}


def test_sse_kms_version_comes_back_under_its_own_key_and_bucket_encryption_skips_the_heads(
        aws: LocalAws, s3: Any, tmp_path: Path) -> None:
    key_id = boto3.client("kms", region_name="us-east-1", endpoint_url=aws.endpoint).create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="kms/secret.jpg", Body=b"kms photo", ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=key_id, Metadata={"who": "me"}, Tagging="a=1")
    s3.put_object(Bucket=BUCKET, Key="plain/a.jpg", Body=b"plain photo", Metadata={"who": "you"}, Tagging="b=2")
    when = a_moment_between()
    for key in ("kms/secret.jpg", "plain/a.jpg"):
        s3.delete_object(Bucket=BUCKET, Key=key)
    client, recorder = operator_client(aws)
    result = recover(client, Request(BUCKET, when, prefix="kms/"), "us-east-1", tmp_path / "m.jsonl")
    assert result.done == {"copied": 1}
    head = s3.head_object(Bucket=BUCKET, Key="kms/secret.jpg")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"], head["Metadata"]) == ("aws:kms", key_id, {"who": "me"})
    copy = next(p for n, p in recorder.calls if n == "CopyObject")
    assert (copy["ServerSideEncryption"], copy["SSEKMSKeyId"]) == ("aws:kms", key_id)

    # --bucket-encryption: one CopyObject per key and no HeadObject; metadata and tags still come with the copy
    recorder.calls.clear()
    fast = recover(client, Request(BUCKET, when, prefix="plain/", keep_encryption=False), "us-east-1",
                   tmp_path / "p.jsonl")
    assert fast.done == {"copied": 1} and "HeadObject" not in recorder.names()
    assert s3.head_object(Bucket=BUCKET, Key="plain/a.jpg")["Metadata"] == {"who": "you"}
    assert s3.get_object_tagging(Bucket=BUCKET, Key="plain/a.jpg")["TagSet"] == [{"Key": "b", "Value": "2"}]


def test_the_recorder_sees_a_version_delete(aws: LocalAws, s3: Any) -> None:
    # The check above could not pass by accident: a version delete through the same client is caught.
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    vid = s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")["VersionId"]
    client, recorder = operator_client(aws)
    client.delete_object(Bucket=BUCKET, Key="k", VersionId=vid)
    assert [n for n, _ in version_delete_attempts(recorder)] == ["DeleteObject"]


def test_a_failed_part_aborts_the_upload_and_leaves_the_key_as_it_was(aws: LocalAws, s3: Any, tmp_path: Path) -> None:
    d = damage(s3)
    client, recorder = operator_client(aws)
    sent = {"parts": 0}

    def fail_second_part(params: dict[str, Any], **_: Any) -> None:
        sent["parts"] += 1
        if sent["parts"] == 2:  # an injected fault: moto never fails a part copy by itself
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "UploadPartCopy")

    client.meta.events.register("before-call.s3.UploadPartCopy", fail_second_part)
    request = Request(BUCKET, d.when, prefix="photos/video", multipart_threshold=8 * MIB, part_size=5 * MIB,
                      workers=1)
    result = recover(client, request, "us-east-1", tmp_path / "m.jsonl")
    assert result.exit_code() == 1 and [k for k, _ in result.failed] == ["photos/video.mp4"]
    assert "AbortMultipartUpload" in recorder.names() and "CompleteMultipartUpload" not in recorder.names()
    assert current(s3, "photos/video.mp4") is None
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert not (tmp_path / "m.jsonl").exists()  # nothing written, nothing journaled


def test_archived_versions_are_listed_thawed_on_request_and_copied_once_thawed(aws: LocalAws, s3: Any,
                                                                              tmp_path: Path) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    cold = s3.put_object(Bucket=BUCKET, Key="old/cold.jpg", Body=b"cold photo", StorageClass="GLACIER")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="old/thawed.jpg", Body=b"thawed photo", StorageClass="GLACIER")
    s3.restore_object(Bucket=BUCKET, Key="old/thawed.jpg", RestoreRequest={"Days": 1})  # readable again at once here
    when = a_moment_between()
    s3.delete_object(Bucket=BUCKET, Key="old/cold.jpg")
    s3.delete_object(Bucket=BUCKET, Key="old/thawed.jpg")
    client, recorder = operator_client(aws)

    # GIVEN both versions at TIME in Glacier, WHEN recover runs, THEN the thawed one is copied, the other listed
    first = recover(client, Request(BUCKET, when), "us-east-1", tmp_path / "m.jsonl")
    assert (first.tally.archived, first.done, first.exit_code()) == (["old/cold.jpg", "old/thawed.jpg"],
                                                                    {"archived": 1, "copied": 1}, 2)
    assert current(s3, "old/thawed.jpg") == b"thawed photo" and "RestoreObject" not in recorder.names()

    # WHEN run with --thaw THEN RestoreObject is asked for that version, and the run says to come back later.
    # moto restores only a current version (NoSuchKey for an older one): AWS's documented answer, 202 Accepted with
    # no body, is injected for this call.
    def accepted(**_: Any) -> tuple[Any, dict[str, Any]]:
        from botocore.awsrequest import AWSResponse

        return AWSResponse("", 202, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 202}}

    client.meta.events.register("before-call.s3.RestoreObject", accepted)
    thaw = recover(client, Request(BUCKET, when, thaw=True, thaw_days=2), "us-east-1", tmp_path / "m.jsonl")
    assert (thaw.done, thaw.exit_code(), thaw.tally.counts["as_at"]) == ({"thaw_started": 1}, 2, 1), thaw.failed
    assert [p for n, p in recorder.calls if n == "RestoreObject"] == [{
        "Bucket": BUCKET, "Key": "old/cold.jpg", "VersionId": cold, "ExpectedBucketOwner": "123456789012",
        "RestoreRequest": {"Days": 2, "GlacierJobParameters": {"Tier": "Standard"}}}]
    assert s3.head_object(Bucket=BUCKET, Key="old/thawed.jpg").get("StorageClass") in (None, "STANDARD")


def test_interrupted_run_is_picked_up_by_a_rerun_that_writes_only_the_rest(aws: LocalAws, s3: Any,
                                                                           tmp_path: Path) -> None:
    from selfheal.recover.run import Progress

    d = damage(s3)

    class CtrlC(Progress):
        """Ctrl-C in the main thread once 10 keys are listed, as a person pressing it mid-run."""

        def listed(self, keys: int, actions: int, bytes_total: int) -> None:
            if keys == 10:
                raise KeyboardInterrupt

    client, recorder = operator_client(aws)
    request = Request(BUCKET, d.when, remove_newer=True, workers=2, multipart_threshold=8 * MIB, part_size=5 * MIB)
    with pytest.raises(KeyboardInterrupt):
        recover(client, request, "us-east-1", tmp_path / "m.jsonl", CtrlC())
    first = len(read(tmp_path / "m.jsonl").entries)
    first_writes = recorder.names().count("CopyObject") + recorder.names().count("DeleteObject")
    assert 0 < first < 29 and first_writes == first  # every write made is journaled, and no more were made

    recorder.calls.clear()
    rest = recover(client, request, "us-east-1", tmp_path / "m.jsonl")
    assert rest.exit_code() == 0 and rest.resumed_entries == first
    assert sum(rest.done.values()) == 29 - first  # only what the first run had not done
    for key, data in d.before.items():
        assert current(s3, key) == data, key
    recorder.calls.clear()
    assert recover(client, request, "us-east-1", tmp_path / "m.jsonl").done == {}
    assert [n for n in recorder.names() if n not in ("HeadBucket", "GetBucketVersioning", "ListObjectVersions")] == []


# --- bad input: one line, exit 1, zero writes ------------------------------------------------------------------------


def one_line_error(run: Run, *fragments: str) -> None:
    assert run.code == 1, (run.out, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("selfheal: error: "), run.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("args, fragments", [
    (["--to", "2026-12-05T09:30:00"], ["--to", "has no time zone — add one"]),
    (["--to", "2999-01-01T00:00:00Z"], ["--to", "is in the future"]),
    (["--to", "last tuesday"], ["is not a time"]),
    ([], ["--to TIME is required"]),
    (["--to", "2h", "--workers", "0"], ["--workers 0: must be 1 to 1024"]),
    (["--to", "2h", "--estate", "x.yaml"], ["unrecognized arguments: --estate"]),
])
def test_bad_arguments_are_refused_before_any_call(aws: LocalAws, selfheal: Any, args: list[str],
                                                   fragments: list[str]) -> None:
    aws.reset_calls()
    one_line_error(selfheal("recover", BUCKET, *args), *fragments)
    assert aws.calls() == []


def test_bad_buckets_and_prefixes_are_one_line_with_zero_writes(aws: LocalAws, s3: Any, selfheal: Any) -> None:
    s3.create_bucket(Bucket="never-versioned-photos")
    s3.put_object(Bucket="never-versioned-photos", Key="a.jpg", Body=b"x")
    s3.create_bucket(Bucket="suspended-photos")
    s3.put_bucket_versioning(Bucket="suspended-photos", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_versioning(Bucket="suspended-photos", VersioningConfiguration={"Status": "Suspended"})
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="photos/a.jpg", Body=b"x")
    aws.reset_calls()
    one_line_error(selfheal("recover", "no-such-photos", "--to", "1h"), "bucket no-such-photos: no such bucket")
    one_line_error(selfheal("recover", "never-versioned-photos", "--to", "1h"), "was never versioned",
                   "only from a copy elsewhere")
    one_line_error(selfheal("recover", "suspended-photos", "--to", "1h"), "versioning is Suspended",
                   "enable versioning first")
    one_line_error(selfheal("recover", BUCKET, "--to", "1h", "--prefix", "Photos/"),
                   "holds no object versions under prefix 'Photos/'", "check the prefix")
    one_line_error(selfheal("recover", "Not_A_Bucket", "--to", "1h"), "BUCKET 'Not_A_Bucket': not a bucket name")
    assert [c for c in aws.calls() if c["write"]] == []


def test_undo_of_another_bucket_or_a_damaged_manifest_is_refused(aws: LocalAws, selfheal: Any, tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"manifest": "selfheal-recover", "format": 1, "bucket": "other-photos",
                                 "to": "2026-12-05T09:30:00Z", "prefix": ""}) + "\n")
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text(other.read_text().replace("other-photos", BUCKET) + '{"key": "a", "action": "co\n')
    aws.reset_calls()
    one_line_error(selfheal("recover", BUCKET, "--undo", str(other)), "a manifest of bucket other-photos, not "
                   f"{BUCKET}")
    one_line_error(selfheal("recover", BUCKET, "--undo", str(damaged)), "line 2 is not JSON — the file is damaged")
    one_line_error(selfheal("recover", BUCKET, "--undo", str(tmp_path / "none.jsonl")), "no such file")
    one_line_error(selfheal("recover", BUCKET, "--undo", str(other), "--to", "1h"), "--to: not an option of --undo")
    assert aws.calls() == []


def test_help_lists_the_permissions(selfheal: Any) -> None:
    text = selfheal("recover", "--help").out
    for permission in ("s3:ListBucketVersions", "s3:GetObjectVersion", "s3:GetObjectVersionTagging", "s3:PutObject",
                       "s3:PutObjectTagging", "s3:DeleteObject only with --remove-newer", "s3:RestoreObject",
                       "kms:Decrypt", "never calls DeleteObjectVersion"):
        assert permission in text, permission


def test_bucket_problem_before_the_manifest_is_created(aws: LocalAws, tmp_path: Path) -> None:
    client, _ = operator_client(aws)
    with pytest.raises(BucketProblem, match="no such bucket"):
        recover(client, Request("no-such-photos", datetime.now(UTC)), "us-east-1", tmp_path / "m.jsonl")
    assert not (tmp_path / "m.jsonl").exists()


def galleries(s3: Any) -> tuple[list[str], datetime]:
    """Keys at the top, under photos/ and under three galleries, all deleted after TIME."""
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    keys = ["index.html", "photos/cover.jpg"] + [f"photos/g{g}/{n}.jpg" for g in range(3) for n in range(4)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    when = a_moment_between()
    for key in keys:
        s3.delete_object(Bucket=BUCKET, Key=key)
    return keys, when


def listings(recorder: Recorder) -> list[tuple[str, str | None]]:
    return [(p.get("Prefix"), p.get("Delimiter")) for n, p in recorder.calls if n == "ListObjectVersions"]


def test_galleries_are_listed_side_by_side_and_every_key_comes_back_once(aws: LocalAws, s3: Any,
                                                                           tmp_path: Path) -> None:
    keys, when = galleries(s3)
    client, recorder = operator_client(aws)

    # WHEN recover runs
    result = recover(client, Request(BUCKET, when), "us-east-1", tmp_path / "m.jsonl")

    # THEN the bucket and photos/ are asked for one page by "/", and each gallery is a listing of its own, whole
    assert sorted(listings(recorder), key=str) == sorted([("", "/"), ("photos/", "/"), ("photos/g0/", None),
                                                          ("photos/g1/", None), ("photos/g2/", None)], key=str)
    # AND every key was decided once and copied back once
    assert result.tally.keys == len(keys) and result.done == {"copied": len(keys)}
    assert sorted(e.key for e in read(tmp_path / "m.jsonl").entries) == sorted(keys)
    for key in keys:
        assert current(s3, key) == key.encode()


def test_a_prefix_over_a_page_or_the_budget_is_listed_whole(aws: LocalAws, s3: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from selfheal.recover import listing

    keys, when = galleries(s3)
    client, recorder = operator_client(aws)
    # GIVEN pages of 2 entries: the bucket's one page by "/" (index.html's version and marker, photos/) runs over
    recover(client, Request(BUCKET, when, page_size=2), "us-east-1", tmp_path / "a.jsonl")
    assert listings(recorder)[0] == ("", "/") and set(listings(recorder)[1:]) == {("", None)}
    # GIVEN room for 2 sub-prefix listings: photos/ and its 3 galleries do not fit, photos/ is listed whole
    monkeypatch.setattr(listing, "SPLIT_BUDGET", 2)
    recorder.calls.clear()
    result = recover(client, Request(BUCKET, when), "us-east-1", tmp_path / "b.jsonl")
    assert sorted(listings(recorder), key=str) == sorted([("", "/"), ("photos/", "/"), ("photos/", None)], key=str)
    assert result.tally.keys == len(keys) and result.done == {}  # the first run brought every key back


def test_a_listing_that_fails_stops_the_run(aws: LocalAws, s3: Any, tmp_path: Path) -> None:
    d = damage(s3)
    client, recorder = operator_client(aws)

    def deny_photos(params: dict[str, Any], **_: Any) -> None:
        if params.get("Prefix") == "photos/":  # an injected fault: one prefix this operator may not list
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "injected"}}, "ListObjectVersions")

    client.meta.events.register("before-parameter-build.s3.ListObjectVersions", deny_photos)
    with pytest.raises(ClientError, match="AccessDenied"):
        recover(client, Request(BUCKET, d.when), "us-east-1", tmp_path / "m.jsonl")
    assert [n for n in recorder.names() if n in ("CopyObject", "DeleteObject")] == []


def test_a_website_redirect_comes_back_with_its_object(aws: LocalAws, s3: Any, tmp_path: Path) -> None:
    # S3 leaves an object's website redirect out of a copy unless the request names it (CopyObject: the COPY
    # directive does not carry x-amz-website-redirect-location). moto keeps it either way, so the request is checked.
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="old-page.html", Body=b"moved", WebsiteRedirectLocation="/new-page.html")
    s3.put_object(Bucket=BUCKET, Key="plain.html", Body=b"plain")
    when = a_moment_between()
    for key in ("old-page.html", "plain.html"):
        s3.delete_object(Bucket=BUCKET, Key=key)
    client, recorder = operator_client(aws)
    assert recover(client, Request(BUCKET, when), "us-east-1", tmp_path / "m.jsonl").done == {"copied": 2}
    copies = {p["Key"]: p for n, p in recorder.calls if n == "CopyObject"}
    assert copies["old-page.html"]["WebsiteRedirectLocation"] == "/new-page.html"
    assert "WebsiteRedirectLocation" not in copies["plain.html"]
    assert s3.head_object(Bucket=BUCKET, Key="old-page.html")["WebsiteRedirectLocation"] == "/new-page.html"
