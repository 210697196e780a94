"""A declared recovery objective (`recovery: {window, rpo}`) on the local AWS, with the function role's policy enforced:
copies that fall short are a problem in plan and status; apply repairs what the estate declares (PITR, versioning)
and reports a conflict, writing nothing, where the estate or the bucket's lifecycle contradicts the window — it never
rewrites a lifecycle rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.localaws import LocalAws
from selfheal import cli
from tests.e2e.conftest import role_calls

ESTATE = """\
version: 1
tables:
  - {name: galerly-orders, hash_key: id, recovery: {window: 35d, rpo: 1h}}
buckets:
  - name: galerly-images-storage
    versioning: true
    recovery: {window: 60d, rpo: 1h}
"""
SHORT_RULE = """\
version: 1
buckets:
  - name: galerly-frontend-app
    versioning: true
    lifecycle:
      - {id: expire-old-versions, noncurrent_version_expiration_days: 1, accept_data_loss: true}
    recovery: {window: 30d, rpo: 1h}
"""


def run(aws: LocalAws, capsys: pytest.CaptureFixture[str], estate: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code = cli.main([*args, "--json", "--estate", str(estate), "--endpoint-url", aws.endpoint, "--region",
                     "us-east-1"])
    return code, json.loads(capsys.readouterr().out)


def resource(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in report["resources"] if r["name"] == name)


def writes(aws: LocalAws) -> list[str]:
    return [c["operation"] for c in role_calls(aws) if c["write"]]


def test_pitr_switched_off_is_a_problem_that_apply_repairs(
    aws: LocalAws, ddb: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estate = tmp_path / "estate.yaml"
    estate.write_text(ESTATE)
    code, report = run(aws, capsys, estate, "apply")
    assert code == 0, report
    code, report = run(aws, capsys, estate, "plan")
    assert code == 0 and all(not r["notes"] for r in report["resources"])  # PITR 35 days, versions kept: both met

    ddb.update_continuous_backups(TableName="galerly-orders",
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    aws.reset_calls()
    code, report = run(aws, capsys, estate, "plan")
    assert code == 2  # as any drift: apply would change it
    orders = resource(report, "galerly-orders")
    assert orders["outcome"] == "pending"
    said = [n for n in orders["notes"] if n.startswith("recovery objective (window 35d, rpo 1h) not met")]
    assert said and "no copy of it is kept" in said[0] and "apply switches PITR on (35 days)" in said[0], said
    assert writes(aws) == []
    code, report = run(aws, capsys, estate, "status")
    assert code == 0 and resource(report, "galerly-orders")["notes"] == orders["notes"]
    assert cli.main(["status", "--estate", str(estate), "--endpoint-url", aws.endpoint, "--region", "us-east-1"]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # rich wraps the line at the terminal's width
    assert "galerly-orders: recovery objective (window 35d, rpo 1h) not met until apply: no copy of it is kept" in shown

    code, report = run(aws, capsys, estate, "apply")
    assert code == 0
    assert resource(report, "galerly-orders")["outcome"] == "repaired"
    pitr = ddb.describe_continuous_backups(TableName="galerly-orders")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    code, report = run(aws, capsys, estate, "plan")
    assert code == 0 and resource(report, "galerly-orders")["notes"] == []


def test_a_declared_rule_that_expires_versions_before_the_window_is_a_conflict_with_no_write(
    aws: LocalAws, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estate = tmp_path / "estate.yaml"
    estate.write_text(SHORT_RULE)
    code, report = run(aws, capsys, estate, "apply")  # created as declared, rule included; the objective cannot hold
    scratch = resource(report, "galerly-frontend-app")
    assert code == 1 and scratch["outcome"] == "conflict"
    assert "its copies reach back 1d (old versions, expired after 1 days by lifecycle rule expire-old-versions)" \
        in scratch["reason"]
    assert "declare noncurrent_version_expiration_days: N or more on lifecycle rule expire-old-versions, or " \
        "window: 1d" in scratch["reason"]

    aws.reset_calls()
    code, report = run(aws, capsys, estate, "plan")
    assert code == 1 and resource(report, "galerly-frontend-app")["outcome"] == "conflict"
    code, report = run(aws, capsys, estate, "apply")
    assert code == 1 and resource(report, "galerly-frontend-app")["outcome"] == "conflict"
    assert writes(aws) == []  # nothing to repair, and the rule is never rewritten to fit the window
    rules = s3.get_bucket_lifecycle_configuration(Bucket="galerly-frontend-app")["Rules"]
    assert [r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in rules] == [1]


def test_an_undeclared_rule_shorter_than_the_window_is_a_conflict_and_left_as_it_is(
    aws: LocalAws, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estate = tmp_path / "estate.yaml"
    estate.write_text(ESTATE)
    assert run(aws, capsys, estate, "apply")[0] == 0
    # Someone keeps old versions 40 days: no finding (30 days at least), but short of the declared 60-day window.
    rule = {"ID": "tidy", "Status": "Enabled", "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 40}}
    s3.put_bucket_lifecycle_configuration(Bucket="galerly-images-storage", LifecycleConfiguration={"Rules": [rule]})

    aws.reset_calls()
    code, report = run(aws, capsys, estate, "apply")
    photos = resource(report, "galerly-images-storage")
    assert code == 1 and photos["outcome"] == "conflict"
    assert "recovery objective (window 60d, rpo 1h) not met" in photos["reason"]
    assert "lifecycle rule tidy" in photos["reason"] and "window: 40d" in photos["reason"]
    assert writes(aws) == []
    (kept,) = s3.get_bucket_lifecycle_configuration(Bucket="galerly-images-storage")["Rules"]
    assert kept["NoncurrentVersionExpiration"] == {"NoncurrentDays": 40}


def test_suspended_versioning_is_repaired_and_a_replica_is_a_copy(
    aws: LocalAws, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estate = tmp_path / "estate.yaml"
    estate.write_text(ESTATE)
    assert run(aws, capsys, estate, "apply")[0] == 0
    s3.put_bucket_versioning(Bucket="galerly-images-storage", VersioningConfiguration={"Status": "Suspended"})
    code, report = run(aws, capsys, estate, "plan")
    photos = resource(report, "galerly-images-storage")
    assert code == 2 and photos["outcome"] == "pending"
    assert any("no copy of it is kept — apply switches versioning on" in n for n in photos["notes"]), photos["notes"]
    code, report = run(aws, capsys, estate, "apply")
    assert code == 0 and resource(report, "galerly-images-storage")["outcome"] == "repaired"
    assert s3.get_bucket_versioning(Bucket="galerly-images-storage")["Status"] == "Enabled"

    s3.create_bucket(Bucket="galerly-images-replica")
    s3.put_bucket_versioning(Bucket="galerly-images-replica", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(Bucket="galerly-images-storage", ReplicationConfiguration={
        "Role": "arn:aws:iam::123456789012:role/replication",
        "Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": "arn:aws:s3:::galerly-images-replica"}}]})
    code, report = run(aws, capsys, estate, "status")
    photos = resource(report, "galerly-images-storage")
    assert code == 0 and photos["recovery"]["sources"] == ["versions", "replica"] and photos["notes"] == []


LOCKED = """\
version: 1
buckets:
  - name: galerly-images-storage
    versioning: true
    lifecycle:
      - {id: expire-old-versions, noncurrent_version_expiration_days: 7, accept_data_loss: true}
    recovery: {window: 35d, rpo: 1h}
"""


def test_an_object_lock_keeps_versions_a_short_rule_would_expire(
    aws: LocalAws, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # rich would cut the table's cells at 80 columns
    # GIVEN the photos bucket made with Object Lock, each version kept 40 days in governance mode
    s3.create_bucket(Bucket="galerly-images-storage", ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket="galerly-images-storage", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 40}}})
    estate = tmp_path / "estate.yaml"
    estate.write_text(LOCKED)
    # WHEN its declared rule expires old versions after 7 days, short of the 35-day window
    code, report = run(aws, capsys, estate, "apply")
    # THEN no version can go before 40 days: the objective holds, and the column says what the lock protects
    photos = resource(report, "galerly-images-storage")
    assert code == 0 and photos["outcome"] in ("repaired", "ok"), photos
    code, report = run(aws, capsys, estate, "plan")
    assert code == 0 and resource(report, "galerly-images-storage")["notes"] == []
    assert cli.main(["status", "--estate", str(estate), "--endpoint-url", aws.endpoint, "--region", "us-east-1"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "Object Lock (GOVERNANCE, 40 days) keeps each version from deletion" in shown
