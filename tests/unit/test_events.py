"""The events the Lambda handles, parsed into typed events (selfheal/events.py) before any AWS call: Powertools' event
data class for CloudFormation, EventBridge's envelope and this function's own shape for a manual event.

GIVEN an event (a file in events/, a variation, or arbitrary JSON) WHEN it is parsed THEN it is exactly one typed
event with the fields the handler reads, or InvalidEvent naming the problem and the fix — never another error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.events import (
    ChangeEvent,
    DeletionEvent,
    EventBridgeEnvelope,
    FollowupEvent,
    InvalidEvent,
    ManualEvent,
    ScheduledEvent,
    is_cloudformation,
    parse,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
TYPES = {
    "cfn-create": CloudFormationCustomResourceEvent, "cfn-update": CloudFormationCustomResourceEvent,
    "cfn-delete": CloudFormationCustomResourceEvent, "scheduled": ScheduledEvent, "followup": FollowupEvent,
    "change-table-deleted": ChangeEvent, "change-pitr-off": ChangeEvent, "change-bucket-public": ChangeEvent,
    "manual-plan": ManualEvent, "manual-apply": ManualEvent, "manual-status": ManualEvent, "drill": ManualEvent,
    "s3-object-deleted": DeletionEvent,
}


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def test_every_event_file_has_its_type() -> None:
    assert sorted(p.stem for p in EVENTS.glob("*.json")) == sorted(TYPES)


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_event_file_parses_into_exactly_its_type(name: str) -> None:
    parsed = parse(load(name))

    assert type(parsed) is TYPES[name]
    assert is_cloudformation(parsed) == name.startswith("cfn-")


def test_typed_fields_read_what_the_handler_needs() -> None:
    request = parse(load("cfn-delete"))
    assert isinstance(request, CloudFormationCustomResourceEvent)
    assert (request.request_type, request.physical_resource_id) == ("Delete", load("cfn-delete")["PhysicalResourceId"])
    assert request.stack_id.startswith("arn:aws:cloudformation:")

    scheduled = parse(load("scheduled"))
    assert isinstance(scheduled, EventBridgeEnvelope) and scheduled.detail_type == "Scheduled Event"
    assert scheduled.source == "aws.events" and scheduled.raw_event is not None

    change = parse(load("change-pitr-off"))
    assert isinstance(change, ChangeEvent) and change.source == "aws.dynamodb"
    assert change.detail["eventName"] == "UpdateContinuousBackups"

    followup = parse({**load("followup"), "detail": {"link": 3, "only": ["galerly-users"]}})
    assert isinstance(followup, FollowupEvent) and (followup.link, followup.only) == (3, ("galerly-users",))
    assert parse(load("followup")).only == ()  # type: ignore[union-attr]

    assert parse(load("manual-status")) == ManualEvent("status", ("galerly-users", "galerly-images-storage"))
    assert parse({"action": "apply"}) == ManualEvent("apply")

    assert parse(load("drill")) == ManualEvent("drill")
    pending = {"kind": "table", "name": "galerly-users", "scratch": "galerly-users-drill-202612050300"}
    handed = parse({"action": "drill", "resume": [pending], "done": [], "link": 2})
    assert handed == ManualEvent("drill", resume=(pending,), link=2)


REFUSED = {
    "a list": ([1], "must be a JSON object"),
    "a follow-up without a link": ({**load("followup"), "detail": {}}, "detail.link must be a whole number"),
    "a follow-up whose only is a string": ({**load("followup"), "detail": {"link": 1, "only": "galerly-users"}},
                                           "detail.only must be a list"),
    "an EventBridge event of another kind": ({"source": "aws.events", "detail-type": "Object Created"},
                                             "only scheduled events"),
    "an action that is not a string": ({"action": ["plan"]},
                                       r"action \['plan'\] is not one of plan, apply, status, drill"),
    "a plan with a drill's hand-over": ({"action": "plan", "resume": []}, "unknown field"),
    "a drill whose hand-over is not a list": ({"action": "drill", "resume": {"name": "x"}},
                                              "resume and done must be lists of objects"),
    "an only with an empty name": ({"action": "plan", "only": [""]}, "only must be a list of declared resource names"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_is_not_handled_is_refused_naming_the_fix(case: str) -> None:
    event, message = REFUSED[case]

    with pytest.raises(InvalidEvent, match=message) as refused:
        parse(event)

    assert "—" in str(refused.value)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=8)
shapes = st.builds(
    lambda base, key, value: {**base, key: value},
    st.sampled_from([load(name) for name in TYPES]),
    st.sampled_from(["action", "only", "source", "detail-type", "detail", "RequestType", "ResponseURL", "StackId"]),
    json_values,
)


@settings(max_examples=300)
@given(event=st.one_of(json_values, shapes))
def test_any_event_is_one_typed_event_or_refused(event: Any) -> None:
    try:
        parsed = parse(event)
    except InvalidEvent as exc:
        assert "—" in str(exc)  # the problem, then the fix
        return
    assert isinstance(parsed, tuple(set(TYPES.values())))
    if isinstance(parsed, FollowupEvent):
        assert parsed.link >= 1  # what was accepted reads without error
    if isinstance(parsed, ManualEvent):
        assert parsed.action in ("plan", "apply", "status", "drill")
        assert all(isinstance(n, str) and n for n in parsed.only)
