"""What a bucket holds beyond its declaration: a finding (it widens access or destroys data) is removed where the
section is exclusive and a conflict where not; a harmless extra is kept and noted. And the promise the plan enforces:
no write that expires current objects or young versions without the estate's opt-in, shortens a PITR window, drops
an index or turns deletion protection off. Pure: no AWS here."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import yaml

from selfheal.loader import load_estate, parse_estate
from selfheal.plan import plan_bucket, plan_table
from selfheal.plan.buckets import cors_rule, lifecycle_rule
from selfheal.spec import EXCLUSIVE_SECTIONS, BucketSpec, EstateError, LifecycleRule
from selfheal.state.account import AccountFacts, KeyInfo
from selfheal.state.buckets import BucketState, declared_aspects
from selfheal.state.tables import IndexState, TableState
from tests.support.estates import GALERLY

ESTATE = load_estate(GALERLY, env={})
BUCKETS = {b.name: b for b in ESTATE.buckets}
SITE, PHOTOS = "galerly-frontend-app", "galerly-images-storage"
ACCOUNT = AccountFacts("123456789012")
OTHER = "210987654321"


def healthy(name: str, spec: BucketSpec | None = None) -> BucketState:
    spec = spec or BUCKETS[name]
    aspects = {
        "public_access_block": spec.bpa, "object_ownership": spec.object_ownership,
        "encryption": {"algorithm": spec.encryption, "kms_key": None, "bucket_key": False},
        "versioning": "Enabled" if spec.versioning else None,
        "website": {"IndexDocument": {"Suffix": spec.website.index_document},
                    "ErrorDocument": {"Key": spec.website.error_document}} if spec.website else None,
        "policy": {"Version": "2012-10-17", "Statement": spec.statements} if spec.statements else None,
        "cors": [cors_rule(r, i) for i, r in enumerate(spec.cors)] or None,
        "lifecycle": {"rules": [lifecycle_rule(r) for r in spec.lifecycle]} if spec.lifecycle else None,
        "tags": dict(spec.tags),
        "notifications": {"EventBridgeConfiguration": {}} if spec.mass_delete else None,
    }
    return BucketState(spec.name, True, region="us-east-1", aspects={a: aspects[a] for a in declared_aspects(spec)})


def with_extra(state: BucketState, aspect: str, extra: Any) -> BucketState:
    """The state with one more statement / rule in an aspect's document."""
    a = dict(state.aspects)
    if aspect == "policy":
        doc = a["policy"] or {"Version": "2012-10-17", "Statement": []}
        a["policy"] = {**doc, "Statement": [*doc["Statement"], extra]}
    elif aspect == "cors":
        a["cors"] = [*(a["cors"] or []), extra]
    elif aspect == "lifecycle":
        a["lifecycle"] = {"rules": [*((a["lifecycle"] or {}).get("rules") or []), extra]}
    elif aspect == "website":
        a["website"] = {**a["website"], "RoutingRules": [extra]}
    return replace(state, aspects=a)


PUBLIC_WRITE = {"Sid": "Uploads", "Effect": "Allow", "Principal": "*", "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{SITE}/*"}
OTHER_ACCOUNT_ALL = {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                     "Action": "s3:*", "Resource": [f"arn:aws:s3:::{PHOTOS}", f"arn:aws:s3:::{PHOTOS}/*"]}
EXPIRE_ALL = {"ID": "cleanup", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}
ANY_ORIGIN_PUT = {"ID": "anyone", "AllowedOrigins": ["*"], "AllowedMethods": ["PUT"]}
REDIRECT_AWAY = {"Condition": {"KeyPrefixEquals": ""}, "Redirect": {"HostName": "evil.example.com"}}

# (case, bucket, aspect, the extra, the write that carries its removal, a word the finding names)
CASES = [
    ("public-write-on-the-website", SITE, "policy", PUBLIC_WRITE, "put_bucket_policy", "anyone"),
    ("another-account-s3-star-on-photos", PHOTOS, "policy", OTHER_ACCOUNT_ALL, "put_bucket_policy", OTHER),
    ("every-photo-expired-after-a-day", PHOTOS, "lifecycle", EXPIRE_ALL, "put_bucket_lifecycle_configuration",
     "after 1 day"),
    ("any-origin-put", PHOTOS, "cors", ANY_ORIGIN_PUT, "put_bucket_cors", "any origin"),
    ("redirect-to-another-host", SITE, "website", REDIRECT_AWAY, "put_bucket_website", "evil.example.com"),
]


