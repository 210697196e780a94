"""Findings on the local AWS: what a declared bucket holds beyond its declaration that widens access or destroys data
makes `plan` exit non-zero naming it, the run's one message names it, and `apply` writes the document without it
where the section is exclusive (a conflict with zero writes where not); harmless extras stay ok and noted. And the
estates the plan refuses: a shorter PITR window, protection off, an index left out, current photos expired.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from selfheal.model import Outcome
from selfheal.notify import compose
from selfheal.spec import EXCLUSIVE_SECTIONS, Estate, LifecycleRule
from tests.functional.helpers import (
    private_bucket,
    public_bucket,
    restart_call_log,
    result,
    run,
    table_spec,
    writes_named,
)

OTHER = "210987654321"


@dataclass(frozen=True)
class Case:
    """One way a bucket can leak or lose data: which bucket, the section, how it is done by hand, what names it,
    and whether it is gone (read back with plain boto3)."""

    bucket: Callable[[Estate], str]
    section: str
    do: Callable[[Any, str], None]
    named: str
    present: Callable[[Any, str], bool]


def _policy(s3: Any, bucket: str) -> list[dict[str, Any]]:
    return list(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"])


def _add_statement(statement: Callable[[str], dict[str, Any]]) -> Callable[[Any, str], None]:
    def do(s3: Any, bucket: str) -> None:
        policy = {"Version": "2012-10-17", "Statement": [*_policy(s3, bucket), statement(bucket)]}
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return do


def _has_sid(sid: str) -> Callable[[Any, str], bool]:
    return lambda s3, bucket: any(s.get("Sid") == sid for s in _policy(s3, bucket))


def _expire_every_photo(s3: Any, bucket: str) -> None:
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    rules.append({"ID": "cleanup", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


def _any_origin_put(s3: Any, bucket: str) -> None:
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    rules.append({"ID": "anyone", "AllowedOrigins": ["*"], "AllowedMethods": ["PUT"]})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})


def _redirect_away(s3: Any, bucket: str) -> None:
    site = s3.get_bucket_website(Bucket=bucket)
    config = {k: site[k] for k in ("IndexDocument", "ErrorDocument") if k in site}
    config["RoutingRules"] = [{"Condition": {"KeyPrefixEquals": ""}, "Redirect": {"HostName": "evil.example.com"}}]
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=config)


def _site(estate: Estate) -> str:
    return public_bucket(estate).name


def _photos(estate: Estate) -> str:
    return private_bucket(estate).name


CASES = {
    "public-put-and-delete-on-the-website": Case(
        _site, "policy",
        _add_statement(lambda b: {"Sid": "Uploads", "Effect": "Allow", "Principal": "*",
                                  "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": f"arn:aws:s3:::{b}/*"}),
        "to anyone (public)", _has_sid("Uploads")),
    "another-account-given-s3-star-on-the-photos": Case(
        _photos, "policy",
        _add_statement(lambda b: {"Sid": "Partner", "Effect": "Allow",
                                  "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": "s3:*",
                                  "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]}),
        f"account {OTHER}", _has_sid("Partner")),
    "every-photo-expired-after-a-day": Case(
        _photos, "lifecycle", _expire_every_photo, "expires current objects after 1 day(s)",
        lambda s3, b: "cleanup" in {r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]}),
    "any-origin-may-put": Case(
        _photos, "cors", _any_origin_put, "allows PUT from any origin",
        lambda s3, b: any("*" in r["AllowedOrigins"] for r in s3.get_bucket_cors(Bucket=b)["CORSRules"])),
    "the-site-redirected-to-another-host": Case(
        _site, "website", _redirect_away, "evil.example.com",
        lambda s3, b: bool(s3.get_bucket_website(Bucket=b).get("RoutingRules"))),
}


def _healed(aws: Any, estate: Estate, bucket: str) -> None:
    """GIVEN the bucket exists as declared."""
    assert result(run(aws.endpoint, estate, "apply", only=(bucket,)), bucket).outcome is Outcome.CREATED


def _exclusive(estate: Estate, bucket: str, sections: tuple[str, ...]) -> Estate:
    return estate.with_section("buckets", tuple(replace(b, exclusive=sections) if b.name == bucket else b
                                                for b in estate.buckets))


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_finding_is_named_by_plan_and_removed_by_apply_where_the_section_is_exclusive(aws, estate, s3, case):
    c = CASES[case]
    bucket = c.bucket(estate)
    _healed(aws, estate, bucket)
    c.do(s3, bucket)
    assert c.present(s3, bucket)

    plan = run(aws.endpoint, estate, "plan", only=(bucket,))
    assert plan.exit_code != 0
    planned = result(plan, bucket)
    assert planned.outcome is Outcome.PENDING
    assert any(c.named in str(ch.old) and ch.path.startswith(f"{c.section}.") for ch in planned.changes), planned

    restart_call_log(aws)
    applied = run(aws.endpoint, estate, "apply", only=(bucket,))
    assert result(applied, bucket).outcome is Outcome.REPAIRED
    message = compose(applied)
    assert message is not None and c.named in message.text
    assert message.subject == f"selfheal: removed a finding from {c.section} on {bucket}"
    assert not c.present(s3, bucket)
    writes = writes_named(aws.calls(), bucket)
    assert len(writes) == 1 and not writes[0]["operation"].startswith("Delete"), writes
    assert run(aws.endpoint, estate, "plan", only=(bucket,)).exit_code == 0  # and everything declared is still there


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_finding_where_the_section_is_not_exclusive_is_a_conflict_and_nothing_is_written(aws, estate, s3, case):
    c = CASES[case]
    bucket = c.bucket(estate)
    _healed(aws, estate, bucket)
    c.do(s3, bucket)
    narrowed = _exclusive(estate, bucket, tuple(s for s in EXCLUSIVE_SECTIONS if s != c.section))

    plan = run(aws.endpoint, narrowed, "plan", only=(bucket,))
    assert plan.exit_code == 1 and c.named in result(plan, bucket).reason

    restart_call_log(aws)
    applied = run(aws.endpoint, narrowed, "apply", only=(bucket,))
    res = result(applied, bucket)
    assert res.outcome is Outcome.CONFLICT
    assert f"add {c.section} to the bucket's `exclusive:`" in res.reason
    message = compose(applied)
    assert message is not None and c.named in message.text and message.subject == f"selfheal: FINDING on {bucket}"
    assert writes_named(aws.calls(), bucket) == []
    assert c.present(s3, bucket)


def test_harmless_extras_stay_ok_and_are_noted(aws, estate, s3):
    """GIVEN an extra tag and a read-only statement for the account's own role on the photos bucket."""
    bucket = _photos(estate)
    _healed(aws, estate, bucket)
    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [*tags, {"Key": "team", "Value": "web"}]})
    _add_statement(lambda b: {"Sid": "OpsRead", "Effect": "Allow",
                              "Principal": {"AWS": "arn:aws:iam::123456789012:role/ops"},
                              "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/*"})(s3, bucket)
    restart_call_log(aws)

    report = run(aws.endpoint, estate, "apply", only=(bucket,))

    res = result(report, bucket)
    assert res.outcome is Outcome.OK and report.exit_code == 0
    assert "tags not declared: team (kept)" in res.notes
    assert "policy not declared: OpsRead (kept)" in res.notes
    assert writes_named(aws.calls(), bucket) == []
    assert compose(report) is None
    assert _has_sid("OpsRead")(s3, bucket)


