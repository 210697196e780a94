"""The events the Lambda handles (see events/*.json), parsed into typed events before any AWS call.

CloudFormation's custom-resource requests are Powertools' event data class, imported only when one arrives; a
follow-up, a change, a deleted object and the nightly schedule are EventBridge events (`EventBridgeEnvelope`) told apart
by their source and detail-type; a manual event is this function's own shape. Anything else raises `InvalidEvent`, whose
message names the problem and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard
from urllib.parse import urlsplit

from .model import Action, clip

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent

# in the order messages list them; drill: the scheduled drill's event (its own function and role: template.yaml)
ACTIONS: dict[str, Action] = {"plan": "plan", "apply": "apply", "status": "status", "drill": "drill"}
MANUAL_FIELDS = ("action", "only")
DRILL_FIELDS = ("resume", "done", "link")  # a drill handing over to itself: its pending restores, its results
CFN_FIELDS = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId", "ResourceType")
CFN_REQUEST_TYPES = ("Create", "Update", "Delete")
SCHEDULED = "Scheduled Event"  # EventBridge's detail-type for a schedule rule's event

SHAPES = ("send a CloudFormation custom-resource request, an EventBridge scheduled event, a CloudTrail change "
          'event ("detail-type": "AWS API Call via CloudTrail"), an S3 "Object Deleted" event, or '
          '{"action": "plan" | "apply" | "status" | "drill", "only": [names]} (see events/)')


class InvalidEvent(ValueError):
    """The event is not one this function handles; the message names the problem and the fix."""


class EventBridgeEnvelope:
    """An EventBridge event: the envelope fields selfheal reads, and the event as it came (raw_event)."""

    # Own, not Powertools' EventBridgeEvent: any Powertools data class imports all ~33 of its event modules (~23 ms).
    __slots__ = ("raw_event",)

    def __init__(self, raw_event: dict[str, Any]) -> None:
        self.raw_event = raw_event

    @property
    def source(self) -> str:
        return str(self.raw_event["source"])

    @property
    def detail_type(self) -> str:
        return str(self.raw_event["detail-type"])

    @property
    def detail(self) -> dict[str, Any]:
        detail = self.raw_event.get("detail")
        return detail if isinstance(detail, dict) else {}


class ScheduledEvent(EventBridgeEnvelope):
    """A schedule rule's event (source aws.events, detail-type "Scheduled Event"): the nightly run."""


class ChangeEvent(EventBridgeEnvelope):
    """A CloudTrail record of an API call, as EventBridge delivers it; selfheal/change.py reads what it names."""


class DeletionEvent(EventBridgeEnvelope):
    """S3's notification of a deleted object (source aws.s3, detail-type "Object Deleted"): counted toward its
    bucket's mass-delete warning (selfheal/massdelete.py)."""


class FollowupEvent(EventBridgeEnvelope):
    """What a follow-up schedule sends (selfheal/followup.py made it): the link and the resources to look at."""

    @property
    def link(self) -> int:
        from . import followup  # noqa: PLC0415

        return followup.parse(self.raw_event)[0]

    @property
    def only(self) -> tuple[str, ...]:
        from . import followup  # noqa: PLC0415

        return followup.parse(self.raw_event)[1]


@dataclass(frozen=True)
class ManualEvent:
    """``{"action": "plan" | "apply" | "status" | "drill", "only": [names]}``: one action, by hand (a drill: by its
    schedule)."""

    action: Action
    only: tuple[str, ...] = ()
    # a drill's next invocation (it invoked itself): the restores still running, the drills already done, how many
    # invocations came before
    resume: tuple[dict[str, Any], ...] = ()
    done: tuple[dict[str, Any], ...] = ()
    link: int = 0


# A string: the CloudFormation class is imported only for a CloudFormation request.
Event: TypeAlias = ("CloudFormationCustomResourceEvent | ScheduledEvent | ChangeEvent | DeletionEvent | FollowupEvent"
                    " | ManualEvent")


def is_cloudformation(event: Event) -> TypeGuard[CloudFormationCustomResourceEvent]:
    """Is this parsed event a CloudFormation request (the one kind that is not this module's own class)?"""
    return not isinstance(event, EventBridgeEnvelope | ManualEvent)


