"""`selfheal import`'s pure parts: what a table or bucket as AWS describes it becomes in the estate (each kind's own
import), what is marked `# found:`, what goes to table_defaults, and YAML that reads back as written."""

from __future__ import annotations

import datetime

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal import cli
from selfheal.importer import (
    _BLOCK,
    ImportProblem,
    _dump,
    _flow_text,
    _mapping,
    _width,
    check_selection,
    import_estate,
    render,
)
from selfheal.importing import Entry, Section, Selection
from selfheal.importing.buckets import bucket_entry
from selfheal.importing.tables import TABLE_SETTINGS, TableEntry, table_defaults, table_entry
from selfheal.kinds import Kind, kind_named, register, unregister
from selfheal.loader import parse_estate
from selfheal.spec import KeyAttr
from selfheal.state.buckets import BucketState
from selfheal.state.tables import IndexState, TableState

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/app-orders"
MANAGED = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
CUSTOMER = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"


class Keys:
    def managed_arn(self) -> str:
        return MANAGED

    def name(self, arn: str) -> str:
        return {CUSTOMER: "alias/orders"}.get(arn, arn)


def table_state(**fields) -> TableState:
    base = dict(name="app-orders", exists=True, status="ACTIVE", arn=ARN, hash_key=KeyAttr("id", "S"),
                billing="PAY_PER_REQUEST", sse_type="KMS", kms_key_arn=MANAGED, deletion_protection=True, pitr=True,
                recovery_days=35, ttl_status="DISABLED", tags=())
    return TableState(**(base | fields))


def no_scaling(_: str) -> None:
    return None


def test_a_table_with_every_default_declares_its_keys_only():
    t = table_entry(table_state(), {}, Keys(), no_scaling, "app")
    assert t.fields == {"name": "${prefix}-orders", "hash_key": "id"}
    assert all(v is None for v in t.settings.values()) and t.found == []


def test_a_table_declares_what_differs_from_the_defaults():
    state = table_state(
        range_key=KeyAttr("ts", "N"), billing="PROVISIONED", read_capacity=5, write_capacity=2, kms_key_arn=CUSTOMER,
        pitr=True, recovery_days=7, deletion_protection=False, ttl_attribute="exp", ttl_status="ENABLED",
        stream="KEYS_ONLY", tags=(("aws:cloudformation:stack-name", "app"), ("team", "x")),
        gsis=(IndexState("ByA", KeyAttr("a", "B"), None, "INCLUDE", ("p", "q"), read_capacity=1, write_capacity=3),),
        lsis=(IndexState("ByT", None, KeyAttr("t", "S"), "KEYS_ONLY"),),
    )
    t = table_entry(state, {}, Keys(), no_scaling, None)
    assert t.fields == {"name": "app-orders", "hash_key": "id", "range_key": {"name": "ts", "type": "N"}}
    assert t.settings == {
        "billing": {"mode": "provisioned", "read_capacity": 5, "write_capacity": 2},
        "encryption": {"kms_key": "alias/orders"},
        "pitr": {"recovery_days": 7},
        "deletion_protection": False,
        "ttl": "exp",
        "stream": "KEYS_ONLY",
        "tags": {"team": "x"},
    }
    assert t.indexes == {
        "gsis": [{"name": "ByA", "hash_key": {"name": "a", "type": "B"}, "projection": {"include": ["p", "q"]},
                  "write_capacity": 3}],
        "lsis": [{"name": "ByT", "range_key": "t", "projection": "KEYS_ONLY"}],
    }
    assert t.found == ["tags aws:cloudformation:stack-name — AWS-reserved (aws:), not declarable; AWS keeps them"]


def test_what_a_table_has_but_the_estate_cannot_declare_is_found():
    desc = {"Replicas": [{"RegionName": "eu-west-1"}, {"RegionName": "ap-south-1"}],
            "TableClassSummary": {"TableClass": "STANDARD_INFREQUENT_ACCESS"},
            "OnDemandThroughput": {"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": -1}}
    state = table_state(sse_type=None, kms_key_arn=None, ttl_attribute="exp", ttl_status="DISABLING",
                        billing="PROVISIONED", read_capacity=5, write_capacity=5,
                        gsis=(IndexState("ByA", KeyAttr("a", "S"), None, "ALL", status="CREATING", read_capacity=1,
                                         write_capacity=1),))
    scaling = {"table/app-orders": ["read 5-50"], "table/app-orders/index/ByA": ["write 1-9"]}.get
    entry = table_entry(state, desc, Keys(), scaling, "app")
    found = " | ".join(entry.found)
    for part in ("global table replicas in ap-south-1, eu-west-1", "table class STANDARD_INFREQUENT_ACCESS",
                 "on-demand throughput limits {'MaxReadRequestUnits': 100}", "being disabled",
                 "auto scaling on read 5-50", "auto scaling on index ByA (write 1-9)", "index ByA was CREATING"):
        assert part in found, part
    # DynamoDB's default key is declared as it is, not announced as something selfheal would change
    assert entry.settings["encryption"] == "aws-owned" and "AWS-owned" not in found


