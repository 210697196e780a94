"""AWS misbehaving in the ways it does in production, one operation of one resource at a time.

GIVEN three drifted tables holding items and the rest of the estate missing, WHEN `apply` runs while a chosen call
fails, THEN the other resources end as declared, the failed one is reported with a reason naming the call and the
fix, nothing is deleted, no item is lost, and a clean run afterwards converges to a run of 0 writes.
"""

from __future__ import annotations

import dataclasses

import pytest
from botocore.exceptions import ClientError

from selfheal.model import Outcome
from selfheal.plan.tables import create_table_params
from tests.functional.helpers import read_bucket, read_table


def creates(world, name):
    return [c for c in world.aws.calls() if c["operation"] == "CreateTable" and c["name"] == name]


# --- transient faults: retried, then the call succeeds ------------------------------------------------------------


def test_throttling_bursts_as_http_responses_are_retried_by_botocore(seeded, faults):
    # Injected at before-send: botocore's standard retry mode sees a real throttling response and retries it.
    create = faults.add("dynamodb", "CreateTable", "galerly-photos", code="ThrottlingException", times=3, at="send")
    update = faults.add("dynamodb", "UpdateTable", "galerly-newsletters", code="LimitExceededException", times=3,
                        at="send")

    report = seeded.run(clients=faults.clients())

    assert report.exit_code == 0, report.failure_reason()
    assert (create.hits, update.hits) == (3, 3)
    # Each burst stayed inside one engine call: botocore retried it, the engine saw only the success.
    assert faults.recorder.count("CreateTable", "galerly-photos") == 1
    assert [c["status"] for c in creates(seeded, "galerly-photos")] == [200]
    assert seeded.result(report, "galerly-photos").outcome is Outcome.CREATED
    assert seeded.result(report, "galerly-newsletters").outcome is Outcome.REPAIRED
    seeded.assert_healthy(report)
    seeded.assert_no_deletes(faults.recorder)
    seeded.assert_items_kept()
    seeded.converge(first_clean_run_writes=False)


def test_the_engine_retries_only_what_aws_documents_as_try_again_later_never_a_throttle_again(seeded, faults):
    # Injected at before-call: botocore never sees these, so any retry is the engine's (a kind's retry_later). A
    # concurrent table operations limit is AWS's "try again later"; a throttle is botocore's to retry, never the
    # engine's too.
    create = faults.add("dynamodb", "CreateTable", "galerly-photos", code="LimitExceededException", times=3)
    update = faults.add("dynamodb", "UpdateTable", "galerly-users", code="ThrottlingException", times=1)

    report = seeded.run(clients=faults.clients())

    assert (create.hits, update.hits) == (3, 1)
    assert faults.recorder.count("CreateTable", "galerly-photos") == 4  # 3 refused + the one that reached AWS
    assert [c["status"] for c in creates(seeded, "galerly-photos")] == [200]
    assert seeded.result(report, "galerly-photos").outcome is Outcome.CREATED
    # the throttle that reached the engine was tried once: the resource is an error the next run retries
    users = seeded.result(report, "galerly-users")
    assert users.outcome is Outcome.ERROR and "ThrottlingException" in users.reason, users.reason
    assert faults.recorder.count("UpdateTable", "galerly-users") == 1
    seeded.assert_healthy(report, except_=("galerly-users",))
    seeded.assert_no_deletes(faults.recorder)
    seeded.assert_items_kept()
    seeded.converge(first_clean_run_writes=True)


def test_5xx_errors_are_retried_by_botocore_alone_at_most_9_attempts_per_call(seeded, faults):
    # before-send 5xx: botocore retries each (max_attempts 8 = 8 retries, 9 attempts). galerly-billing gets 10 in a
    # row: one engine call, 9 attempts, an error for that table (the next run creates it), never 9 x 8 attempts.
    faults.add("dynamodb", "DescribeTable", "galerly-users", code="InternalServerError", status=500, times=2, at="send")
    faults.add("dynamodb", "CreateTable", "galerly-galleries", code="ServiceUnavailable", status=503, times=2,
               at="send")
    billing = faults.add("dynamodb", "CreateTable", "galerly-billing", code="InternalServerError", status=500,
                         times=10, at="send")
    faults.add("s3", "PutBucketPolicy", "galerly-frontend-app", code="InternalError", status=500, times=2, at="send")

    report = seeded.run(clients=faults.clients())

    assert billing.hits == 9
    assert faults.recorder.count("CreateTable", "galerly-billing") == 1
    assert creates(seeded, "galerly-billing") == []
    billing_result = seeded.result(report, "galerly-billing")
    assert billing_result.outcome is Outcome.ERROR and "InternalServerError" in billing_result.reason
    assert seeded.result(report, "galerly-frontend-app").outcome is Outcome.CREATED
    seeded.assert_healthy(report, except_=("galerly-billing",))
    seeded.assert_no_deletes(faults.recorder)
    seeded.assert_items_kept()
    seeded.converge(first_clean_run_writes=True)