def _document(step: Any) -> Any:
    p = step.params
    return (json.loads(p["Policy"]) if "Policy" in p else p.get("CORSConfiguration") or p.get("LifecycleConfiguration")
            or p["WebsiteConfiguration"])


@pytest.mark.parametrize(("case", "bucket", "aspect", "extra", "operation", "named"), CASES, ids=[c[0] for c in CASES])
def test_a_finding_in_an_exclusive_section_is_removed_by_a_write_of_the_rest(case, bucket, aspect, extra, operation,
                                                                                named):
    spec = BUCKETS[bucket]
    assert aspect in spec.exclusive_sections  # the default on the public website and the versioned photos
    plan = plan_bucket(spec, with_extra(healthy(bucket), aspect, extra), ACCOUNT)
    assert not plan.in_sync and plan.conflicts == ()
    (step,) = plan.steps
    assert step.operation == operation
    (change,) = step.changes
    assert change.new == "removed" and named in change.old and change.path.startswith(f"{aspect}.")
    document = json.dumps(_document(step))
    assert json.dumps(extra)[:40] not in document  # written without it ...
    if aspect == "policy":  # ... and with everything declared
        assert {s["Sid"] for s in json.loads(step.params["Policy"])["Statement"]} == {
            s["Sid"] for s in spec.statements}


@pytest.mark.parametrize(("case", "bucket", "aspect", "extra", "operation", "named"), CASES, ids=[c[0] for c in CASES])
def test_a_finding_where_the_section_is_not_exclusive_is_a_conflict_with_the_fix(case, bucket, aspect, extra,
                                                                                  operation, named):
    spec = replace(BUCKETS[bucket], exclusive=tuple(s for s in EXCLUSIVE_SECTIONS if s != aspect))
    plan = plan_bucket(spec, with_extra(healthy(bucket), aspect, extra), ACCOUNT)
    assert plan.steps == ()
    (conflict,) = plan.conflicts
    assert named in conflict and f"add {aspect} to the bucket's `exclusive:`" in conflict
    assert "\n" not in conflict


HARMLESS = [
    ("own-account-read", PHOTOS, "policy", {"Sid": "Ops", "Effect": "Allow",
                                             "Principal": {"AWS": "arn:aws:iam::123456789012:role/ops"},
                                             "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{PHOTOS}/*"}),
    ("a-second-public-read", SITE, "policy", {"Sid": "AlsoRead", "Effect": "Allow", "Principal": "*",
                                              "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{SITE}/*"}),
    ("a-deny", PHOTOS, "policy", {"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*",
                                   "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{PHOTOS}/*"}),
    ("named-origin-put", PHOTOS, "cors", {"ID": "admin", "AllowedOrigins": ["https://admin.galerly.com"],
                                          "AllowedMethods": ["PUT"]}),
    ("any-origin-get", PHOTOS, "cors", {"ID": "thumbs", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}),
    ("old-versions-after-a-year", PHOTOS, "lifecycle", {"ID": "tidy", "Status": "Enabled", "Filter": {"Prefix": ""},
                                                        "NoncurrentVersionExpiration": {"NoncurrentDays": 365}}),
    ("a-disabled-expiration", PHOTOS, "lifecycle", {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": ""},
                                                    "Expiration": {"Days": 1}}),
    ("redirect-within-the-site", SITE, "website", {"Condition": {"KeyPrefixEquals": "old/"},
                                                   "Redirect": {"ReplaceKeyPrefixWith": "new/"}}),
]


@pytest.mark.parametrize(("case", "bucket", "aspect", "extra"), HARMLESS, ids=[c[0] for c in HARMLESS])
def test_a_harmless_extra_is_kept_and_noted(case, bucket, aspect, extra):
    plan = plan_bucket(BUCKETS[bucket], with_extra(healthy(bucket), aspect, extra), ACCOUNT)
    assert plan.in_sync, plan
    assert any(n.startswith(f"{aspect} not declared: ") and n.endswith("(kept)") for n in plan.notes), plan.notes


def test_an_undeclared_tag_stays_ok_and_noted():
    state = healthy(PHOTOS)
    state = replace(state, aspects={**state.aspects, "tags": {**state.aspects["tags"], "team": "web"}})
    plan = plan_bucket(BUCKETS[PHOTOS], state, ACCOUNT)
    assert plan.in_sync and "tags not declared: team (kept)" in plan.notes


