"""Change events, pure: every event name the rule listens to routes to the resource it names; the function's own
calls, undeclared resources and failed calls are ignored; the template's rule and the handler list the same names;
the message for a run names the change, the caller and what was done."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from selfheal import notify
from selfheal.change import Change, Ignored, events, is_change_event, route, sources
from selfheal.followup import Followup
from selfheal.kinds import kind_named
from selfheal.kinds.buckets import ACCOUNT_EVENTS
from selfheal.loader import load_estate
from selfheal.model import Change as Diff
from selfheal.model import Outcome, ResourceResult
from selfheal.report import Report
from tests.support.estates import GALERLY
from tests.support.iam import load_template

ROOT = Path(__file__).resolve().parents[2]
ESTATE = load_estate(GALERLY, env={})
ROLE = "arn:aws:iam::123456789012:role/selfheal-FunctionRole-ABC123"
TABLE_EVENTS = kind_named("table").events
BUCKET_EVENTS = kind_named("bucket").events - ACCOUNT_EVENTS
BACKUP_EVENTS = kind_named("backup").events


def event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


def with_detail(base: dict[str, Any], **detail: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out["detail"].update(detail)
    return out


TABLE_EVENT = event("change-table-deleted.json")
BUCKET_EVENT = event("change-bucket-public.json")


@pytest.mark.parametrize("name", sorted(TABLE_EVENTS))
def test_every_table_event_routes_to_the_table_by_name_or_arn(name: str) -> None:
    by_name = with_detail(TABLE_EVENT, eventName=name, requestParameters={"tableName": "galerly-users"})
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/galerly-users"
    by_arn = with_detail(TABLE_EVENT, eventName=name, requestParameters={"resourceArn": arn})
    for e in (by_name, by_arn):
        routed = route(e, ESTATE, ROLE)
        assert isinstance(routed, Change) and routed.resources == ("galerly-users",), routed


@pytest.mark.parametrize("name", sorted(BUCKET_EVENTS))
def test_every_bucket_event_routes_to_the_bucket(name: str) -> None:
    e = with_detail(BUCKET_EVENT, eventName=name, requestParameters={"bucketName": "galerly-frontend-app"})
    routed = route(e, ESTATE, ROLE)
    assert isinstance(routed, Change) and routed.resources == ("galerly-frontend-app",)


@pytest.mark.parametrize("name", sorted(ACCOUNT_EVENTS))
def test_an_account_public_access_block_change_concerns_the_public_buckets(name: str) -> None:
    routed = route(with_detail(BUCKET_EVENT, eventName=name, requestParameters={"AccountId": "123456789012"}),
                   ESTATE, ROLE)
    assert isinstance(routed, Change) and routed.resources == tuple(b.name for b in ESTATE.buckets if b.is_public)


def test_the_caller_address_and_time_come_from_cloudtrail() -> None:
    routed = route(BUCKET_EVENT, ESTATE, ROLE)
    assert isinstance(routed, Change)
    assert routed.caller.endswith("assumed-role/AWSReservedSSO_Developer_0123456789abcdef/dana@galerly.com")
    assert (routed.source_ip, routed.time, routed.event_name) == ("203.0.113.24", "2026-12-02T09:00:41Z",
                                                                   "PutBucketPolicy")


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/x/selfheal",
                           "sessionContext": {"sessionIssuer": {"arn": ROLE}}}}, "made by selfheal itself"),
        ({"requestParameters": {"tableName": "other-app-users"}}, "does not declare"),
        ({"requestParameters": {"resourceArn": "arn:aws:dynamodb:us-east-1:1:table/other-app/stream/x"}},
         "does not declare"),
        ({"errorCode": "AccessDenied"}, "nothing changed"),
        ({"eventName": "DescribeTable"}, "changes nothing the estate declares"),
    ],
)
def test_what_is_not_ours_to_heal_is_ignored(changed: dict[str, Any], reason: str) -> None:
    routed = route(with_detail(TABLE_EVENT, **changed), ESTATE, ROLE)
    assert isinstance(routed, Ignored) and reason in routed.reason


def test_an_undeclared_bucket_is_ignored() -> None:
    e = with_detail(BUCKET_EVENT, requestParameters={"bucketName": "someone-elses-bucket"})
    assert isinstance(route(e, ESTATE, ROLE), Ignored)


@pytest.mark.parametrize(
    ("broken", "field"),
    [({"detail": "x"}, "detail must be an object"), ({"detail": {"eventSource": "s3.amazonaws.com"}}, "eventName"),
     ({"detail": {"eventName": "DeleteTable", "eventSource": "s3.amazonaws.com"}}, "eventSource")],
)
def test_a_malformed_change_event_is_refused_naming_the_field(broken: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        route({**TABLE_EVENT, **broken}, ESTATE, ROLE)


def test_the_rule_in_the_template_listens_to_exactly_the_names_the_handler_routes() -> None:
    function = load_template(ROOT / "template.yaml")["Resources"]["Function"]["Properties"]
    pattern = function["Events"]["Changes"]["Properties"]["Pattern"]
    every = TABLE_EVENTS | BUCKET_EVENTS | ACCOUNT_EVENTS | BACKUP_EVENTS
    assert set(pattern["detail"]["eventName"]) == events() == every
    assert set(pattern["source"]) == set(sources())
    assert set(pattern["detail"]["eventSource"]) == set(sources().values())
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    assert (pattern["account"], pattern["region"]) == ([{"Ref": "AWS::AccountId"}], [{"Ref": "AWS::Region"}])


@pytest.mark.parametrize(("account", "region"), [("999999999999", "us-east-1"), ("123456789012", "eu-west-1"),
                                                 (None, None)])
def test_a_change_in_another_account_or_region_is_ignored(account: str | None, region: str | None) -> None:
    # GIVEN the stack's home is 123456789012 / us-east-1, and an event naming a declared table elsewhere
    moved = {**TABLE_EVENT, "account": account, "region": region}

    routed = route(moved, ESTATE, ROLE, ("123456789012", "us-east-1"))

    assert isinstance(routed, Ignored) and "this stack heals account 123456789012, region us-east-1" in routed.reason
    assert isinstance(route(TABLE_EVENT, ESTATE, ROLE, ("123456789012", "us-east-1")), Change)


# --- the message ---------------------------------------------------------------------------------------------


def report_of(*results: ResourceResult, trigger: str = "change") -> Report:
    report = Report("apply", trigger)
    report.results = list(results)
    return report


def test_a_removed_finding_is_named_first_in_the_subject_and_a_kept_one_is_a_finding_not_a_mere_conflict() -> None:
    removed = ResourceResult("bucket", "photos", Outcome.REPAIRED,
                             [Diff("tags.app", None, "galerly"),
                              Diff("cors.anyone", "finding: allows PUT from any origin (*)", "removed")])
    kept = ResourceResult("bucket", "site", Outcome.CONFLICT,
                          reason="finding: policy Uploads: allows s3:PutObject to anyone (public) — kept, since ...")
    message = notify.compose(report_of(removed, kept))
    assert message is not None
    assert message.subject == "selfheal: removed a finding from cors, repaired tags on photos, FINDING on site"
    assert "found cors.anyone: finding: allows PUT from any origin (*), now removed" in message.text
    assert "not changed: finding: policy Uploads: allows s3:PutObject to anyone (public)" in message.text


def test_a_healed_run_names_the_change_the_caller_and_the_fix() -> None:
    change = route(BUCKET_EVENT, ESTATE, ROLE)
    assert isinstance(change, Change)
    healed = ResourceResult("bucket", "galerly-images-storage", Outcome.REPAIRED,
                            [Diff("public_access_block.block_public_policy", False, True),
                             Diff("policy.Oops", "public Allow to *", "removed (bucket is private)")],
                            reason="2 setting(s) repaired")
    message = notify.compose(report_of(healed), change)
    assert message is not None
    assert message.subject == ("selfheal: repaired policy, public access block on galerly-images-storage")
    assert len(message.subject) <= 100 and message.subject.isascii()
    assert "Caused by: PutBucketPolicy by arn:aws:sts::123456789012:assumed-role/" in message.text
    assert "from 203.0.113.24, at 2026-12-02T09:00:41Z" in message.text
    assert "found policy.Oops: public Allow to *, now removed (bucket is private)" in message.text
    assert "done: 2 setting(s) repaired" in message.text
    assert message.document["change"]["caller"] == change.caller
    assert message.attributes["healed"] == {"DataType": "Number", "StringValue": "1"}


def test_restores_and_unfinished_work_are_in_the_subject_and_the_body() -> None:
    restored = ResourceResult("table", "galerly-photos", Outcome.RESTORED, [Diff("pitr", False, "enabled, 35 days")],
                              reason="restore finished; 1 setting(s) set", details={"items": 2000})
    restoring = ResourceResult("table", "galerly-users", Outcome.RESTORING, reason="restoring from backup x")
    message = notify.compose(report_of(restored, restoring, trigger="followup"),
                             handed_over=Followup(2, "selfheal-followup-02", None, problem="boom"))
    assert message is not None
    assert message.subject == "selfheal: restored galerly-photos (2,000 items), restoring galerly-users"
    assert "in progress: restoring from backup x" in message.text and "Follow-up: boom" in message.text


def test_a_healthy_run_says_nothing() -> None:
    assert notify.compose(report_of(ResourceResult("table", "t", Outcome.OK))) is None


def test_a_long_subject_is_cut_to_sns_limit() -> None:
    many = [ResourceResult("table", f"galerly-table-number-{i}", Outcome.CREATED) for i in range(12)]
    message = notify.compose(report_of(*many))
    assert message is not None and len(message.subject) <= 100 and message.subject.endswith("...")


@pytest.mark.parametrize("source", [["aws.dynamodb"], {"s": "aws.s3"}, None, 7])
def test_a_change_event_whose_source_is_not_a_string_is_not_a_change_event(source):
    # EventBridge's source is a string; anything else is some other shape, refused by the face, never a TypeError here
    assert is_change_event({"detail-type": "AWS API Call via CloudTrail", "source": source}) is False


def test_cloudtrail_text_is_shown_literally_in_chat_never_as_markup() -> None:
    # GIVEN a change whose caller and address (written by whoever made the call) carry markdown: a link, emphasis,
    # a line break that would start a heading, an HTML-ish mention
    change = Change("PutBucketPolicy", ("galerly-images-storage",),
                    "arn:aws:sts::123456789012:assumed-role/x/[ok](https://evil.example)*\n# urgent <!here>",
                    "203.0.113.24`", "2026-12-02T09:00:41Z")
    healed = ResourceResult("bucket", "galerly-images-storage", Outcome.REPAIRED, [Diff("cors.0", None, "x")])
    message = notify.compose(report_of(healed), change)
    assert message is not None
    sent: list[dict[str, Any]] = []

    class Sns:
        def publish(self, **kwargs: Any) -> None:
            sent.append(kwargs)

    class Clients:
        def client(self, service: str) -> Sns:
            return Sns()

    assert notify.publish(Clients(), "arn:aws:sns:us-east-1:123456789012:alarms", message) is None

    body = json.loads(sent[0]["Message"])
    chat = json.loads(body["https"])["content"]["description"]
    caused = next(line for line in chat.splitlines() if line.startswith("Caused by"))
    # THEN the caller stays on its line and every markup character is escaped: no link, emphasis, heading or tag
    assert r"\[ok\]\(https://evil\.example\)\* \# urgent \<\!here\>" in caused
    assert "203\\.0\\.113\\.24\\`" in caused
    assert not any(line.lstrip().startswith("#") for line in chat.splitlines())
    assert "[ok](https://evil.example)* # urgent <!here>" in body["email"]  # plain text keeps the words as they are