def resource(**settings) -> TableEntry:
    return TableEntry("t", {"name": "t", "hash_key": "id"}, settings=dict.fromkeys(TABLE_SETTINGS) | settings)


def test_the_settings_most_tables_share_go_to_table_defaults_when_that_is_shorter():
    a, b = {"team": "a"}, {"team": "b"}
    tables = [resource(tags=a, pitr=False), resource(tags=a, pitr=False), resource(tags=a), resource(tags=b),
              resource()]
    assert table_defaults(tables) == {"tags": a}  # pitr: 2 tables off, 3 at the default: not shorter
    assert [t.settings["tags"] for t in tables] == [None, None, None, b, {}]  # {}: no tags, whatever the default
    assert [t.settings["pitr"] for t in tables] == [False, False, None, None, None]
    assert table_defaults([resource(tags=a)]) == {}


def bucket_state(**aspects) -> BucketState:
    base = {"public_access_block": dict.fromkeys(("block_public_acls", "ignore_public_acls", "block_public_policy",
                                                  "restrict_public_buckets"), True),
            "object_ownership": "BucketOwnerEnforced",
            "encryption": {"algorithm": "AES256", "kms_key": None, "bucket_key": False}}
    return BucketState("app-media", True, region="us-east-1", aspects=base | aspects)


def test_a_bucket_with_every_default_declares_its_name_only():
    b = bucket_entry(bucket_state(), {}, "us-east-1", "media_bucket")
    assert (b.fields, b.found) == ({"name": "${media_bucket}"}, [])