def test_an_undeclared_policy_that_is_all_finding_is_a_conflict_never_a_delete():
    """A bucket declaring no policy whose whole policy is a finding: removing it would delete the document."""
    spec = BucketSpec("app-data", "us-east-1", versioning=True)
    state = with_extra(healthy("app-data", spec), "policy", {**OTHER_ACCOUNT_ALL, "Resource": "arn:aws:s3:::app-data"})
    plan = plan_bucket(spec, state, ACCOUNT)
    assert plan.steps == ()
    (conflict,) = plan.conflicts
    assert OTHER in conflict and "delete the bucket's policy by hand" in conflict


def test_an_undeclared_section_is_read_and_its_findings_found():
    """Policy, CORS and lifecycle are read on every bucket, declared or not."""
    spec = BucketSpec("app-data", "us-east-1")
    assert {"policy", "cors", "lifecycle"} <= set(declared_aspects(spec))
    assert spec.exclusive_sections == ()  # private and unversioned: a finding is a conflict to look at
    plan = plan_bucket(spec, with_extra(healthy("app-data", spec), "cors", ANY_ORIGIN_PUT), ACCOUNT)
    assert plan.steps == () and "any origin" in plan.conflicts[0]


@pytest.mark.parametrize(("condition", "action", "finding"), [
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, "s3:PutObject", True),  # anyone from those addresses
    ({"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}, "s3:DeleteObject", True),
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, "s3:GetObject", False),  # a read, narrowed
    ({"StringEquals": {"aws:PrincipalAccount": "123456789012"}}, "s3:PutObject", False),  # this account's own
    ({"StringEquals": {"aws:PrincipalAccount": OTHER}}, "s3:PutObject", True),
])
def test_a_narrowed_public_statement_is_a_finding_when_it_writes_for_others(condition, action, finding):
    stmt = {"Sid": "Narrowed", "Effect": "Allow", "Principal": "*", "Action": action,
            "Resource": f"arn:aws:s3:::{PHOTOS}/*", "Condition": condition}
    plan = plan_bucket(BUCKETS[PHOTOS], with_extra(healthy(PHOTOS), "policy", stmt), ACCOUNT)
    if finding:
        (step,) = plan.steps
        assert "to anyone its condition admits" in step.changes[0].old
    else:
        assert plan.in_sync and "policy not declared: Narrowed (kept)" in plan.notes


def test_a_principal_whose_account_is_unknown_is_a_finding():
    stmt = {**OTHER_ACCOUNT_ALL, "Principal": {"AWS": "AIDAEXAMPLEUSERID1234"}, "Action": "s3:GetObject"}
    plan = plan_bucket(BUCKETS[PHOTOS], with_extra(healthy(PHOTOS), "policy", stmt), ACCOUNT)
    assert "an unidentified principal" in plan.steps[0].changes[0].old


# --- the estate's exclusive switch ----------------------------------------------------------------------------------


def _bucket(**fields: Any) -> str:
    return yaml.safe_dump({"buckets": [{"name": "app-bucket", **fields}]}, sort_keys=False)


@pytest.mark.parametrize(("value", "sections"), [
    (None, ()), (True, EXCLUSIVE_SECTIONS), (False, ()), (["cors", "policy"], ("cors", "policy"))])
def test_exclusive_is_true_false_or_a_list_of_sections(value, sections):
    fields = {} if value is None else {"exclusive": value}
    (spec,) = parse_estate(_bucket(**fields), source="estate.yaml").buckets
    assert spec.exclusive_sections == sections


def test_exclusive_defaults_on_for_the_shipped_public_and_versioned_buckets():
    assert BUCKETS[SITE].exclusive_sections == BUCKETS[PHOTOS].exclusive_sections == EXCLUSIVE_SECTIONS
    (spec,) = parse_estate(_bucket(versioning=True, exclusive=False), source="estate.yaml").buckets
    assert spec.exclusive_sections == ()


def test_an_unknown_exclusive_section_is_one_line_naming_the_choices():
    with pytest.raises(EstateError) as exc:
        parse_estate(_bucket(exclusive=["acl"]), source="estate.yaml")
    assert exc.value.path.startswith("buckets[0].exclusive")
    assert "\n" not in str(exc.value)


# --- the promise, enforced in the plan ------------------------------------------------------------------------------


