"""Plan is pure: given a spec and a normalized state it lists the exact AWS writes, or the conflicts. No AWS here."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from selfheal.loader import load_estate
from selfheal.observe.tables import normalize_table
from selfheal.plan import plan_bucket, plan_table
from selfheal.plan.buckets import canonical_statement, cors_rule, is_public_statement, lifecycle_rule
from selfheal.spec import BPA_FLAGS, KeyAttr
from selfheal.state.account import AccountFacts, KeyInfo
from selfheal.state.buckets import BucketState, declared_aspects
from selfheal.state.tables import Backup, IndexState, TableState
from tests.support.estates import GALERLY

ESTATE = load_estate(GALERLY, env={})
TABLES = {t.name: t for t in ESTATE.tables}
BUCKETS = {b.name: b for b in ESTATE.buckets}
MANAGED = KeyInfo("arn:aws:kms:us-east-1:123456789012:key/managed", True)


def healthy_table(name: str) -> TableState:
    """The state a table has when it is exactly as declared."""
    spec = TABLES[name]
    return TableState(
        name=name, exists=True, status="ACTIVE", arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}",
        hash_key=spec.hash_key, range_key=spec.range_key,
        gsis=tuple(IndexState(g.name, g.hash_key, g.range_key, g.projection) for g in spec.gsis),
        billing=spec.billing, sse_type="KMS", kms_key_arn=MANAGED.arn, deletion_protection=True, stream=spec.stream,
        pitr=True, recovery_days=35, ttl_attribute=spec.ttl, ttl_status="ENABLED" if spec.ttl else "DISABLED",
        tags=spec.tags,
    )


def healthy_bucket(name: str) -> BucketState:
    spec = BUCKETS[name]
    aspects = {
        "public_access_block": spec.bpa, "object_ownership": spec.object_ownership,
        "encryption": {"algorithm": spec.encryption, "kms_key": None, "bucket_key": False},
        "versioning": "Enabled" if spec.versioning else None,
        "website": {"IndexDocument": {"Suffix": spec.website.index_document},
                    "ErrorDocument": {"Key": spec.website.error_document}} if spec.website else None,
        "policy": {"Version": "2012-10-17", "Statement": spec.statements},
        "cors": [cors_rule(r, i) for i, r in enumerate(spec.cors)],
        "lifecycle": {"rules": [lifecycle_rule(r) for r in spec.lifecycle]},
        "tags": dict(spec.tags),
        "notifications": {"EventBridgeConfiguration": {}} if spec.mass_delete else None,
    }
    return BucketState(name, True, region="us-east-1", aspects={a: aspects[a] for a in declared_aspects(spec)})


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_healthy_table_plans_nothing(name):
    plan = plan_table(TABLES[name], healthy_table(name), MANAGED)
    assert plan.in_sync, plan


@pytest.mark.parametrize("name", sorted(BUCKETS))
def test_a_healthy_bucket_plans_nothing(name):
    plan = plan_bucket(BUCKETS[name], healthy_bucket(name), AccountFacts())
    assert plan.in_sync, plan


def test_missing_table_with_a_deleted_table_backup_is_restored_with_declared_billing_and_sse():
    spec = TABLES["galerly-photos"]
    older_user = Backup("arn:b1", "manual", "USER", datetime(2026, 1, 2, tzinfo=UTC))
    system = Backup("arn:sys", "galerly-photos$DeletedTableBackup", "SYSTEM", datetime(2026, 1, 1, tzinfo=UTC))
    # the observer ranks the SYSTEM backup first; plan takes the first
    plan = plan_table(spec, TableState("galerly-photos", False, backups=(system, older_user)))
    (step,) = plan.steps
    assert step.operation == "restore_table_from_backup"
    assert step.params["BackupArn"] == "arn:sys"
    assert step.params["BillingModeOverride"] == "PAY_PER_REQUEST"
    assert step.params["SSESpecificationOverride"] == {"Enabled": True, "SSEType": "KMS"}
    assert plan.then_reconcile
    # what a restore does not carry is predicted as follow-up changes
    assert {c.path for c in plan.predicted} >= {"deletion_protection", "pitr", "tags.app"}


def test_missing_table_without_backup_is_created_with_everything_create_table_can_carry():
    spec = TABLES["galerly-sessions"]
    plan = plan_table(spec, TableState("galerly-sessions", False))
    (step,) = plan.steps
    assert step.operation == "create_table"
    p = step.params
    assert p["KeySchema"] == [{"AttributeName": "token", "KeyType": "HASH"}]
    assert p["DeletionProtectionEnabled"] is True and p["BillingMode"] == "PAY_PER_REQUEST"
    assert [g["IndexName"] for g in p["GlobalSecondaryIndexes"]] == ["UserSessionsIndex"]
    assert {"Key": "app", "Value": "galerly"} in p["Tags"]
    assert step.changes[0].new == "created (no backup found)"
    # PITR and TTL cannot be given to CreateTable: they follow
    assert {c.path for c in plan.predicted} == {"pitr", "ttl"}


def test_restore_never_creates_even_when_a_backup_exists():
    spec = replace(TABLES["galerly-users"], restore=False)
    backup = Backup("arn:b", "x", "USER", None)
    plan = plan_table(spec, TableState("galerly-users", False, backups=(backup,)))
    assert plan.steps[0].operation == "create_table"
    assert plan.steps[0].changes[0].new == "created (restore: never)"


def test_a_different_key_schema_is_a_conflict_and_nothing_is_touched():
    spec = TABLES["galerly-users"]
    state = replace(healthy_table("galerly-users"), hash_key=KeyAttr("id", "S"), pitr=False, deletion_protection=False)
    plan = plan_table(spec, state, MANAGED)
    assert plan.steps == ()
    assert "key schema is id(S), declared email(S)" in plan.conflicts[0]


def test_drifted_settings_become_one_write_each_with_waits_between_table_updates():
    spec = TABLES["galerly-subscriptions"]
    state = replace(healthy_table("galerly-subscriptions"), deletion_protection=False, pitr=False, stream=None,
                    sse_type=None, kms_key_arn=None, tags=(("app", "old"),))
    plan = plan_table(spec, state, MANAGED)
    ops = [s.operation for s in plan.steps]
    assert ops == ["update_table", "wait_active", "update_continuous_backups", "update_table", "wait_active",
                   "update_table", "wait_active", "tag_resource"]
    assert plan.steps[0].params == {"TableName": "galerly-subscriptions", "DeletionProtectionEnabled": True}
    assert plan.steps[2].params["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 35}
    tagged = plan.steps[-1].params["Tags"]
    assert {"Key": "app", "Value": "galerly"} in tagged and {"Key": "managed-by", "Value": "selfheal"} in tagged


def test_a_missing_gsi_is_created_alone_and_an_undeclared_one_is_kept():
    spec = TABLES["galerly-galleries"]
    state = healthy_table("galerly-galleries")
    state = replace(state, gsis=(state.gsis[0], IndexState("Extra", KeyAttr("x", "S"), None, "ALL")))
    plan = plan_table(spec, state, MANAGED)
    (create, wait) = plan.steps
    assert create.params["GlobalSecondaryIndexUpdates"][0]["Create"]["IndexName"] == "ShareTokenIndex"
    assert {"AttributeName": "share_token", "AttributeType": "S"} in create.params["AttributeDefinitions"]
    assert wait.operation == "wait_active"
    assert any("Extra is not declared: kept" in n for n in plan.notes)
    assert not any("Delete" in json.dumps(s.params) for s in plan.steps)


def test_a_gsi_with_other_keys_is_a_conflict_not_a_replacement():
    spec = TABLES["galerly-users"]
    state = replace(healthy_table("galerly-users"), gsis=(IndexState("UserIdIndex", KeyAttr("id", "N"), None, "ALL"),))
    plan = plan_table(spec, state, MANAGED)
    assert plan.steps == ()
    assert "index UserIdIndex" in plan.conflicts[0]


@pytest.mark.parametrize("status, attribute, expect", [
    ("DISABLED", None, "write"),
    ("ENABLED", "expires_at", "nothing"),
    ("ENABLING", "expires_at", "nothing"),
    ("ENABLED", "ttl", "conflict"),
    ("DISABLING", "expires_at", "conflict"),
])
def test_ttl(status, attribute, expect):
    spec = TABLES["galerly-sessions"]
    state = replace(healthy_table("galerly-sessions"), ttl_status=status, ttl_attribute=attribute)
    plan = plan_table(spec, state, MANAGED)
    assert {"write": len(plan.steps) == 1 and not plan.conflicts, "nothing": plan.in_sync,
            "conflict": bool(plan.conflicts) and not plan.steps}[expect], plan


def test_switched_off_protection_declared_off_is_kept_on():
    spec = replace(TABLES["galerly-users"], deletion_protection=False)
    plan = plan_table(spec, healthy_table("galerly-users"), MANAGED)
    assert plan.in_sync and "kept" in plan.notes[0]


def test_table_encryption_with_an_unreadable_managed_key_is_not_flagged_every_night():
    plan = plan_table(TABLES["galerly-users"], healthy_table("galerly-users"),
                      KeyInfo(None, False, "kms:DescribeKey on alias/aws/dynamodb failed: AccessDenied"))
    assert plan.in_sync and "not compared" in plan.notes[0]
    missing = plan_table(TABLES["galerly-users"], healthy_table("galerly-users"),
                         KeyInfo(None, False, "KMS key alias/aws/dynamodb not found in us-east-1"))
    assert [c.path for c in missing.changes] == ["encryption"]


def test_an_unusable_declared_key_is_an_error_before_any_write():
    spec = replace(TABLES["galerly-users"], kms_key="alias/gone")
    plan = plan_table(spec, TableState("galerly-users", False), declared_key=KeyInfo(None, False, "KMS key gone"))
    assert plan.steps == () and "KMS key gone" in plan.error


def test_normalize_table_reads_provisioned_tables_without_billing_summary():
    desc = {"TableStatus": "ACTIVE", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "N"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2},
            "SSEDescription": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "arn:k"}}
    fields = normalize_table(desc)
    assert fields["billing"] == "PROVISIONED" and fields["read_capacity"] == 5
    assert fields["hash_key"] == KeyAttr("a", "N") and fields["kms_key_arn"] == "arn:k"


# --- buckets ----------------------------------------------------------------------------------------------------

def test_a_missing_bucket_is_created_owner_enforced_then_reconciled():
    plan = plan_bucket(BUCKETS["galerly-images-storage"], BucketState("galerly-images-storage", False))
    step, visible = plan.steps
    assert step.params == {"Bucket": "galerly-images-storage", "ObjectOwnership": "BucketOwnerEnforced"}
    # S3 shows a new bucket to every endpoint only after a while: wait for it before configuring it
    assert (visible.operation, visible.params) == ("wait_bucket", {"Bucket": "galerly-images-storage"})
    assert plan.then_reconcile
    assert "public_access_block.restrict_public_buckets" in {c.path for c in plan.predicted}


def test_outside_us_east_1_create_bucket_names_its_region():
    spec = replace(BUCKETS["galerly-images-storage"], region="eu-west-1")
    plan = plan_bucket(spec, BucketState(spec.name, False))
    assert plan.steps[0].params["CreateBucketConfiguration"] == {"LocationConstraint": "eu-west-1"}


def test_a_foreign_bucket_is_an_error_saying_choose_another_name():
    plan = plan_bucket(BUCKETS["galerly-images-storage"], BucketState("galerly-images-storage", False, foreign=True))
    assert plan.steps == () and "choose another name" in plan.error


def test_a_bucket_in_another_region_is_a_conflict():
    state = replace(healthy_bucket("galerly-images-storage"), region="eu-west-1")
    plan = plan_bucket(BUCKETS["galerly-images-storage"], state)
    assert plan.steps == () and "cannot move" in plan.conflicts[0]


def test_a_public_statement_on_a_private_bucket_is_dropped_and_others_kept():
    spec = BUCKETS["galerly-images-storage"]
    state = healthy_bucket(spec.name)
    partner = {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
               "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{spec.name}/*"}
    public = {"Sid": "Oops", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:GetObject"],
              "Resource": f"arn:aws:s3:::{spec.name}/*"}
    state.aspects["policy"] = {"Version": "2012-10-17", "Statement": [partner, public] + spec.statements}
    (step,) = plan_bucket(spec, state, AccountFacts("111122223333")).steps  # the partner is this account's own
    written = json.loads(step.params["Policy"])["Statement"]
    assert [s["Sid"] for s in written] == ["Partner", "DenyInsecureTransport"]


def test_an_account_id_principal_is_the_accounts_root_arn():
    declared = {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "s3:GetObject"}
    returned = {**declared, "Principal": {"AWS": "arn:aws:iam::111122223333:root"}}
    assert canonical_statement(declared) == canonical_statement(returned)


def test_switching_to_provisioned_gives_every_existing_index_capacity():
    spec = replace(TABLES["galerly-users"], billing="PROVISIONED", read_capacity=5, write_capacity=3,
                   gsis=tuple(replace(g, read_capacity=2, write_capacity=2) for g in TABLES["galerly-users"].gsis))
    state = healthy_table("galerly-users")
    state = replace(state, gsis=state.gsis + (IndexState("Theirs", KeyAttr("x", "S"), None, "ALL"),))
    (update, _wait) = plan_table(spec, state, MANAGED).steps
    capacity = {u["Update"]["IndexName"]: u["Update"]["ProvisionedThroughput"]
                for u in update.params["GlobalSecondaryIndexUpdates"]}
    assert capacity == {"UserIdIndex": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
                        "Theirs": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 3}}


def test_policy_spelling_differences_are_not_drift():
    spec = BUCKETS["galerly-frontend-app"]
    state = healthy_bucket(spec.name)
    (stmt,) = spec.statements
    respelled = {**stmt, "Principal": {"AWS": "*"}, "Action": ["s3:GetObject"], "Resource": [stmt["Resource"]]}
    state.aspects["policy"] = {"Statement": [respelled]}
    assert plan_bucket(spec, state).in_sync
    assert canonical_statement(respelled) == canonical_statement(stmt)


@pytest.mark.parametrize("stmt, public", [
    ({"Effect": "Allow", "Principal": "*"}, True),
    ({"Effect": "Allow", "Principal": {"AWS": ["*"]}}, True),
    ({"Effect": "Deny", "Principal": "*"}, False),
    ({"Effect": "Allow", "Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}, False),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}}, False),
    ({"Effect": "Allow", "Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}, True),
    ({"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}}, False),
])
def test_is_public_statement(stmt, public):
    assert is_public_statement(stmt) is public


def test_cors_with_changed_origins_replaces_the_declared_rule_and_keeps_others():
    spec = BUCKETS["galerly-images-storage"]
    state = healthy_bucket(spec.name)
    theirs = {"ID": "theirs", "AllowedOrigins": ["https://partner.example"], "AllowedMethods": ["GET"]}
    stale = {**state.aspects["cors"][0], "AllowedOrigins": ["https://old.example"]}
    state.aspects["cors"] = [theirs, stale]
    (step,) = plan_bucket(spec, state).steps
    rules = step.params["CORSConfiguration"]["CORSRules"]
    assert rules[0] == theirs
    assert rules[1]["AllowedOrigins"] == ["https://galerly.com"] and rules[1]["ExposeHeaders"] == ["ETag"]


def test_lifecycle_rules_merge_by_id():
    spec = BUCKETS["galerly-images-storage"]
    state = healthy_bucket(spec.name)
    theirs = {"ID": "theirs", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
    ours = state.aspects["lifecycle"]["rules"][0]
    state.aspects["lifecycle"] = {"rules": [theirs, {**ours, "Status": "Disabled"}],
                                  "transition_default_minimum_object_size": "varies_by_storage_class"}
    (step,) = plan_bucket(spec, state).steps
    assert step.params["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"  # not reset to AWS's default
    rules = step.params["LifecycleConfiguration"]["Rules"]
    assert [r["ID"] for r in rules] == ["theirs", "abort-incomplete-multipart-uploads", "expire-noncurrent-versions"]
    assert all(r["Status"] == "Enabled" for r in rules)


def test_bpa_relaxed_before_the_public_policy_is_written():
    spec = BUCKETS["galerly-frontend-app"]
    aspects = {**healthy_bucket(spec.name).aspects, "public_access_block": dict.fromkeys(spec.bpa, True)}
    aspects["policy"] = None
    state = BucketState(spec.name, True, region="us-east-1", aspects=aspects)
    steps = plan_bucket(spec, state).steps
    ops = [s.operation for s in steps]
    assert ops.index("put_public_access_block") < ops.index("put_bucket_policy")
    # S3 applies the relaxed block with a delay: the policy write retries AccessDenied meanwhile
    assert steps[ops.index("put_bucket_policy")].retry_codes == ("AccessDenied",)


def test_versioning_declared_off_is_never_suspended():
    spec = BUCKETS["galerly-frontend-app"]
    state = healthy_bucket(spec.name)
    state.aspects["versioning"] = "Enabled"
    plan = plan_bucket(spec, state)
    assert plan.in_sync and "never suspends" in plan.notes[0]


def test_an_account_public_access_block_makes_the_website_a_conflict_but_other_repairs_go_on():
    spec = BUCKETS["galerly-frontend-app"]
    state = healthy_bucket(spec.name)
    state.aspects["policy"] = None
    state.aspects["tags"] = {}
    account = AccountFacts("123456789012", {"block_public_policy": True, "restrict_public_buckets": False,
                                             "block_public_acls": True, "ignore_public_acls": True})
    plan = plan_bucket(spec, state, account)
    assert "BlockPublicPolicy" in plan.conflicts[0] and "Block Public Access" in plan.conflicts[0]
    assert [s.operation for s in plan.steps] == ["put_bucket_tagging"]


def test_an_aspect_that_could_not_be_read_is_an_error_and_is_not_written():
    spec = BUCKETS["galerly-images-storage"]
    state = healthy_bucket(spec.name)
    del state.aspects["cors"]
    state.aspects["tags"] = {}
    state = replace(state, read_errors={"cors": "GetBucketCors failed: AccessDenied"})
    plan = plan_bucket(spec, state)
    assert "AccessDenied" in plan.error
    assert [s.operation for s in plan.steps] == ["put_bucket_tagging"]


def test_an_lsi_with_an_include_projection_in_any_order_is_in_sync():
    from selfheal.loader import parse_estate

    estate = parse_estate("tables:\n  - name: app-events\n    hash_key: pk\n    range_key: sk\n"
                          "    lsis: [{name: by-time, range_key: at, projection: {include: [zeta, alpha]}}]\n", env={})
    (spec,) = estate.tables
    state = TableState(
        "app-events", True, "ACTIVE", arn="arn:aws:dynamodb:us-east-1:1:table/app-events",
        hash_key=spec.hash_key, range_key=spec.range_key, billing=spec.billing, sse_type="KMS",
        kms_key_arn=MANAGED.arn, deletion_protection=True, pitr=True, recovery_days=35,
        lsis=(IndexState("by-time", None, KeyAttr("at", "S"), "INCLUDE", ("alpha", "zeta")),),  # as observed: sorted
    )
    assert plan_table(spec, state, MANAGED).in_sync


# --- "absent" is AWS's default: as found is in sync ------------------------------------------------------------------


def test_a_table_declaring_the_aws_owned_key_is_in_sync_without_sse_and_switched_back_from_kms():
    spec = replace(TABLES["galerly-users"], aws_owned_key=True)
    as_found = replace(healthy_table("galerly-users"), sse_type=None, kms_key_arn=None)
    assert plan_table(spec, as_found).in_sync  # no SSEDescription: the AWS-owned key, nothing to read or change
    kms = plan_table(spec, healthy_table("galerly-users"), MANAGED)
    (step, _wait) = kms.steps
    assert step.params["SSESpecification"] == {"Enabled": False}  # UpdateTable's way back to the AWS-owned key
    assert [str(c) for c in step.changes] == [f"encryption: kms {MANAGED.arn} -> aws-owned key"]


def test_a_table_declaring_the_aws_owned_key_is_created_and_restored_with_it():
    spec = replace(TABLES["galerly-users"], aws_owned_key=True)
    created = plan_table(spec, TableState("galerly-users", False))
    assert created.steps[0].params["SSESpecification"] == {"Enabled": False}
    copy = Backup("arn:aws:dynamodb:us-east-1:123456789012:table/galerly-users/backup/1", "b", "USER",
                  datetime(2026, 12, 1, tzinfo=UTC))
    restored = plan_table(spec, TableState("galerly-users", False, backups=(copy,)))
    assert restored.steps[0].params["SSESpecificationOverride"] == {"Enabled": False}


def test_a_bucket_without_ownership_controls_acts_as_object_writer():
    spec = replace(BUCKETS["galerly-frontend-app"], object_ownership="ObjectWriter")
    found = healthy_bucket("galerly-frontend-app")
    found = replace(found, aspects={**found.aspects, "object_ownership": None})
    assert plan_bucket(spec, found).in_sync
    enforced = plan_bucket(BUCKETS["galerly-frontend-app"], found)
    assert [s.operation for s in enforced.steps] == ["put_bucket_ownership_controls"]


def test_a_bucket_without_an_access_block_or_encryption_configuration_is_as_aws_treats_it():
    # No public access block acts as all four flags off; no encryption configuration as SSE-S3 (S3 encrypts every
    # new object with it since January 2023).
    spec = replace(BUCKETS["galerly-frontend-app"], public_access_block=tuple((f, False) for f in BPA_FLAGS))
    found = healthy_bucket("galerly-frontend-app")
    found = replace(found, aspects={**found.aspects, "public_access_block": None, "encryption": None})
    assert plan_bucket(spec, found).in_sync
    kms = replace(spec, encryption="aws:kms")
    assert [s.operation for s in plan_bucket(kms, found).steps] == ["put_bucket_encryption"]
