"""Bad input stops a run before its first AWS call, with one line that names the file, the field and the fix."""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from selfheal import cli
from selfheal.loader import DEFAULT_ESTATE_PATH, parse_estate
from selfheal.spec import EstateError
from tests.support.estates import GALERLY

SHIPPED = yaml.safe_load(GALERLY.read_text(encoding="utf-8"))

pytestmark = pytest.mark.usefixtures("yaml_parser")  # each test twice: libyaml's parser, then the pure-Python one

MINIMAL = """
version: 1
tables:
  - name: app-users
    hash_key: {name: id, type: S}
"""


def shipped_with(change: Callable[[dict[str, Any]], Any]) -> str:
    """The shipped estate with one mutation, as YAML text."""
    doc = copy.deepcopy(SHIPPED)
    change(doc)
    return yaml.safe_dump(doc, sort_keys=False)


def table(**fields: Any) -> str:
    """An estate with one table: the minimal one plus `fields`."""
    spec = {"name": "app-users", "hash_key": {"name": "id", "type": "S"}, **fields}
    return yaml.safe_dump({"tables": [spec]}, sort_keys=False)


def bucket(**fields: Any) -> str:
    """An estate with one private bucket plus `fields`."""
    return yaml.safe_dump({"buckets": [{"name": "app-bucket", **fields}]}, sort_keys=False)


BACKUP_ROLE = "arn:aws:iam::123456789012:role/selfheal-BackupRole-1A2B3C"


def backups(rule: dict[str, Any] | None = None, **fields: Any) -> str:
    """An estate with one AWS Backup entry (vault, plan, selection) plus `fields`; `rule` replaces its rule's fields."""
    nightly = {"name": "nightly", "schedule": "cron(0 2 * * ? *)", "retention_days": 35, **(rule or {})}
    spec = {"name": "app-backups", "rules": [nightly], "selection": {"role": BACKUP_ROLE, "tables": ["app-users"]},
            **fields}
    return yaml.safe_dump({"backups": [spec]}, sort_keys=False)


