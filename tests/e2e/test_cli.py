"""`selfheal` as a user runs it: a subprocess talking HTTP to the local AWS server, checked with plain boto3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfheal.loader import DEFAULT_ESTATE_PATH, load_estate
from tests.support import cli
from tests.support.cli import Run, environment
from tests.support.seed import SEED_BUCKETS, SEED_TABLES

pytestmark = pytest.mark.e2e

TABLES = list(SEED_TABLES)
BUCKETS = list(SEED_BUCKETS)
CONFIRM = "DELETE ALL TABLES"


@pytest.fixture
def selfheal(aws):
    """Run `python -m selfheal ARGS` with the local endpoint in the environment, stdin not a terminal."""

    def run(*args: str, endpoint_env: bool = True, estate_env: bool = True, cwd: Path | None = None) -> Run:
        env = environment()  # the tests' own Galerly estate as SELFHEAL_ESTATE, no other SELFHEAL_ variable
        if not endpoint_env:
            env.pop("AWS_ENDPOINT_URL", None)
        if not estate_env:
            env.pop("SELFHEAL_ESTATE")
        return cli.selfheal(*args, env=env, cwd=cwd)

    return run


def test_with_no_estate_named_it_refuses_to_run_and_calls_nothing(selfheal, aws, tmp_path):
    # GIVEN no --estate, no SELFHEAL_ESTATE and no ./estate.yaml: the shipped Galerly estate is never assumed
    for command in ("status", "plan", "apply"):
        aws.reset_calls()
        run = selfheal(command, estate_env=False, cwd=tmp_path)
        assert run.code == 1 and run.out == ""
        (line,) = run.err.strip().splitlines()
        assert line.startswith("selfheal: error: no estate file — pass --estate PATH, set SELFHEAL_ESTATE=PATH, "
                               "or run where ./estate.yaml is"), line
        assert aws.calls() == []
    # AND a file in the working directory, or the shipped one named, is used
    (tmp_path / "estate.yaml").write_text("tables: [{name: here-only, hash_key: id}]\n")
    here = selfheal("plan", "--json", estate_env=False, cwd=tmp_path)
    assert [r["name"] for r in json.loads(here.out)["resources"]] == ["here-only"]
    shipped = selfheal("plan", "--estate", "shipped", "--json", estate_env=False, cwd=tmp_path)
    names = [r["name"] for r in json.loads(shipped.out)["resources"]]
    assert names == [r.name for r in load_estate(DEFAULT_ESTATE_PATH, env={}).resources]  # whatever is shipped


def table_names(ddb) -> list[str]:
    return sorted(ddb.list_tables()["TableNames"])


def bucket_names(s3) -> list[str]:
    return sorted(b["Name"] for b in s3.list_buckets()["Buckets"])


def pitr_on(ddb, table: str) -> bool:
    desc = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    return desc["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def healed(selfheal, aws) -> None:
    """GIVEN the whole estate as declared, and a clean call log."""
    result = selfheal("apply")
    assert result.code == 0, result.err
    aws.reset_calls()


def test_empty_account_is_healed_once_and_then_left_alone(selfheal, aws, ddb, s3):
    status = selfheal("status")
    assert status.code == 0, status.err
    for name in TABLES + BUCKETS:
        row = next(line for line in status.out.splitlines() if f" {name} " in line)
        assert "missing" in row
    assert aws.writes() == []

    plan = selfheal("plan")
    assert plan.code == 2, plan.err
    assert aws.writes() == []

    apply = selfheal("apply", "--json")
    assert apply.code == 0, apply.err
    report = apply.json
    assert report["summary"]["checked"] == 16
    assert report["summary"]["created"] == 16
    assert [r["name"] for r in report["resources"]] == [*TABLES, *BUCKETS, "galerly-backups"]
    for r in report["resources"]:
        assert {"kind", "name", "outcome", "changes", "reason"} <= r.keys()
        assert r["outcome"] == "created"
        assert r["kind"] == ("table" if r["name"] in TABLES else "bucket" if r["name"] in BUCKETS else "backup")
        assert r["changes"] and all({"path", "from", "to"} <= c.keys() for c in r["changes"])
    assert table_names(ddb) == sorted(TABLES)
    assert bucket_names(s3) == sorted(BUCKETS)
    for name in TABLES:
        assert ddb.describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] is True
        assert pitr_on(ddb, name)

    aws.reset_calls()
    again = selfheal("apply")
    assert again.code == 0, again.err
    assert aws.calls(), "the second apply observed nothing"
    assert aws.writes() == []

    plan = selfheal("plan", "--json")
    assert plan.code == 0, plan.err
    assert plan.json["summary"]["checked"] == 16
    assert set(plan.outcomes().values()) == {"ok"}
    assert aws.writes() == []


def test_drift_is_planned_then_repaired(selfheal, aws, ddb, s3):
    healed(selfheal, aws)
    ddb.update_continuous_backups(
        TableName="galerly-billing", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    s3.put_public_access_block(
        Bucket="galerly-images-storage",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    aws.reset_calls()

    plan = selfheal("plan")
    assert plan.code == 2, plan.err
    drifted = [line for line in plan.out.splitlines() if "would change" in line]
    assert len(drifted) == 2
    assert any("galerly-billing" in line for line in drifted)
    assert any("galerly-images-storage" in line for line in drifted)
    assert aws.writes() == []

    apply = selfheal("apply", "--json")
    assert apply.code == 0, apply.err
    outcomes = apply.outcomes()
    assert outcomes.pop("galerly-billing") == outcomes.pop("galerly-images-storage") == "repaired"
    assert set(outcomes.values()) == {"ok"}
    assert {w["name"] for w in aws.writes()} == {"galerly-billing", "galerly-images-storage"}

    assert pitr_on(ddb, "galerly-billing")
    bpa = s3.get_public_access_block(Bucket="galerly-images-storage")["PublicAccessBlockConfiguration"]
    assert bpa == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert selfheal("plan").code == 0


def test_a_table_deleted_by_hand_is_restored_with_its_items(selfheal, aws, ddb):
    healed(selfheal, aws)
    ddb.put_item(TableName="galerly-users", Item={"email": {"S": "ada@example.com"}, "id": {"S": "u-1"}})
    ddb.put_item(TableName="galerly-users", Item={"email": {"S": "bob@example.com"}, "id": {"S": "u-2"}})
    ddb.update_table(TableName="galerly-users", DeletionProtectionEnabled=False)
    ddb.delete_table(TableName="galerly-users")
    assert "galerly-users" not in table_names(ddb)

    apply = selfheal("apply", "--json")
    assert apply.code == 0, apply.err
    outcomes = apply.outcomes()
    assert outcomes.pop("galerly-users") == "restored"
    assert set(outcomes.values()) == {"ok"}
    assert not any(c["operation"] == "CreateTable" for c in aws.writes())

    item = ddb.get_item(TableName="galerly-users", Key={"email": {"S": "ada@example.com"}})["Item"]
    assert item["id"] == {"S": "u-1"}
    assert ddb.scan(TableName="galerly-users", Select="COUNT")["Count"] == 2
    assert ddb.describe_table(TableName="galerly-users")["Table"]["DeletionProtectionEnabled"] is True
    assert pitr_on(ddb, "galerly-users")
    assert selfheal("plan").code == 0


def test_only_touches_the_named_resource(selfheal, aws, ddb, s3):
    apply = selfheal("apply", "--only", "galerly-users", "--json")
    assert apply.code == 0, apply.err
    assert apply.outcomes() == {"galerly-users": "created"}
    # reads are for that table too (its AWS Backup recovery points by ARN, the account id for that ARN, and the
    # AWS-managed KMS key it is encrypted with)
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/galerly-users"
    assert {c["name"] for c in aws.calls()} <= {"galerly-users", arn, None, "alias/aws/dynamodb"}
    assert {c["operation"] for c in aws.calls() if c["name"] is None} == {"GetCallerIdentity"}
    assert table_names(ddb) == ["galerly-users"]
    assert bucket_names(s3) == []
    assert aws.writes() and {w["name"] for w in aws.writes()} == {"galerly-users"}


@pytest.mark.iam_parameters(Prefix="staging", FrontendBucketName="staging-web", PhotosBucketName="staging-photos")
def test_set_overrides_build_a_staging_estate(selfheal, aws, ddb, s3):
    apply = selfheal(
        "apply",
        "--set",
        "prefix=staging",
        "--set",
        "frontend_bucket=staging-web",
        "--set",
        "photos_bucket=staging-photos",
    )
    assert apply.code == 0, apply.err
    assert table_names(ddb) == sorted(n.replace("galerly-", "staging-") for n in TABLES)
    assert bucket_names(s3) == ["staging-photos", "staging-web"]
    policy = json.loads(s3.get_bucket_policy(Bucket="staging-web")["Policy"])
    assert policy["Statement"][0]["Resource"] == "arn:aws:s3:::staging-web/*"


def test_endpoint_url_option_instead_of_the_environment(selfheal, aws, ddb):
    apply = selfheal("apply", "--only", "galerly-newsletters", "--endpoint-url", aws.endpoint, endpoint_env=False)
    assert apply.code == 0, apply.err
    assert table_names(ddb) == ["galerly-newsletters"]
    assert any(w["operation"] == "CreateTable" for w in aws.writes())


def test_delete_refuses_without_the_exact_confirmation(selfheal, aws, ddb):
    healed(selfheal, aws)

    unconfirmed = selfheal("delete")
    assert unconfirmed.code == 1
    assert 'pass --confirm "DELETE ALL TABLES"' in unconfirmed.err
    wrong = selfheal("delete", "--confirm", "delete all tables")
    assert wrong.code == 1
    assert "delete refused" in wrong.err

    assert aws.calls() == []
    assert table_names(ddb) == sorted(TABLES)


def test_delete_backs_up_then_deletes_and_apply_restores_every_table(selfheal, aws, ddb, s3):
    healed(selfheal, aws)
    for i, table in enumerate(TABLES):
        desc = ddb.describe_table(TableName=table)["Table"]
        item = {k["AttributeName"]: {"S": f"{k['AttributeName']}-{i}"} for k in desc["KeySchema"]}
        ddb.put_item(TableName=table, Item=item)
    aws.reset_calls()

    # GIVEN a fresh estate, every table protected: nothing is deleted
    refused = selfheal("delete", "--confirm", CONFIRM)
    assert refused.code == 1
    for table in TABLES:
        assert f"{table}: refused" in refused.out
    assert table_names(ddb) == sorted(TABLES)
    assert aws.writes() == []

    # WHEN protection may be lifted: each table is backed up, then deleted; buckets stay
    deleted = selfheal("delete", "--confirm", CONFIRM, "--disable-protection")
    assert deleted.code == 0, deleted.err
    assert table_names(ddb) == []
    assert bucket_names(s3) == sorted(BUCKETS)
    writes = aws.writes()
    assert {w["operation"] for w in writes} == {"CreateBackup", "UpdateTable", "DeleteTable"}
    for table in TABLES:
        line = next(line for line in deleted.out.splitlines() if line.startswith(f"{table}: deleted"))
        backup = line.split(" — backup ", 1)[1].split()[0]
        assert backup.startswith(f"{table}-before-delete-")
        summaries = ddb.list_backups(TableName=table, BackupType="USER")["BackupSummaries"]
        assert [b["BackupName"] for b in summaries] == [backup]
        assert summaries[0]["BackupStatus"] == "AVAILABLE"
        mine = [w for w in writes if w["name"] == table]
        assert [w["operation"] for w in mine] == ["CreateBackup", "UpdateTable", "DeleteTable"]
    # `delete` runs under an operator's credentials, never the function's role: keep it out of the role's IAM check
    aws.reset_calls()

    # THEN apply restores every table, with its item
    restored = selfheal("apply", "--json")
    assert restored.code == 0, restored.err
    outcomes = restored.outcomes()
    assert {t: outcomes[t] for t in TABLES} == dict.fromkeys(TABLES, "restored")
    assert {b: outcomes[b] for b in BUCKETS} == dict.fromkeys(BUCKETS, "ok")
    assert table_names(ddb) == sorted(TABLES)
    for i, table in enumerate(TABLES):
        items = ddb.scan(TableName=table)["Items"]
        assert len(items) == 1 and all(v["S"].endswith(f"-{i}") for v in items[0].values())
        assert ddb.describe_table(TableName=table)["Table"]["DeletionProtectionEnabled"] is True


def test_a_key_schema_conflict_is_reported_and_the_rest_is_healed(selfheal, aws, ddb, s3):
    ddb.create_table(
        TableName="galerly-users",
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="galerly-users", Item={"user_id": {"S": "keep-me"}})
    aws.reset_calls()

    plan = selfheal("plan", "--json")
    assert plan.code == 1, plan.err
    conflict = next(r for r in plan.json["resources"] if r["name"] == "galerly-users")
    assert conflict["outcome"] == "conflict"
    assert "key" in conflict["reason"].lower()
    assert aws.writes() == []

    apply = selfheal("apply", "--json")
    assert apply.code == 1
    outcomes = apply.outcomes()
    assert outcomes.pop("galerly-users") == "conflict"
    assert set(outcomes.values()) == {"created"} and len(outcomes) == 15
    assert apply.json["summary"]["healed"] == 15
    assert "galerly-users" not in {w["name"] for w in aws.writes()}

    desc = ddb.describe_table(TableName="galerly-users")["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "user_id", "KeyType": "HASH"}]
    assert ddb.get_item(TableName="galerly-users", Key={"user_id": {"S": "keep-me"}})["Item"]
    assert table_names(ddb) == sorted(TABLES)
    assert bucket_names(s3) == sorted(BUCKETS)