# --- bad estates the plan refuses, with zero writes -----------------------------------------------------------------

PHOTOS_TABLE = "galerly-photos"


@pytest.mark.parametrize("bad", ["shorter-pitr", "protection-off-and-an-index-left-out"])
def test_a_table_estate_that_would_lose_history_protection_or_an_index_makes_zero_writes(aws, estate, ddb, bad):
    spec = table_spec(estate, PHOTOS_TABLE)
    assert result(run(aws.endpoint, estate, "apply", only=(PHOTOS_TABLE,)), PHOTOS_TABLE).outcome is Outcome.CREATED
    worse = (replace(spec, recovery_days=7) if bad == "shorter-pitr"
             else replace(spec, deletion_protection=False, gsis=spec.gsis[:1]))
    bad_estate = estate.with_section("tables", tuple(worse if t.name == PHOTOS_TABLE else t for t in estate.tables))
    restart_call_log(aws)

    report = run(aws.endpoint, bad_estate, "apply", only=(PHOTOS_TABLE,))

    res = result(report, PHOTOS_TABLE)
    assert writes_named(aws.calls(), PHOTOS_TABLE) == []
    table = ddb.describe_table(TableName=PHOTOS_TABLE)["Table"]
    assert table["DeletionProtectionEnabled"] and len(table["GlobalSecondaryIndexes"]) == len(spec.gsis)
    pitr = ddb.describe_continuous_backups(TableName=PHOTOS_TABLE)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == spec.recovery_days
    if bad == "shorter-pitr":
        assert res.outcome is Outcome.CONFLICT and "never shortens a PITR window" in res.reason
        assert "\n" not in res.reason
    else:
        assert res.outcome is Outcome.OK
        assert any("deletion protection is on though declared off: kept" in n for n in res.notes)
        assert any(f"index {spec.gsis[1].name} is not declared: kept" in n for n in res.notes)


def test_an_estate_expiring_every_current_photo_is_refused_with_zero_writes(aws, estate, s3):
    """A rule built past the loader (which refuses it with one line: tests/unit/test_findings_plan.py)."""
    bucket = _photos(estate)
    _healed(aws, estate, bucket)
    spec = private_bucket(estate)
    worse = replace(spec, lifecycle=(*spec.lifecycle, LifecycleRule("expire-photos", expiration_days=1)))
    restart_call_log(aws)

    report = run(aws.endpoint, estate.with_section("buckets", (worse,)), "apply", only=(bucket,))

    res = result(report, bucket)
    assert res.outcome is Outcome.ERROR and "expire every current object" in res.reason
    assert writes_named(aws.calls(), bucket) == []
    assert "expire-photos" not in {r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