def test_what_a_bucket_has_but_the_estate_cannot_declare_is_found():
    state = bucket_state(
        encryption={"algorithm": "aws:kms:dsse", "kms_key": "alias/x", "bucket_key": False},
        versioning="Suspended",
        website={"RedirectAllRequestsTo": {"HostName": "example.com"}},
        cors=[{"AllowedOrigins": ["null"], "AllowedMethods": ["GET"]},
              {"ID": "selfheal-1", "AllowedOrigins": ["https://a.com"], "AllowedMethods": ["GET"]}],
        lifecycle={"rules": [{"ID": "off", "Status": "Disabled", "Expiration": {"Days": 3}},
                             {"ID": "by-tag", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
                              "Expiration": {"Days": 3}},
                             {"ID": "ok", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 3},
                              "Transitions": []}]},
        policy={"Statement": [{"Sid": "Other", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": "arn:aws:s3:::someone-else/*"}]},
        tags={"aws:x": "1", "team": "${not-a-var}"},
    )
    extras = {
        "get_bucket_notification_configuration": {"TopicConfigurations": [{}], "LambdaFunctionConfigurations": [{}, {}],
                                                  "EventBridgeConfiguration": {}},
        "get_bucket_replication": {"ReplicationConfiguration": {"Rules": [{}]}},
        "get_bucket_logging": {"LoggingEnabled": {"TargetBucket": "logs", "TargetPrefix": "media/"}},
        "get_object_lock_configuration": {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}},
    }
    b = bucket_entry(state, extras, "us-east-1", "media_bucket")
    assert b.fields == {
        "name": "${media_bucket}",
        "encryption": {"kms_key": "alias/x", "bucket_key": False},
        "cors": [{"allowed_origins": ["https://a.com"], "allowed_methods": ["GET"]}],  # selfheal's own id left out
        "lifecycle": [{"id": "ok", "expiration_days": 3}],
        "tags": {"team": "$${not-a-var}"},
    }
    found = " | ".join(b.found)
    for part in ("encryption aws:kms:dsse", "versioning suspended", "redirecting every request to example.com",
                 "CORS rule #1 — not declarable (allowed_origins[0]: 'null' is not an origin)",
                 "lifecycle rule off — not declarable (status Disabled)",
                 "lifecycle rule by-tag — not declarable (a filter other than a prefix)",
                 "policy statement Other — not declarable (Resource[0]: 'arn:aws:s3:::someone-else/*' is not this "
                 "bucket)", "tags aws:x", "event notifications (1 to SNS, 2 to Lambda, EventBridge)",
                 "replication (1 rule(s))", "server access logging to logs/media/", "Object Lock"):
        assert part in found, part


def test_unreadable_extras_are_said_not_checked():
    b = bucket_entry(bucket_state(), {"get_bucket_logging": "could not read (AccessDenied: s3:GetBucketLogging)"},
                "us-east-1", "m_bucket")
    assert b.found == ["bucket logging: could not read (AccessDenied: s3:GetBucketLogging) — not checked"]


def test_policy_statements_follow_the_bucket_var_and_keep_literal_placeholders():
    stmt = {"Sid": "Home", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::app-media", "arn:aws:s3:::app-media/${aws:userid}/*"]}
    b = bucket_entry(bucket_state(policy={"Statement": [stmt]}), {}, "us-east-1", "media_bucket")
    assert b.fields["policy"]["statements"][0]["Resource"] == [
        "arn:aws:s3:::${media_bucket}", "arn:aws:s3:::${media_bucket}/$${aws:userid}/*"]
    text = render("estate.schema.json", "Imported.", {"region": "us-east-1", "media_bucket": "app-media"}, {},
                  {"buckets": [b]})
    estate = parse_estate(text, env={})
    assert [s["Resource"] for s in estate.buckets[0].statements] == [stmt["Resource"]]


# --- YAML that reads back as written ------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["${prefix}-users", "yes", "no", "on", "null", "~", "*", "&a", "!x", "2024-01-01", "1e3", "0x1",
                     "a: b", "a #b", "s3:GetObject", "arn:aws:s3:::b/*", "https://a.com", "[x]", "{x}", "-", "? x",
                     "'q'", '"q"', "a,b", " lead", "trail ", "%x", "@x", "`x", "|", ">", "=", "<<",
                     "1:20", "\x85", "a\u2028b", "a\nb", "a\n", ": x", "- x"]),
)


def written(value: object) -> str:
    """`value` as the importer writes it under a key at the top of the file."""
    return _dump(_BLOCK, _mapping({"k": value}, 0))


@settings(max_examples=400, deadline=None)
@given(text=texts)
def test_every_string_reads_back_as_written_in_block_and_flow_context(text):
    assert yaml.safe_load(written(text)) == {"k": text}
    assert yaml.safe_load(written({"a": text})) == {"k": {"a": text}}  # short: in flow style
    assert yaml.safe_load(written({text: "v"})) == {"k": {text: "v"}}
    assert yaml.safe_load(written([text, "x" * 120])) == {"k": [text, "x" * 120]}  # too long: a block list


scalars = st.one_of(texts, st.integers(), st.booleans(), st.none())
# An estate's shapes: a list holds scalars or mappings, never a list.
values = st.recursive(scalars, lambda inner: st.dictionaries(texts, inner, max_size=3) | st.lists(
    scalars | st.dictionaries(texts, inner, max_size=3), max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(value=values)
def test_the_layout_measures_a_value_as_long_as_it_is_written_in_flow_style(value):
    assert _width({"k": value}) == len(_flow_text({"k": value}))


def test_plain_where_plain_is_safe():
    assert written("${prefix}-users") == "k: ${prefix}-users\n"
    assert written({"a": "${prefix}-users"}) == "k: {a: '${prefix}-users'}\n"  # `{` opens a mapping in flow style
    assert written("yes") == "k: 'yes'\n" and written("1:20") == "k: '1:20'\n"  # YAML 1.1 reads a bool, an int
    assert written("*") == "k: '*'\n" and written({"a": "s3:GetObject"}) == "k: {a: s3:GetObject}\n"


def test_a_value_is_in_flow_style_when_its_line_fits_the_width_else_in_block_style():
    short = {"name": "ByStatus", "hash_key": "status", "projection": {"include": ["total"]}}
    assert written([short]) == "k: [{name: ByStatus, hash_key: status, projection: {include: [total]}}]\n"
    long = {f"key{i}": "v" * 10 for i in range(8)}
    lines = written([long, {"a": 1}]).splitlines()
    assert lines[:3] == ["k:", "  - key0: vvvvvvvvvv", "    key1: vvvvvvvvvv"] and lines[-1] == "  - {a: 1}"
    assert max(len(line) for line in written({"a": ["x" * 50] * 2}).splitlines()) <= 118


# --- the driver: every kind's section, generic ---------------------------------------------------------------------


class Clients:
    def account_id(self) -> str:
        return "123456789012"


def test_each_kind_contributes_its_section_vars_and_defaults_and_the_file_is_written_as_a_person_would(monkeypatch):
    # GIVEN each kind's import answering without AWS
    tables, buckets = kind_named("table"), kind_named("bucket")
    monkeypatch.setattr(type(tables), "import_names", lambda self, clients, selection: ["app-orders", "app-users"])
    monkeypatch.setattr(type(tables), "import_entries", lambda self, clients, selection, names: Section(
        [Entry("app-orders", {"name": "${prefix}-orders", "hash_key": "id", "gsis": [{"name": "ByA", "hash_key": "a"}]},
               ["status UPDATING when imported", "# auto scaling not checked (AccessDenied: a permission) — declared "
                "capacity is kept exactly, so it would undo auto scaling, and this note is long enough to wrap"]),
         Entry("app-users", {"name": "${prefix}-users", "hash_key": "email"})],
        defaults={"table_defaults": {"tags": {"team": "x"}}}))
    monkeypatch.setattr(type(buckets), "import_entries", lambda self, clients, selection, names: Section(
        [Entry(name, {"name": "${media_bucket}", "lifecycle": [{"id": f"rule-{i}", "expiration_days": 30}
                                                                for i in range(5)]}) for name in names],
        variables={"media_bucket": "app-media"}))
    # WHEN the driver imports
    selection = Selection("us-east-1", "app", {"bucket": ("app-media", "app-media")})
    imported = import_estate(Clients(), selection, "estate.schema.json", today=datetime.date(2026, 12, 5))
    # THEN each section in the registry's order, the vars and defaults first, notes above their entry
    assert (imported.what, imported.found) == ("2 tables and 1 bucket", 2)
    assert imported.text == """\
# yaml-language-server: $schema=estate.schema.json
# Imported by `selfheal import` from account 123456789012, us-east-1 on 2026-12-05: 2 tables and 1 bucket.
# Values equal to the defaults are left out (docs/estate.md). Lines starting `# found:` mark what exists but the
# estate cannot declare yet: selfheal will not keep it.
version: 1

vars:
  prefix: app
  region: us-east-1
  media_bucket: app-media

table_defaults:
  tags: {team: x}

tables:
  # found: status UPDATING when imported
  # auto scaling not checked (AccessDenied: a permission) — declared capacity is kept exactly, so it would undo auto
  #   scaling, and this note is long enough to wrap
  - name: ${prefix}-orders
    hash_key: id
    gsis: [{name: ByA, hash_key: a}]

  - name: ${prefix}-users
    hash_key: email

buckets:
  - name: ${media_bucket}
    lifecycle:
      - {id: rule-0, expiration_days: 30}
      - {id: rule-1, expiration_days: 30}
      - {id: rule-2, expiration_days: 30}
      - {id: rule-3, expiration_days: 30}
      - {id: rule-4, expiration_days: 30}
"""


def test_a_selection_naming_nothing_or_a_bad_prefix_is_one_line_naming_the_flag():
    with pytest.raises(ImportProblem, match=r"^import: nothing selected — pass --prefix P \(the tables named P-\*\), "
                       r"--table NAME\.\.\. and/or --bucket NAME\.\.\.$"):
        check_selection(None, {"table": (), "bucket": ()})
    with pytest.raises(ImportProblem, match=r"^--prefix 'a b': not the start of a table name — "):
        check_selection("a b", {})


class QueueKind(Kind):  # type: ignore[type-arg]
    """A kind that imports, registered from this module only."""

    name, section, title = "queue", "queues", "SQS queues"
    importable = True
    import_permissions = ("sqs:ListQueues",)
    asked: list[tuple[str, ...]] = []

    def import_entries(self, clients, selection, names):
        self.asked.append(tuple(names))
        return Section([])


@pytest.fixture
def queues():
    kind = register(QueueKind())
    yield kind
    unregister(kind.name)


def test_a_kind_that_imports_gets_its_flag_its_permissions_and_its_count_without_a_generic_change(queues, monkeypatch,
                                                                                                   capsys):
    with pytest.raises(SystemExit):
        cli.main(["import", "--help"])
    help_text = capsys.readouterr().out
    assert "--queue NAME [NAME ...]" in help_text and "these queues" in help_text
    assert "s3:GetBucketObjectLockConfiguration and sqs:ListQueues." in " ".join(help_text.split())
    with pytest.raises(ImportProblem, match=r"--table NAME\.\.\., --bucket NAME\.\.\. and/or --queue NAME\.\.\.$"):
        check_selection(None, {})

    one = Section([Entry("app", {"name": "app", "hash_key": "id"})])  # an estate declares at least one table or bucket
    for kind, section in ((kind_named("table"), one), (kind_named("bucket"), Section([]))):
        monkeypatch.setattr(type(kind), "import_names", lambda self, clients, selection: [])
        monkeypatch.setattr(type(kind), "import_entries", lambda self, clients, selection, names, s=section: s)
    imported = import_estate(Clients(), Selection("us-east-1", None, {"queue": ("jobs", "jobs", "mail")}), "s.json")
    assert queues.asked == [("jobs", "mail")]  # the names given, once each, in order
    assert imported.what == "1 table, 0 buckets and 0 queues"
    assert "queues:" not in imported.text  # a kind with nothing to declare writes no section