@pytest.mark.parametrize(("bucket", "rule", "fragment"), [
    ({"versioning": True}, {"id": "x", "expiration_days": 1}, "expire every current object"),
    ({}, {"id": "x", "noncurrent_version_expiration_days": 7}, "old versions"),
])
def test_a_rule_that_deletes_data_for_good_is_refused_unless_the_estate_accepts_it(bucket, rule, fragment):
    with pytest.raises(EstateError) as exc:
        parse_estate(_bucket(**bucket, lifecycle=[rule]), source="estate.yaml")
    assert exc.value.path == "buckets[0].lifecycle[0]"
    assert fragment in exc.value.problem and "accept_data_loss: true" in exc.value.fix
    assert "\n" not in str(exc.value)
    (spec,) = parse_estate(_bucket(**bucket, lifecycle=[{**rule, "accept_data_loss": True}]),
                           source="estate.yaml").buckets
    assert spec.lifecycle[0].accept_data_loss
    assert plan_bucket(spec, healthy("app-bucket", replace(spec, lifecycle=())), ACCOUNT).error is None


def test_an_expiration_on_an_unversioned_bucket_and_thirty_day_versions_need_no_opt_in():
    parse_estate(_bucket(lifecycle=[{"id": "tmp", "prefix": "tmp/", "expiration_days": 1}]), source="estate.yaml")
    parse_estate(_bucket(versioning=True, lifecycle=[{"id": "v", "noncurrent_version_expiration_days": 30}]),
                 source="estate.yaml")


def test_the_plan_refuses_a_destructive_rule_built_past_the_loader_with_zero_writes():
    spec = replace(BUCKETS[PHOTOS], lifecycle=(LifecycleRule("expire-photos", expiration_days=1),))
    plan = plan_bucket(spec, healthy(PHOTOS), ACCOUNT)
    assert plan.steps == () and "expire every current object" in (plan.error or "")
    missing = plan_bucket(spec, BucketState(PHOTOS, False), ACCOUNT)
    assert missing.steps == () and missing.error


TABLE = next(t for t in ESTATE.tables if t.name == "galerly-photos")
KEY = KeyInfo("arn:aws:kms:us-east-1:123456789012:key/managed", True)


def table_state(**fields: Any) -> TableState:
    spec = TABLE
    base = TableState(
        name=spec.name, exists=True, status="ACTIVE", arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{spec.name}",
        hash_key=spec.hash_key, range_key=spec.range_key,
        gsis=tuple(IndexState(g.name, g.hash_key, g.range_key, g.projection) for g in spec.gsis),
        billing=spec.billing, sse_type="KMS", kms_key_arn=KEY.arn, deletion_protection=True, stream=spec.stream,
        pitr=True, recovery_days=35, ttl_attribute=spec.ttl, ttl_status="ENABLED" if spec.ttl else "DISABLED",
        tags=spec.tags)
    return replace(base, **fields)


def test_a_shorter_pitr_window_is_refused_with_zero_writes():
    plan = plan_table(replace(TABLE, recovery_days=7), table_state(), KEY)
    assert plan.steps == ()
    (conflict,) = plan.conflicts
    assert "never shortens a PITR window" in conflict and "declare 35" in conflict


def test_a_window_shorter_than_declared_is_lengthened():
    plan = plan_table(TABLE, table_state(recovery_days=7), KEY)
    (step,) = plan.steps
    assert step.params["PointInTimeRecoverySpecification"]["RecoveryPeriodInDays"] == 35


def test_protection_declared_off_and_an_index_left_undeclared_make_zero_writes():
    spec = replace(TABLE, deletion_protection=False, gsis=TABLE.gsis[:1])
    plan = plan_table(spec, table_state(), KEY)
    assert plan.steps == () and plan.conflicts == ()
    assert any("deletion protection is on though declared off: kept" in n for n in plan.notes)
    assert any(f"index {TABLE.gsis[1].name} is not declared: kept" in n for n in plan.notes)


def test_an_undeclared_stream_is_noted_and_kept():
    plan = plan_table(TABLE, table_state(stream="NEW_IMAGE"), KEY)
    assert plan.steps == ()
    assert any(n.startswith("stream NEW_IMAGE is on though not declared: kept") for n in plan.notes)


def test_without_the_account_id_a_named_principal_is_a_conflict_never_removed():
    """Whose a principal is cannot be told when the account's id could not be read: it may be this account's own."""
    stmt = {**OTHER_ACCOUNT_ALL, "Principal": {"AWS": "arn:aws:iam::123456789012:role/ops"}}
    plan = plan_bucket(BUCKETS[PHOTOS], with_extra(healthy(PHOTOS), "policy", stmt), AccountFacts(problem="no sts"))
    assert plan.steps == ()
    assert "could not be read" in plan.conflicts[0]
