"""Property: any event either is one of the three shapes the function handles, or is refused — never a crash of
another kind, never an AWS write, never a response PUT to a URL the event did not give.

Generated events mix the real shapes (events/*.json), mutations of them (fields dropped, retyped, renamed) and
arbitrary JSON. Valid events that would write (apply, CloudFormation Create/Update) are left out so every example
can assert zero writes; those are covered by tests/functional/test_handler.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.invoke import LambdaContext, ResponseServer, load_handler
from selfheal.spec import EstateError

ROOT = Path(__file__).resolve().parents[2]
EVENTS = {p.stem: json.loads(p.read_text()) for p in (ROOT / "events").glob("*.json")}
NAMES = ["galerly-users", "galerly-frontend-app", "no-such-table", ""]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=8)
manual = st.fixed_dictionaries(
    {"action": st.one_of(st.sampled_from(["plan", "status", "Plan", "delete", ""]), scalars)},
    optional={"only": st.one_of(st.lists(st.sampled_from(NAMES), max_size=2), scalars),
              "extra": scalars},
)
scheduled = st.builds(
    lambda base, detail_type, drop: {k: v for k, v in {**base, "detail-type": detail_type}.items() if k != drop},
    st.just(EVENTS["scheduled"]),
    st.one_of(st.just("Scheduled Event"), st.sampled_from(["Object Created", ""]), scalars),
    st.sampled_from([None, "source", "detail-type", "time"]),
)
CFN_URL = "<local response server>"
cloudformation = st.builds(
    lambda base, request_type, url, drop: {
        k: v for k, v in {**base, "RequestType": request_type, "ResponseURL": url}.items() if k != drop},
    st.sampled_from([EVENTS["cfn-delete"], EVENTS["cfn-create"]]),
    st.one_of(st.just("Delete"), st.sampled_from(["delete", "Remove", ""]), scalars),
    # a URL the test serves, or ones the handler must refuse: never a real https address (crhelper retries forever)
    st.one_of(st.just(CFN_URL), st.sampled_from(["", "ftp://x/y", "http://example.com/r", "/relative"]), scalars),
    st.sampled_from([None, "StackId", "RequestId", "LogicalResourceId", "ResourceType", "ResponseURL"]),
)
# The three real shapes, unchanged, weigh as much as all the mutations: both sides of the property get exercised.
valid = st.one_of(
    st.fixed_dictionaries({"action": st.sampled_from(["plan", "status"])},
                          optional={"only": st.lists(st.sampled_from(NAMES[:2]), max_size=2, unique=True)}),
    st.just(EVENTS["scheduled"]),
    st.just({**EVENTS["cfn-delete"], "ResponseURL": CFN_URL}),
)
events = st.one_of(valid, st.one_of(manual, scheduled, cloudformation, json_values))
SEEN: set[str] = set()


@pytest.fixture(scope="module")
def app() -> Any:
    return load_handler()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=events)
def test_any_event_is_handled_as_one_of_three_shapes_or_refused_without_writes(app, aws, event) -> None:
    # GIVEN an empty account (a scheduled run there trips the guard and writes nothing)
    aws.reset_calls()
    with ResponseServer() as server:
        if isinstance(event, dict) and event.get("ResponseURL") == CFN_URL:
            event = {**event, "ResponseURL": server.url}

        # WHEN the function is invoked with it
        try:
            result = app.lambda_handler(event, LambdaContext(timeout_s=60))
            refused = None
        except (app.InvalidEvent, EstateError) as exc:  # anything else fails the property
            result, refused = None, exc

        puts = list(server.requests)

    # THEN: no AWS write, ever; a response only for a CloudFormation request, exactly one, to the URL it gave
    assert aws.writes() == [], aws.writes()
    if refused is not None:
        assert str(refused) and "—" in str(refused)  # the message names the problem and the fix
        assert puts == []
        SEEN.add("refused")
        return
    assert isinstance(event, dict)
    if "RequestType" in event:
        assert result is None and len(puts) == 1 and event["ResponseURL"] == server.url
        assert puts[0]["method"] == "PUT" and puts[0]["body"]["Status"] == "SUCCESS"
        SEEN.add("cloudformation")
    else:
        assert puts == []
        assert event.get("source") == "aws.events" or event.get("action") in ("plan", "status")
        assert result["trigger"] in ("schedule", "manual")
        SEEN.add(result["trigger"])
    SEEN.add("handled")


def test_the_property_saw_every_shape_and_refusals() -> None:
    # runs after the property in this module: the generator reached each branch, so the property meant something
    assert SEEN >= {"cloudformation", "schedule", "manual", "handled", "refused"}