def parse(event: Any) -> Event:
    """The typed event; raises InvalidEvent, naming the problem and the fix, for one this function does not handle."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"the event must be a JSON object, got {type(event).__name__} — {SHAPES}")
    if any(k in event for k in CFN_FIELDS):
        _check_cfn(event)
        # Imported for a CloudFormation request only (a deploy, which loads crhelper too): never on a scheduled run.
        from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent  # noqa: PLC0415

        return CloudFormationCustomResourceEvent(event)
    if event.get("source") == "aws.events":
        if event.get("detail-type") != SCHEDULED:
            raise InvalidEvent(f"EventBridge event with detail-type {short(event.get('detail-type'))} is not handled "
                               f'— only scheduled events ("detail-type": "{SCHEDULED}") are')
        return ScheduledEvent(event)
    # Imported past the common events (CloudFormation, the nightly schedule), which need neither.
    from . import change, followup, massdelete  # noqa: PLC0415

    if isinstance(event.get("source"), str) and change.is_change_event(event):  # EventBridge sources are strings
        return ChangeEvent(event)
    if massdelete.is_deletion_event(event):
        return DeletionEvent(event)
    if event.get("source") == followup.SOURCE and event.get("detail-type") == followup.DETAIL_TYPE:
        try:
            followup.parse(event)
        except ValueError as exc:
            raise InvalidEvent(str(exc)) from None
        return FollowupEvent(event)
    if "action" in event:
        return parse_manual(event)
    raise InvalidEvent(f"unrecognised event (fields: {', '.join(keys(event)) or 'none'}) — {SHAPES}")


def _check_cfn(event: dict[str, Any]) -> None:
    missing = [k for k in CFN_FIELDS if not isinstance(event.get(k), str) or not event[k]]
    if missing:
        raise InvalidEvent(f"CloudFormation custom-resource request without {', '.join(missing)} — CloudFormation "
                           "always sends them; invoke with a complete request (see events/cfn-create.json)")
    if event["RequestType"] not in CFN_REQUEST_TYPES:
        raise InvalidEvent(f"CloudFormation RequestType {short(event['RequestType'])} is unknown — "
                           f"use one of {', '.join(CFN_REQUEST_TYPES)}")
    url = urlsplit(event["ResponseURL"])
    if not (url.scheme == "https" and url.hostname):
        raise InvalidEvent(f"CloudFormation ResponseURL must be https:// (got a {url.scheme or 'relative'} URL) — "
                           "CloudFormation sends a presigned https:// S3 URL; the local invoke serves one too")


def parse_manual(event: dict[str, Any]) -> ManualEvent:
    """The action and resource names of a manual event; raises InvalidEvent naming the field and the fix."""
    unknown = [k for k in keys(event) if k not in MANUAL_FIELDS + (DRILL_FIELDS if event.get("action") == "drill"
                                                                   else ())]
    if unknown:
        raise InvalidEvent(f"manual event: unknown field(s) {', '.join(unknown)} — use only "
                           '{"action": "plan" | "apply" | "status", "only": [names]}')
    action = event.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise InvalidEvent(f"manual event: action {short(action)} is not one of {', '.join(ACTIONS)} — "
                           'e.g. {"action": "plan"}')
    only = event.get("only")
    carried: dict[str, Any] = {}
    if action == "drill" and any(k in event for k in DRILL_FIELDS):
        resume, done, link = event.get("resume") or [], event.get("done") or [], event.get("link", 0)
        if not (isinstance(resume, list) and all(isinstance(e, dict) for e in resume) and isinstance(done, list)
                and all(isinstance(e, dict) for e in done) and isinstance(link, int) and link >= 0):
            raise InvalidEvent("drill event: resume and done must be lists of objects and link a count, as a drill "
                               'hands them to its next invocation — or send {"action": "drill"} to start one')
        carried = {"resume": tuple(resume), "done": tuple(done), "link": link}
    if only is None:
        return ManualEvent(ACTIONS[action], **carried)
    if not isinstance(only, list) or not all(isinstance(n, str) and n for n in only):
        raise InvalidEvent('manual event: only must be a list of declared resource names, e.g. ["galerly-users"] '
                           "— or leave it out for the whole estate")
    return ManualEvent(ACTIONS[action], tuple(only), **carried)


def keys(event: Any) -> list[str]:
    """The event's first field names, cut short: enough to log what arrived without logging what it carried."""
    return sorted(str(k)[:40] for k in event)[:20] if isinstance(event, dict) else []


def short(value: Any) -> str:
    return clip(repr(value), 60)