def test_pitr_unavailable_right_after_create_is_retried(seeded, faults):
    # AWS refuses PITR until a new table is fully ACTIVE; moto never does, so the refusal is injected (before-call).
    pitr = faults.add("dynamodb", "UpdateContinuousBackups", "galerly-photos",
                      code="ContinuousBackupsUnavailableException", times=2)

    report = seeded.run(clients=faults.clients())

    assert report.exit_code == 0, report.failure_reason()
    assert pitr.hits == 2
    assert faults.recorder.count("UpdateContinuousBackups", "galerly-photos") == 3
    assert seeded.result(report, "galerly-photos").outcome is Outcome.CREATED
    assert "pitr" in [c.path for c in seeded.result(report, "galerly-photos").changes]
    seeded.assert_healthy(report)  # galerly-photos included: PITR on, 35 days
    seeded.assert_no_deletes(faults.recorder)
    seeded.converge(first_clean_run_writes=False)


def test_create_table_lost_to_another_run_is_success(seeded, faults):
    # Another run creates the table between our observe and our CreateTable: AWS (here moto, for real) answers
    # ResourceInUseException, which means the table is there — the engine configures it instead of failing.
    spec = next(t for t in seeded.estate.tables if t.name == "galerly-photos")
    faults.add("dynamodb", "CreateTable", "galerly-photos",
               action=lambda: seeded.ddb.create_table(**create_table_params(spec)), times=1)

    report = seeded.run(clients=faults.clients())

    assert report.exit_code == 0, report.failure_reason()
    assert [c["status"] for c in creates(seeded, "galerly-photos")] == [200, 400]  # theirs, then ours
    photos = seeded.result(report, "galerly-photos")
    assert photos.outcome is Outcome.CREATED
    assert any("another run created it first" in n for n in photos.notes), photos.notes
    seeded.assert_healthy(report)  # and PITR/TTL that the other run's CreateTable cannot set: done by this run
    seeded.assert_no_deletes(faults.recorder)
    seeded.converge(first_clean_run_writes=False)


# --- persistent faults: that resource is an error, everything else is healed ----------------------------------------


