"""What a deletion now would lose, in every report: `recovery: {recoverable_to, sources}` per resource with --json, and
the `deletion now loses` column of `selfheal status`, on the local AWS with the function role's policy enforced.

Tables: PITR's LatestRestorableDateTime (read with the table's settings, no further call); without PITR, the newest
DynamoDB backup or AWS Backup recovery point. Buckets: versioning (and the lifecycle's NoncurrentVersionExpiration);
without it, AWS Backup's recovery points of the bucket. Kinds that hold no data (AWS Backup plans) give null.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devtools.localaws import LocalAws
from selfheal import cli
from tests.e2e.conftest import heal_from_empty, role_calls

ESTATE = """\
version: 1
tables:
  - {name: galerly-pitr, hash_key: id, pitr: {enabled: true, recovery_days: 7}}
  - {name: galerly-nightly, hash_key: id, pitr: false}
  - {name: galerly-vaulted, hash_key: id, pitr: false}
  - {name: galerly-bare, hash_key: id, pitr: false}
buckets:
  - name: galerly-images-storage
    versioning: true
    lifecycle: [{id: old-versions, noncurrent_version_expiration_days: 30}]
  - name: galerly-frontend-app
"""


def run(aws: LocalAws, capsys: pytest.CaptureFixture[str], estate: Path, *args: str) -> tuple[int, str]:
    code = cli.main([*args, "--estate", str(estate), "--endpoint-url", aws.endpoint, "--region", "us-east-1"])
    return code, capsys.readouterr().out


def recovery(report: dict[str, Any]) -> dict[str, Any]:
    return {r["name"]: r["recovery"] for r in report["resources"]}


def when(value: str | None) -> datetime:
    assert value is not None and value.endswith("Z")
    return datetime.fromisoformat(value)


def test_each_resource_says_what_a_deletion_now_would_lose(
    aws: LocalAws, ddb: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # rich would wrap the table's cells at 80 columns
    estate = tmp_path / "estate.yaml"
    estate.write_text(ESTATE)
    code, out = run(aws, capsys, estate, "apply")
    assert code == 0, out
    before = datetime.now(UTC) - timedelta(seconds=5)
    ddb.create_backup(TableName="galerly-nightly", BackupName="nightly")
    aws.add_recovery_point("galerly-vaulted", vault="galerly-backups")

    aws.reset_calls()
    code, out = run(aws, capsys, estate, "status", "--json")
    assert code == 0
    found = recovery(json.loads(out))
    assert found["galerly-pitr"]["sources"] == ["pitr"]
    assert when(found["galerly-pitr"]["recoverable_to"]) >= before  # LatestRestorableDateTime: minutes ago at most
    assert found["galerly-nightly"]["sources"] == ["backup"]
    assert when(found["galerly-nightly"]["recoverable_to"]) >= before
    assert found["galerly-vaulted"]["sources"] == ["aws-backup"]
    assert found["galerly-bare"] == {"recoverable_to": None, "sources": []}
    assert found["galerly-images-storage"]["sources"] == ["versions"]
    assert found["galerly-frontend-app"] == {"recoverable_to": None, "sources": []}
    calls = role_calls(aws)
    assert [c for c in calls if c["status"] == 403] == []  # every read inside the role's policy
    # The reads it adds: ListBackups + ListRecoveryPointsByResource per table without PITR, one ListBackups of the
    # region for every PITR table (the newest backup beside PITR), GetBucketVersioning for a bucket that does not
    # declare it, ListRecoveryPointsByResource for an unversioned bucket; a versioned one's replication and lock.
    extra = sorted((c["operation"], c["name"] or "-") for c in calls
                   if c["operation"] in ("ListBackups", "ListRecoveryPointsByResource", "GetBucketVersioning"))
    assert len([c for c in extra if c[0] == "ListBackups"]) == 3 + 1
    assert len([c for c in extra if c[0] == "ListRecoveryPointsByResource"]) == 4
    # the photos bucket's own read (declared), and the frontend bucket's (not declared: read for this)
    assert len([c for c in extra if c[0] == "GetBucketVersioning"]) == 2

    code, table = run(aws, capsys, estate, "status")
    assert code == 0 and "deletion now loses" in table
    rows = {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") > 3}
    assert "nothing: any second of the last 7 days" in rows["galerly-pitr"]
    assert "(on-demand backup)" in rows["galerly-nightly"] and "data since" in rows["galerly-nightly"]
    assert "(AWS Backup recovery point)" in rows["galerly-vaulted"]
    assert "everything" in rows["galerly-bare"] and "everything" in rows["galerly-frontend-app"]
    assert "nothing: deleted objects stay as old versions for 30 days" in rows["galerly-images-storage"]


def test_the_seed_estates_healthy_pass_reads_each_copy_once(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    heal_from_empty(aws.endpoint)
    aws.reset_calls()
    code = cli.main(["apply", "--json", "--endpoint-url", aws.endpoint, "--region", "us-east-1"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert all(r["recovery"]["sources"] == ["pitr"] for r in report["resources"] if r["kind"] == "table")
    # Beside PITR (table_defaults), the newest backup: one ListBackups of the region for all 13 tables, and the
    # AWS Backup points of each table the shipped backups selection names; the photos bucket (versioned, selected)
    # reads its replication, its lock and its points; the frontend bucket (no versioning declared) its versioning
    # and its points.
    calls = role_calls(aws)
    counted = {op: [c["name"] for c in calls if c["operation"] == op] for op in (
        "ListBackups", "ListRecoveryPointsByResource", "GetBucketReplication", "GetObjectLockConfiguration")}
    assert len(counted["ListBackups"]) == 1
    assert len(counted["ListRecoveryPointsByResource"]) == 13 + 2
    assert counted["GetBucketReplication"] == counted["GetObjectLockConfiguration"] == ["galerly-images-storage"]
    assert [c for c in calls if c["write"]] == []
