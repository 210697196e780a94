"""A mass delete reported within minutes: S3's `Object Deleted` events (the bucket's EventBridge notifications) are
counted per bucket and window in a small DynamoDB table; the event that takes a window past the bucket's declared
`mass_delete.objects` sends ONE message to the alarm topic: how many, which prefixes, who, since when, and the
`selfheal recover` command that undoes it. Nothing is ever recovered from here: a deletion may be intended.

Windows are fixed (`minutes` long, from the epoch), so a burst split across two windows is counted in each: it is
reported once one window alone holds more than the threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .aws import AWS_ERRORS, explain
from .spec import BucketSpec, Estate

log = logging.getLogger(__name__)

DETAIL_TYPE = "Object Deleted"
PREFIX_ATTR = "p:"  # one counter per prefix: "p:<first path segment>/"
KEEP_DAYS = 2  # a window's counts expire (TTL) after this long
TOP_PREFIXES = 5


def is_deletion_event(event: Any) -> bool:
    """An S3 EventBridge notification of a deleted object (a delete marker created, or a version deleted)."""
    return (isinstance(event, dict) and event.get("source") == "aws.s3" and event.get("detail-type") == DETAIL_TYPE
            and isinstance(event.get("detail"), dict))


@dataclass(frozen=True)
class Deletion:
    """One `Object Deleted` event, as far as AWS tells: the bucket, the key, when, who and how."""

    bucket: str
    key: str
    at: datetime
    requester: str
    source_ip: str
    reason: str  # DeleteObject | Lifecycle Expiration
    deletion_type: str  # Delete Marker Created | Permanently Deleted

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> Deletion:
        detail = event["detail"]
        return cls(
            bucket=str(detail["bucket"]["name"]),
            key=str(detail["object"]["key"]),
            at=datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")),
            requester=str(detail.get("requester") or "unknown"),
            source_ip=str(detail.get("source-ip-address") or ""),
            reason=str(detail.get("reason") or ""),
            deletion_type=str(detail.get("deletion-type") or ""),
        )

    @property
    def prefix(self) -> str:
        return self.key.split("/", 1)[0] + "/" if "/" in self.key else "(top level)"


@dataclass(frozen=True)
class Warning:
    """What the message says about one window that passed its threshold."""

    bucket: str
    deleted: int
    objects: int
    minutes: int
    first_at: datetime
    prefixes: tuple[tuple[str, int], ...]  # the most deleted first
    who: tuple[str, ...]
    permanent: int  # of them, versions deleted for good (no delete marker: `recover` cannot bring those back)

    @property
    def recover_to(self) -> str:
        """A time just before the first deletion, as `selfheal recover --to` takes it."""
        return (self.first_at - timedelta(seconds=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def command(self) -> str:
        return f"selfheal recover {self.bucket} --to {self.recover_to}"

    @property
    def subject(self) -> str:
        return f"selfheal: mass delete in bucket {self.bucket} — {self.deleted:,} objects in {self.minutes} min"[:100]

    @property
    def text(self) -> str:
        prefixes = ", ".join(f"{p} ({n:,})" for p, n in self.prefixes) or "-"
        lines = [
            f"More than {self.objects:,} objects were deleted from bucket {self.bucket} within {self.minutes} "
            f"minutes: {self.deleted:,} so far, since {self.first_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC.",
            f"Prefixes: {prefixes}",
            f"Who (as S3 tells): {', '.join(self.who) or 'unknown'}",
            "",
            "Nothing was recovered: the deletion may be intended. If it was not, put every key back as it was just "
            "before the first deletion:",
            f"    {self.command} --dry-run",
            f"    {self.command}",
        ]
        if self.permanent:
            lines.append(f"{self.permanent:,} of them were versions deleted for good (no delete marker): only a copy "
                         "(a replica, AWS Backup) still holds those.")
        return "\n".join(lines)


def count(clients: Any, estate: Estate, table: str, topic: str | None, event: Mapping[str, Any]) -> dict[str, Any]:
    """Count one deletion in its bucket's current window; tell the topic once when the window passes the threshold.
    Returns what happened, for the log."""
    deletion = Deletion.of(event)
    spec = next((b for b in estate.resources if isinstance(b, BucketSpec) and b.name == deletion.bucket), None)
    if spec is None or spec.mass_delete is None:
        return {"bucket": deletion.bucket, "counted": False,
                "reason": "not declared" if spec is None else "mass_delete is off"}
    objects, minutes = spec.mass_delete
    window = int(deletion.at.timestamp() // (minutes * 60))
    names = {"#prefix": PREFIX_ATTR + deletion.prefix}
    values: dict[str, Any] = {
        ":one": {"N": "1"},
        ":who": {"SS": [deletion.requester]},
        ":at": {"S": deletion.at.astimezone(UTC).isoformat()},
        ":expires": {"N": str(int(deletion.at.timestamp()) + KEEP_DAYS * 86400)},
        ":permanent": {"N": "1" if deletion.deletion_type == "Permanently Deleted" else "0"},
    }
    try:
        item = clients.client("dynamodb").update_item(
            TableName=table,
            Key={"window": {"S": f"{deletion.bucket}#{minutes}#{window}"}},
            UpdateExpression="ADD deleted :one, #prefix :one, who :who, permanent :permanent "
                             "SET first_at = if_not_exists(first_at, :at), expires = if_not_exists(expires, :expires)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except AWS_ERRORS as exc:
        problem = explain(exc, "counting a deletion", f"table {table}")
        log.error("deletion not counted: %s", problem)
        return {"bucket": deletion.bucket, "counted": False, "reason": problem}
    deleted = int(item["deleted"]["N"])
    out: dict[str, Any] = {"bucket": deletion.bucket, "counted": True, "deleted": deleted, "threshold": objects}
    if deleted != objects + 1:  # ADD returns each value once: exactly one event sees the window pass its threshold
        return out
    warning = warning_of(deletion.bucket, item, objects, minutes)
    out["warned"] = True
    if topic:
        try:
            clients.client("sns").publish(TopicArn=topic, Subject=warning.subject, Message=warning.text)
        except AWS_ERRORS as exc:
            out["problem"] = explain(exc, "sns:Publish", f"topic {topic}")
            log.error("mass-delete warning not published: %s", out["problem"])
    log.warning("mass delete in bucket %s", deletion.bucket, extra={"warning": warning.text})
    return out


def warning_of(bucket: str, item: Mapping[str, Any], objects: int, minutes: int) -> Warning:
    """A window's counter item as the message's facts."""
    prefixes = sorted(((k[len(PREFIX_ATTR):], int(v["N"])) for k, v in item.items() if k.startswith(PREFIX_ATTR)),
                      key=lambda pn: (-pn[1], pn[0]))
    return Warning(
        bucket=bucket,
        deleted=int(item["deleted"]["N"]),
        objects=objects,
        minutes=minutes,
        first_at=datetime.fromisoformat(item["first_at"]["S"]),
        prefixes=tuple(prefixes[:TOP_PREFIXES]),
        who=tuple(sorted(item.get("who", {}).get("SS", []))),
        permanent=int(item.get("permanent", {}).get("N", "0")),
    )