def test_access_denied_on_one_table_aspect_and_one_bucket_aspect(seeded, faults):
    # As HTTP responses (before-send): AccessDenied is not retryable, by botocore or by the engine.
    faults.add("dynamodb", "UpdateContinuousBackups", "galerly-sessions", code="AccessDeniedException", at="send",
               message="User is not authorized to perform: dynamodb:UpdateContinuousBackups")
    faults.add("s3", "PutBucketCors", "galerly-images-storage", code="AccessDenied", status=403, at="send",
               message="Access Denied")

    report = seeded.run(clients=faults.clients())

    assert report.exit_code == 1
    assert {r.name for r in report.failures()} == {"galerly-sessions", "galerly-images-storage"}
    sessions = seeded.result(report, "galerly-sessions")
    photos = seeded.result(report, "galerly-images-storage")
    assert sessions.outcome is photos.outcome is Outcome.ERROR
    for res, call in ((sessions, "update_continuous_backups"), (photos, "put_bucket_cors")):
        assert call in res.reason and "AccessDenied" in res.reason and "IAM role" in res.reason, res.reason
        assert "done before that" in res.reason, res.reason
    assert faults.recorder.count("UpdateContinuousBackups", "galerly-sessions") == 1  # no retry loop on a denial
    assert faults.recorder.count("PutBucketCors", "galerly-images-storage") == 1
    assert "galerly-sessions" in report.failure_reason()

    # The rest of each resource's repairs were still made.
    table = read_table(seeded.ddb, "galerly-sessions")
    assert table["desc"]["DeletionProtectionEnabled"] is True
    assert table["ttl"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert table["pitr"]["PointInTimeRecoveryStatus"] == "DISABLED"
    assert {c.path for c in sessions.changes} >= {"deletion_protection", "ttl"}
    bucket = read_bucket(seeded.s3, "galerly-images-storage")
    assert bucket["cors"] is None
    assert bucket["versioning"] == "Enabled" and bucket["lifecycle"] and bucket["policy"]
    assert all(bucket["bpa"].values())

    seeded.assert_healthy(report, except_=("galerly-sessions", "galerly-images-storage"))
    seeded.assert_no_deletes(faults.recorder)
    seeded.assert_items_kept()
    seeded.converge(first_clean_run_writes=True)


def test_a_failed_restore_never_creates_the_table_empty(seeded, faults):
    # GIVEN galerly-contact was deleted with PITR on: only its $DeletedTableBackup holds its items.
    contact = "galerly-contact"
    assert seeded.run(estate=seeded.estate.only((contact,))).exit_code == 0
    for i in range(3):
        seeded.ddb.put_item(TableName=contact, Item={"id": {"S": f"c{i}"}})
    seeded.ddb.update_table(TableName=contact, DeletionProtectionEnabled=False)
    seeded.ddb.delete_table(TableName=contact)
    seeded.aws.reset_calls()
    faults.add("dynamodb", "RestoreTableFromBackup", contact, code="AccessDeniedException",
               message="User is not authorized to perform: dynamodb:RestoreTableFromBackup")

    report = seeded.run(clients=faults.clients())

    res = seeded.result(report, contact)
    assert res.outcome is Outcome.ERROR and report.exit_code == 1
    # the fix names what AWS checks for a restore and that the backup is still there
    assert "restore_table_from_backup" in res.reason and "DeleteItem" in res.reason, res.reason
    assert "backup is kept" in res.reason and "not created empty" in res.reason
    assert faults.recorder.count("RestoreTableFromBackup", contact) == 1
    assert faults.recorder.count("CreateTable", contact) == 0 and creates(seeded, contact) == []
    with pytest.raises(ClientError) as missing:
        seeded.ddb.describe_table(TableName=contact)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    backups = seeded.ddb.list_backups(TableName=contact, BackupType="ALL")["BackupSummaries"]
    assert [b["BackupName"] for b in backups] == [f"{contact}$DeletedTableBackup"]
    seeded.assert_healthy(report, except_=(contact,))
    seeded.assert_no_deletes(faults.recorder)
    seeded.assert_items_kept()

    seeded.seeded_items[contact] = 3  # the clean run must bring them back: restored, not created
    healed = seeded.converge(first_clean_run_writes=True)
    assert healed.exit_code == 0


def test_unusable_kms_keys_are_errors_naming_the_key(seeded, faults):
    disabled = seeded.kms.create_key(Description="selfheal reliability: disabled")["KeyMetadata"]["KeyId"]
    seeded.kms.disable_key(KeyId=disabled)
    absent = "alias/selfheal-no-such-key"
    keyed = {"galerly-photos": disabled, "galerly-billing": absent}
    estate = seeded.estate.with_section("tables", tuple(
        dataclasses.replace(t, kms_key=keyed[t.name]) if t.name in keyed else t for t in seeded.estate.tables))

    report = seeded.run(clients=faults.clients(), estate=estate)

    assert report.exit_code == 1
    assert {r.name for r in report.failures()} == set(keyed)
    photos, billing = seeded.result(report, "galerly-photos"), seeded.result(report, "galerly-billing")
    assert photos.outcome is billing.outcome is Outcome.ERROR
    assert disabled in photos.reason and "Disabled" in photos.reason and "kms_key" in photos.reason, photos.reason
    assert absent in billing.reason and "not found" in billing.reason, billing.reason
    for name in keyed:  # never created with some other key
        assert faults.recorder.count("CreateTable", name) == 0
    seeded.assert_healthy(report, except_=tuple(keyed))
    seeded.assert_no_deletes(faults.recorder)
    seeded.assert_items_kept()
    # The fix the reason offers: the estate goes back to the AWS-managed key; the next run creates both.
    seeded.converge(first_clean_run_writes=True)