def stmt(**fields: Any) -> dict[str, Any]:
    base = {"Sid": "Custom", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject"}
    base["Resource"] = "arn:aws:s3:::app-bucket/*"
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def t0(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["tables"][0]


def b(doc: dict[str, Any], i: int) -> dict[str, Any]:
    return doc["buckets"][i]


def _set(target: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: target(doc).__setitem__(key, value)


WEBSITE = {"index_document": "index.html"}
OPEN_BPA = dict.fromkeys(("block_public_acls", "ignore_public_acls"), True) | dict.fromkeys(
    ("block_public_policy", "restrict_public_buckets"), False
)


# (id, estate text, expected exc.path, a fragment the problem must mention, extra parse kwargs)
CASES: list[tuple[str, str, str, str, dict[str, Any]]] = [
    # --- YAML itself
    ("yaml-unclosed-flow", "tables: [{name: a\n", "line ", "not valid YAML", {}),
    # --- found after the first pass: each used to be mis-reported or silently accepted
    (
        "lsi-named-like-a-gsi",
        table(range_key="sk", gsis=[{"name": "by-x", "hash_key": "x"}], lsis=[{"name": "by-x", "range_key": "y"}]),
        "tables[0].lsis[0].name",
        "also a GSI",
        {},
    ),
    ("stream-zero", table(stream=0), "tables[0].stream", "not allowed", {}),
    ("principal-a-number", bucket(policy={"statements": [stmt(Principal=5)]}),
     "buckets[0].policy.statements[0].Principal", "not a principal", {}),
    ("principal-unknown-type", bucket(policy={"statements": [stmt(Principal={"Users": "x"})]}),
     "buckets[0].policy.statements[0].Principal.Users", "unknown principal type", {}),
    ("yaml-bad-indent", "tables:\n  - name: app-users\n   hash_key: id\n", "line ", "not valid YAML", {}),
    ("yaml-tab-indent", "tables:\n\t- name: app-users\n", "line 2", "not valid YAML", {}),
    ("yaml-duplicate-top-key", MINIMAL + "tables: []\n", "line ", "duplicate key 'tables'", {}),
    (
        "yaml-duplicate-table-key",
        "tables:\n  - name: app-users\n    name: other\n    hash_key: id\n",
        "line 3",
        "duplicate key 'name'",
        {},
    ),
    ("yaml-impossible-date", "vars: {since: 2024-13-45}\n" + MINIMAL, "line 1", "2024-13-45", {}),
    ("yaml-list-as-mapping-key", MINIMAL + "? [a, b]\n: 1\n", "line 6", "not valid YAML", {}),
    ("empty-file", "", "-", "empty", {}),
    ("comments-only", "# nothing here\n", "-", "empty", {}),
    ("top-level-list", "- tables\n", "(top)", "expected a mapping", {}),
    ("no-resources", "version: 1\ntables: []\n", "tables", "no tables and no buckets", {}),
    ("tables-not-a-list", "tables: {name: app-users}\n", "tables", "expected a list", {}),
    ("unsupported-version", MINIMAL.replace("version: 1", "version: 2"), "version", "unsupported version", {}),
    # --- unknown fields, with a did-you-mean
    ("unknown-top-field", shipped_with(lambda d: d.update(tabels=[])), "(top).tabels", "did you mean 'tables'", {}),
    ("unknown-table-field", table(billling="on-demand"), "tables[0].billling", "did you mean 'billing'", {}),
    ("unknown-bucket-field", bucket(versionning=True), "buckets[0].versionning", "did you mean 'versioning'", {}),
    (
        "unknown-settings-field",
        shipped_with(lambda d: d["settings"].update(pool=3)),
        "settings.pool",
        "did you mean 'pool_size'",
        {},
    ),
    (
        "table-defaults-may-not-name-tables",
        shipped_with(lambda d: d["table_defaults"].update(name="x")),
        "table_defaults.name",
        "unknown field",
        {},
    ),
    # --- tables
    ("table-missing-name", yaml.safe_dump({"tables": [{"hash_key": "id"}]}), "tables[0].name", "missing", {}),
    (
        "table-missing-hash-key",
        yaml.safe_dump({"tables": [{"name": "app-users"}]}),
        "tables[0].hash_key",
        "missing",
        {},
    ),
    ("table-name-too-short", table(name="ab"), "tables[0].name", "is not a table name", {}),
    ("table-name-bad-char", table(name="app/users"), "tables[0].name", "is not a table name", {}),
    ("key-type-unknown", table(hash_key={"name": "id", "type": "X"}), "tables[0].hash_key.type", "'X'", {}),
    ("range-key-repeats-hash", table(range_key="id"), "tables[0].range_key", "repeats the hash key", {}),
    (
        "gsi-attribute-typed-differently",
        table(gsis=[{"name": "ById", "hash_key": {"name": "id", "type": "N"}}]),
        "tables[0].gsis[0].hash_key.type",
        "'id' is N here but S elsewhere",
        {},
    ),
    (
        "gsi-attributes-disagree-with-each-other",
        table(gsis=[{"name": "ByA", "hash_key": "owner"}, {"name": "ByB", "hash_key": {"name": "owner", "type": "B"}}]),
        "tables[0].gsis[1].hash_key.type",
        "'owner' is B here",
        {},
    ),
    (
        "duplicate-gsi-names",
        table(gsis=[{"name": "ByOwner", "hash_key": "owner"}, {"name": "ByOwner", "hash_key": "email"}]),
        "tables[0].gsis[1].name",
        "declared twice",
        {},
    ),
    ("lsi-without-range-key", table(lsis=[{"name": "ByDate", "range_key": "date"}]), "tables[0].lsis", "range key", {}),
    (
        "duplicate-table-names",
        shipped_with(lambda d: d["tables"].append(copy.deepcopy(d["tables"][0]))),
        "tables[13].name",
        "'galerly-users' is declared twice",
        {},
    ),
    ("region-invalid", table(region="us-east"), "tables[0].region", "'us-east' is not", {}),
    (
        "region-from-vars-invalid",
        shipped_with(_set(lambda d: d["vars"], "region", "mars-1")),
        "tables[0].region",
        "mars-1",
        {},
    ),
    ("pitr-recovery-days-0", table(pitr={"recovery_days": 0}), "tables[0].pitr.recovery_days", "from 1 to 35", {}),
    ("pitr-recovery-days-36", table(pitr={"recovery_days": 36}), "tables[0].pitr.recovery_days", "got 36", {}),
    ("pitr-enabled-not-bool", table(pitr={"enabled": "yes please"}), "tables[0].pitr.enabled", "true or false", {}),
    ("billing-provisioned-bare", table(billing="provisioned"), "tables[0].billing", "needs capacity", {}),
    (
        "billing-provisioned-without-write-capacity",
        table(billing={"mode": "provisioned", "read_capacity": 5}),
        "tables[0].billing.write_capacity",
        "needs capacity",
        {},
    ),
    (
        "billing-on-demand-with-capacity",
        table(billing={"mode": "on-demand", "read_capacity": 5}),
        "tables[0].billing",
        "capacity given with on-demand",
        {},
    ),
    (
        "gsi-capacity-on-on-demand-table",
        table(gsis=[{"name": "ByOwner", "hash_key": "owner", "read_capacity": 5}]),
        "tables[0].gsis[0]",
        "on-demand",
        {},
    ),
    ("billing-mode-unknown", table(billing="pay-as-you-go"), "tables[0].billing", "not a billing mode", {}),
    ("kms-key-invalid", table(encryption={"kms_key": "my-key"}), "tables[0].encryption.kms_key", "'my-key'", {}),
    (
        "kms-key-arn-wrong-service",
        table(encryption={"kms_key": "arn:aws:iam::123456789012:key/abc"}),
        "tables[0].encryption.kms_key",
        "not a KMS key",
        {},
    ),
    ("encryption-unknown", table(encryption="sse-s3"), "tables[0].encryption", "not an encryption setting", {}),
    ("stream-view-invalid", table(stream="NEW"), "tables[0].stream", "'NEW' is not allowed", {}),
    ("restore-invalid", table(restore="always"), "tables[0].restore", "'always' is not allowed", {}),
    ("ttl-not-a-name", table(ttl={"attribute": "x"}), "tables[0].ttl", "expected a non-empty string", {}),
    (
        "deletion-protection-not-bool",
        table(deletion_protection="on"),
        "tables[0].deletion_protection",
        "true or false",
        {},
    ),
    ("tag-aws-prefix", table(tags={"aws:team": "x"}), "tables[0].tags.aws:team", "may not start with 'aws:'", {}),
    ("tag-value-too-long", table(tags={"team": "x" * 257}), "tables[0].tags.team", "at most 256", {}),
    ("tag-value-a-list", table(tags={"team": ["a", "b"]}), "tables[0].tags.team", "tag value", {}),
    # --- buckets
    ("bucket-missing-name", yaml.safe_dump({"buckets": [{"versioning": True}]}), "buckets[0].name", "missing", {}),
    ("bucket-name-uppercase", bucket(name="App-Bucket"), "buckets[0].name", "'App-Bucket'", {}),
    ("bucket-name-too-short", bucket(name="ab"), "buckets[0].name", "'ab'", {}),
    ("bucket-name-ip-like", bucket(name="192.168.1.10"), "buckets[0].name", "not a valid bucket name", {}),
    ("bucket-name-double-dot", bucket(name="app..bucket"), "buckets[0].name", "not a valid bucket name", {}),
    ("copy-from-itself", bucket(copy_from={"bucket": "app-bucket"}), "buckets[0].copy_from.bucket",
     "names the bucket itself", {}),
    ("copy-from-a-word", bucket(copy_from="replica"), "buckets[0].copy_from", "use {bucket: REPLICA} or aws-backup",
     {}),
    ("copy-from-bad-name", bucket(copy_from={"bucket": "Replica_1"}), "buckets[0].copy_from.bucket",
     "'Replica_1' is not a bucket name", {}),
    ("copy-from-account-not-12-digits", bucket(copy_from={"bucket": "app-replica", "account": "12345"}),
     "buckets[0].copy_from.account", "'12345' is not a 12-digit account id", {}),
    # unquoted, YAML reads an id with a leading 0 as a number and drops the 0: caught, and the fix says to quote it
    ("copy-from-account-a-number-without-its-zero", bucket(copy_from={"bucket": "app-replica", "account": 12345678901}),
     "buckets[0].copy_from.account", "'12345678901' is not a 12-digit account id", {}),
    ("copy-from-account-letters", bucket(copy_from={"bucket": "app-replica", "account": "12345678901a"}),
     "buckets[0].copy_from.account", "is not a 12-digit account id", {}),
    (
        "bucket-name-from-env-invalid",
        shipped_with(lambda d: None),
        "buckets[1].name",
        "'Photos'",
        {"env": {"SELFHEAL_VAR_PHOTOS_BUCKET": "Photos"}},
    ),
    (
        "duplicate-bucket-names",
        shipped_with(_set(lambda d: d["vars"], "photos_bucket", "${frontend_bucket}")),
        "buckets[1].name",
        "'galerly-frontend-app' is declared twice",
        {},
    ),
    ("bucket-region-invalid", bucket(region="US-EAST-1"), "buckets[0].region", "'US-EAST-1'", {}),
    (
        "bpa-flag-not-bool",
        bucket(public_access_block={"block_public_acls": "maybe"}),
        "buckets[0].public_access_block.block_public_acls",
        "true or false",
        {},
    ),
    (
        "bpa-flag-unknown",
        bucket(public_access_block={"block_acls": True}),
        "buckets[0].public_access_block.block_acls",
        "did you mean",
        {},
    ),
    ("object-ownership-invalid", bucket(object_ownership="Owner"), "buckets[0].object_ownership", "not allowed", {}),
    (
        "bucket-kms-key-invalid",
        bucket(encryption={"kms_key": "alias/has space"}),
        "buckets[0].encryption.kms_key",
        "not a KMS key",
        {},
    ),
    (
        "cors-method-invalid",
        bucket(cors=[{"allowed_origins": "https://a.com", "allowed_methods": ["GET", "PATCH"]}]),
        "buckets[0].cors[0].allowed_methods[1]",
        "'PATCH' is not allowed",
        {},
    ),
    (
        "cors-origin-without-scheme",
        bucket(cors=[{"allowed_origins": ["galerly.com"], "allowed_methods": ["GET"]}]),
        "buckets[0].cors[0].allowed_origins[0]",
        "'galerly.com' is not an origin",
        {},
    ),
    (
        "cors-origin-from-env-without-scheme",
        shipped_with(lambda d: None),
        "buckets[1].cors[0].allowed_origins[1]",
        "'b.com' is not an origin",
        {"env": {"SELFHEAL_VAR_CORS_ORIGINS": "https://a.com,b.com"}},
    ),
    (
        "policy-statements-not-json",
        bucket(policy={"statements": '{"Sid": "X", "Effect": '}),
        "buckets[0].policy.statements",
        "not valid JSON",
        {},
    ),
    (
        "policy-statements-json-with-a-bad-effect",
        bucket(policy={"statements": json.dumps([stmt(Effect="Maybe")])}),
        "buckets[0].policy.statements[0].Effect",
        "'Maybe' is not allowed",
        {},
    ),
    (
        "statement-without-effect",
        bucket(policy={"statements": [stmt(Effect=None)]}),
        "buckets[0].policy.statements[0].Effect",
        "missing",
        {},
    ),
    (
        "statement-bad-effect",
        bucket(policy={"statements": [stmt(Effect="Permit")]}),
        "buckets[0].policy.statements[0].Effect",
        "'Permit' is not allowed",
        {},
    ),
    (
        "statement-action-and-notaction",
        bucket(policy={"statements": [stmt(NotAction="s3:GetObject")]}),
        "buckets[0].policy.statements[0]",
        "exactly one of Action / NotAction",
        {},
    ),
    (
        "statement-not-an-s3-action",
        bucket(policy={"statements": [stmt(Action=["s3:GetObject", "ec2:RunInstances"])]}),
        "buckets[0].policy.statements[0].Action[1]",
        "not an S3 action",
        {},
    ),
    (
        "statement-resource-of-another-bucket",
        bucket(policy={"statements": [stmt(Resource="arn:aws:s3:::someone-else/*")]}),
        "buckets[0].policy.statements[0].Resource[0]",
        "is not this bucket",
        {},
    ),
    (
        "statement-sid-clashes-with-preset",
        bucket(policy={"presets": ["tls-only"], "statements": [stmt(Sid="DenyInsecureTransport")]}),
        "buckets[0].policy.statements[1].name",
        "declared twice",
        {},
    ),
    (
        "statement-holds-a-date",
        bucket(
            policy={"statements": [stmt(Condition={"DateLessThan": {"aws:CurrentTime": datetime.date(2030, 1, 1)}})]}
        ),
        "buckets[0].policy.statements[0]",
        "JSON",
        {},
    ),
    (
        "statement-holds-binary",
        bucket(policy={"statements": [stmt(Condition={"StringEquals": {"aws:UserAgent": b"anyone"}})]}),
        "buckets[0].policy.statements[0]",
        "JSON",
        {},
    ),
    (
        "policy-preset-unknown",
        bucket(policy={"presets": ["public"]}),
        "buckets[0].policy.presets[0]",
        "did you mean 'public-read'",
        {},
    ),
    (
        "public-read-on-blocking-bucket",
        shipped_with(lambda d: b(d, 1)["policy"]["presets"].append("public-read")),
        "buckets[1].policy.presets[1]",
        "public-read cannot work",
        {},
    ),
    (
        "tls-only-on-website-bucket",
        shipped_with(lambda d: b(d, 0)["policy"]["presets"].append("tls-only")),
        "buckets[0].policy.presets[1]",
        "website endpoint",
        {},
    ),
    (
        "website-index-with-slash",
        bucket(public_access_block=OPEN_BPA, website={"index_document": "site/index.html"}),
        "buckets[0].website.index_document",
        "without /",
        {},
    ),
    (
        "lifecycle-rule-without-action",
        bucket(lifecycle=[{"id": "noop"}]),
        "buckets[0].lifecycle[0]",
        "needs an action",
        {},
    ),
    (
        "lifecycle-duplicate-ids",
        bucket(lifecycle=[{"id": "r", "expiration_days": 1}, {"id": "r", "expiration_days": 2}]),
        "buckets[0].lifecycle[1].name",
        "declared twice",
        {},
    ),
    (
        "lifecycle-days-zero",
        bucket(lifecycle=[{"id": "r", "expiration_days": 0}]),
        "buckets[0].lifecycle[0].expiration_days",
        "got 0",
        {},
    ),
    # --- vars
    (
        "unresolved-var",
        shipped_with(_set(t0, "name", "${prefx}-users")),
        "tables[0].name",
        "unresolved ${prefx}",
        {},
    ),
    ("var-cycle", "vars: {a: '${b}', b: '${a}'}\n" + MINIMAL, "vars.a", "refers to itself", {}),
    ("var-name-not-snake-case", "vars: {Prefix: x}\n" + MINIMAL, "vars.Prefix", "lower_snake_case", {}),
    ("var-value-a-mapping", "vars: {prefix: {a: 1}}\n" + MINIMAL, "vars.prefix.a", "use one of: default, overridable",
     {}),
    ("var-without-default", "vars: {prefix: {overridable: true}}\n" + MINIMAL, "vars.prefix.default", "missing", {}),
    ("var-overridable-not-bool", "vars: {prefix: {default: a, overridable: yes-please}}\n" + MINIMAL,
     "vars.prefix.overridable", "expected true or false", {}),
    (
        "set-undeclared-var",
        shipped_with(lambda d: None),
        "--set prefx",
        "no such variable",
        {"overrides": {"prefx": "x"}},
    ),
    # --- settings
    (
        "settings-pool-size-0",
        shipped_with(_set(lambda d: d["settings"], "pool_size", 0)),
        "settings.pool_size",
        "got 0",
        {},
    ),
    (
        "settings-pool-size-65",
        shipped_with(_set(lambda d: d["settings"], "pool_size", 65)),
        "settings.pool_size",
        "got 65",
        {},
    ),
    (
        "settings-max-missing-101",
        shipped_with(_set(lambda d: d["settings"], "max_missing_percent", 101)),
        "settings.max_missing_percent",
        "0..100",
        {},
    ),
    (
        "settings-time-budget-negative",
        shipped_with(_set(lambda d: d["settings"], "time_budget_seconds", -5)),
        "settings.time_budget_seconds",
        "positive",
        {},
    ),
    (
        "settings-poll-zero",
        shipped_with(_set(lambda d: d["settings"], "poll_seconds", 0)),
        "settings.poll_seconds",
        "positive",
        {},
    ),
    ("settings-poll-nan", "settings: {poll_seconds: .nan}\n" + MINIMAL, "settings.poll_seconds", "positive", {}),
    ("settings-poll-infinite", "settings: {poll_seconds: .inf}\n" + MINIMAL, "settings.poll_seconds", "positive", {}),
    (
        "settings-wait-timeout-nan",
        "settings: {wait_timeout_seconds: .nan}\n" + MINIMAL,
        "settings.wait_timeout_seconds",
        "positive",
        {},
    ),
    # --- backups: what AWS Backup would refuse, or what would select nothing
    ("backup-continuous-over-35-days", backups({"continuous": True, "retention_days": 90}),
     "backups[0].rules[0].retention_days", "kept 1-35 days", {}),
    ("backup-schedule-not-cron", backups({"schedule": "every night"}), "backups[0].rules[0].schedule",
     "not a cron expression", {}),
    ("backup-lock-min-over-max", backups(lock={"min_retention_days": 30, "max_retention_days": 7}),
     "backups[0].lock.min_retention_days", "more than max_retention_days", {}),
    ("backup-selection-empty", backups(selection={"role": BACKUP_ROLE}), "backups[0].selection", "selects nothing",
     {}),
    ("backup-selection-role-not-arn", backups(selection={"role": "BackupRole", "tables": ["app-users"]}),
     "backups[0].selection.role", "not an IAM role ARN", {}),
    ("backup-vault-name-too-short", backups(name="b"), "backups[0].name", "is not a name of 2-50", {}),
    ("backup-rule-named-twice", yaml.safe_dump({"backups": [{
        "name": "app-backups", "selection": {"role": BACKUP_ROLE, "buckets": ["app-bucket"]},
        "rules": [{"name": "n", "schedule": "cron(0 2 * * ? *)", "retention_days": 7}] * 2}]}),
     "backups[0].rules[1].name", "declared twice", {}),
    # --- the recovery objective: durations, AWS's limits, an rpo within the window, a copy that can meet it
    ("recovery-duration-unparsed", table(recovery={"window": "35 days"}), "tables[0].recovery.window",
     "is not a duration", {}),
    ("recovery-duration-no-unit", table(recovery={"rpo": 60}), "tables[0].recovery.rpo", "expected a non-empty string",
     {}),
    ("recovery-unknown-field", table(recovery={"windows": "35d"}), "tables[0].recovery.windows", "unknown field", {}),
    ("recovery-table-window-over-pitr", table(recovery={"window": "40d"}), "tables[0].recovery.window",
     "longer than point-in-time recovery reaches back (35d)", {}),
    ("recovery-defaults-window-over-pitr",
     shipped_with(lambda d: d["table_defaults"]["recovery"].__setitem__("window", "36d")),
     "table_defaults.recovery.window", "longer than point-in-time recovery", {}),
    ("recovery-rpo-over-window", table(recovery={"window": "1d", "rpo": "2d"}), "tables[0].recovery.rpo",
     "longer than the window 1d", {}),
    ("recovery-table-without-any-copy", table(pitr=False, recovery={"window": "7d"}), "tables[0].recovery",
     "cannot be met by any declared copy: no copy of it is kept", {}),
    ("recovery-table-rpo-under-pitr-lag", table(recovery={"rpo": "1m"}), "tables[0].recovery.rpo",
     "its newest copy can be 5m old (PITR, 35 days)", {}),
    ("recovery-bucket-rpo-nightly-only", yaml.safe_dump({
        "buckets": [{"name": "app-bucket", "recovery": {"rpo": "1m"}}],
        "backups": [{"name": "app-backups", "rules": [{"name": "nightly", "schedule": "cron(0 2 * * ? *)",
                                                       "retention_days": 35}],
                     "selection": {"role": BACKUP_ROLE, "buckets": ["app-bucket"]}}]}, sort_keys=False),
     "buckets[0].recovery.rpo", "can be 1d old (AWS Backup rule nightly of app-backups", {}),
    (
        "max-missing-env-not-a-number",
        shipped_with(lambda d: None),
        "SELFHEAL_MAX_MISSING_PERCENT",
        "'lots' is not a number",
        {"env": {"SELFHEAL_MAX_MISSING_PERCENT": "lots"}},
    ),
    (
        "max-missing-env-out-of-range",
        shipped_with(lambda d: None),
        "settings.max_missing_percent",
        "0..100",
        {"env": {"SELFHEAL_MAX_MISSING_PERCENT": "150"}},
    ),
]


@pytest.mark.parametrize(("text", "path", "fragment", "kwargs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_estate_is_one_line_naming_the_field_and_the_fix(text, path, fragment, kwargs):
    kwargs = {"env": {}, **kwargs}
    with pytest.raises(EstateError) as info:
        parse_estate(text, source="estate.yaml", **kwargs)
    exc = info.value
    message = str(exc)
    assert "\n" not in message
    assert message.startswith("estate.yaml: ")
    assert exc.path.startswith(path)
    assert f": {exc.path}: " in message
    assert fragment in message
    problem_and_fix = message.split(f"{exc.path}: ", 1)[1]
    assert " — " in problem_and_fix
    assert problem_and_fix.rsplit(" — ", 1)[1].strip() == exc.fix.strip() != ""


def test_there_are_enough_named_cases():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) >= 45


def test_an_objective_no_declared_copy_meets_stops_the_cli_before_any_aws_call(tmp_path, capsys):
    estate = tmp_path / "estate.yaml"
    estate.write_text(bucket(recovery={"window": "30d", "rpo": "1h"}))
    # no endpoint answers on port 9: any AWS call would fail otherwise than with the estate's line
    assert cli.main(["apply", "--estate", str(estate), "--endpoint-url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "buckets[0].recovery: cannot be met by any declared copy" in err
    assert "declare versioning: true, or name the bucket in a backups selection" in err


# --- which estate the CLI reads: the named one, else $SELFHEAL_ESTATE, else ./estate.yaml --------------------------


def test_the_estate_is_the_named_one_else_selfheal_estate_else_the_local_file_never_the_shipped_one(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SELFHEAL_ESTATE", str(GALERLY))
    assert cli._estate_path("mine.yaml") == Path("mine.yaml")
    assert cli._estate_path(None) == GALERLY
    assert cli._estate_path("shipped") == DEFAULT_ESTATE_PATH  # only when named
    monkeypatch.delenv("SELFHEAL_ESTATE")
    (tmp_path / "estate.yaml").write_text("tables: [{name: t-one, hash_key: id}]\n")
    assert cli._estate_path(None) == Path("estate.yaml")


# --- vars given from outside: only declared ones, and a name changes only where the estate allows it -------------

RENAMING = """
vars: {prefix: acme, assets: {default: acme-assets, overridable: true}, origins: https://acme.example}
tables: [{name: "${prefix}-orders", hash_key: id}]
buckets: [{name: "${assets}", cors: [{allowed_origins: "${origins}", allowed_methods: [GET]}]}]
"""


def test_an_overridable_var_renames_and_a_var_outside_names_changes_freely():
    estate = parse_estate(RENAMING, env={"SELFHEAL_VAR_ASSETS": "acme-assets-prod", "SELFHEAL_VAR_ORIGINS": "https://x"})
    assert [b.name for b in estate.buckets] == ["acme-assets-prod"]
    assert estate.buckets[0].cors[0].allowed_origins == ("https://x",)
    # A value equal to the estate's renames nothing; an empty one is not given (a stack parameter left empty).
    same = parse_estate(RENAMING, env={"SELFHEAL_VAR_PREFIX": "acme", "SELFHEAL_VAR_ASSETS": ""})
    assert [t.name for t in same.tables] == ["acme-orders"] and [b.name for b in same.buckets] == ["acme-assets"]
    # The run's region applies only to an estate that declares one (the stack passes it to every estate).
    assert parse_estate(RENAMING, env={"SELFHEAL_VAR_REGION": "eu-west-1"}).tables[0].region == "us-east-1"


@pytest.mark.parametrize(("kwargs", "where"), [
    ({"env": {"SELFHEAL_VAR_PREFIX": "galerly"}}, "SELFHEAL_VAR_PREFIX=galerly"),
    ({"env": {}, "overrides": {"prefix": "galerly"}}, "--set prefix=galerly"),
])
def test_a_var_that_would_rename_declared_resources_is_refused_unless_overridable(kwargs, where):
    # The stack's default Prefix (galerly) given to acme's estate would plan galerly-* tables as created.
    with pytest.raises(EstateError) as info:
        parse_estate(RENAMING, source="acme.yaml", **kwargs)
    message = str(info.value)
    assert message.startswith(f"acme.yaml: {where}: var prefix names the estate's resources (${{prefix}}-orders)")
    assert message.endswith("— leave it unset to keep the estate's 'acme', or mark it in the estate: "
                            "`prefix: {default: acme, overridable: true}`")


def test_a_var_given_by_the_environment_that_the_estate_does_not_declare_is_refused():
    with pytest.raises(EstateError, match="SELFHEAL_VAR_FRONTEND_BUCKET: no such variable in the estate — unset "
                                          "SELFHEAL_VAR_FRONTEND_BUCKET, or declare 'frontend_bucket' under vars"):
        parse_estate(RENAMING, env={"SELFHEAL_VAR_FRONTEND_BUCKET": "galerly-frontend-app"})


def test_the_galerly_estate_marks_what_the_stack_overrides():
    text = GALERLY.read_text(encoding="utf-8")
    env = {"SELFHEAL_VAR_PREFIX": "staging", "SELFHEAL_VAR_FRONTEND_BUCKET": "site-1",
           "SELFHEAL_VAR_PHOTOS_BUCKET": "photos-1", "SELFHEAL_VAR_CORS_ORIGINS": "https://a.example",
           "SELFHEAL_VAR_REGION": "us-east-1"}
    estate = parse_estate(text, env=env)
    assert estate.tables[0].name == "staging-users" and [b.name for b in estate.buckets] == ["site-1", "photos-1"]
