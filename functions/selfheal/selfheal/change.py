"""Change events: the CloudTrail record of an API call that can break a declared resource, as EventBridge delivers it
("detail-type": "AWS API Call via CloudTrail"). Pure: which resource it names, who made it, or why it is ignored.

The template's rule already filters on the source, the event names and the estate's names; `route` filters again,
because a rule can be edited and a hand-made event can say anything. It makes no AWS call, so an ignored event (the
function's own call coming back, an undeclared resource, a call that failed) costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kinds import kinds
from .spec import Estate

DETAIL_TYPE = "AWS API Call via CloudTrail"


def sources() -> dict[str, str]:
    """EventBridge's source of each registered kind's service -> CloudTrail's eventSource ("aws.s3" ->
    "s3.amazonaws.com")."""
    return {source: source.removeprefix("aws.") + ".amazonaws.com" for kind in kinds() for source in kind.event_sources}


def events() -> frozenset[str]:
    """Every CloudTrail call some registered kind reads as a change (the template's rule lists the same)."""
    return frozenset().union(*(kind.events for kind in kinds()))


@dataclass(frozen=True)
class Change:
    """One change someone made: what, to which declared resources, by whom, from where, when."""

    event_name: str
    resources: tuple[str, ...]  # declared names it can have broken
    caller: str  # userIdentity ARN (or its type when there is none)
    source_ip: str
    time: str
    event_id: str = ""

    def describe(self) -> str:
        return f"{self.event_name} by {self.caller} from {self.source_ip} at {self.time}"

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event_name, "resources": list(self.resources), "caller": self.caller,
                "source_ip": self.source_ip, "time": self.time, "event_id": self.event_id}


@dataclass(frozen=True)
class Ignored:
    """A change event that needs no run: the reason, for one debug line."""

    reason: str


def is_change_event(event: dict[str, Any]) -> bool:
    source = event.get("source")  # a list or an object would not hash: not CloudTrail's
    return event.get("detail-type") == DETAIL_TYPE and isinstance(source, str) and source in sources()


def route(
    event: dict[str, Any], estate: Estate, own_role_arn: str | None, home: tuple[str, str] | None = None
) -> Change | Ignored:
    """The declared resources a CloudTrail change event names, or why it is ignored. Raises ValueError (naming the
    field) for an event that is not shaped as EventBridge delivers CloudTrail records.

    home: the stack's (account, region); an event of another account or region is ignored (a table name is only
    unique within one account and region, and a bus can be sent events from other accounts)."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise ValueError('change event: detail must be an object (CloudTrail\'s record) — see events/change-*.json')
    name = detail.get("eventName")
    if not isinstance(name, str) or not name:
        raise ValueError("change event: detail.eventName is missing — see events/change-*.json")
    if home is not None and (event.get("account"), event.get("region")) != home:
        return Ignored(f"{name} happened in account {event.get('account')!r}, region {event.get('region')!r}: "
                       f"this stack heals account {home[0]}, region {home[1]} only")
    source = event["source"]
    expected = sources()[source]
    if detail.get("eventSource") not in (None, expected):
        raise ValueError(f"change event: detail.eventSource {detail.get('eventSource')!r} does not match source "
                         f"{source!r} — events from {source} come from {expected}")
    identity: dict[str, Any] = detail["userIdentity"] if isinstance(detail.get("userIdentity"), dict) else {}
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn")
    if own_role_arn and own_role_arn in (issuer, identity.get("arn")):
        return Ignored(f"{name} was made by selfheal itself ({own_role_arn})")
    if detail.get("errorCode"):
        return Ignored(f"{name} failed ({detail['errorCode']}): nothing changed")
    params: dict[str, Any] = detail["requestParameters"] if isinstance(detail.get("requestParameters"), dict) else {}
    for kind in kinds():
        if source not in kind.event_sources:
            continue
        found = kind.changed(name, params, [r for r in estate.resources if r.kind == kind.name])
        if isinstance(found, str):
            return Ignored(found)
        if found is not None:
            names = found
            break
    else:
        return Ignored(f"{name} changes nothing the estate declares")
    caller = identity.get("arn") or identity.get("type") or "unknown caller"
    return Change(name, names, str(caller), str(detail.get("sourceIPAddress") or "unknown address"),
                  str(detail.get("eventTime") or event.get("time") or "unknown time"), str(detail.get("eventID") or ""))
