"""A DynamoDB table as it is, and the copies a missing one can come back from: data, read by observe, planned on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..model import Recovery
from ..spec import KeyAttr


@dataclass(frozen=True)
class IndexState:
    """A secondary index as DynamoDB describes it."""

    name: str
    hash_key: KeyAttr | None
    range_key: KeyAttr | None
    projection: str
    non_key_attributes: tuple[str, ...] = ()
    status: str = "ACTIVE"
    read_capacity: int | None = None
    write_capacity: int | None = None


@dataclass(frozen=True)
class Backup:
    """A copy a missing table can come back from: a DynamoDB backup, or an AWS Backup recovery point."""

    arn: str
    name: str
    type: str  # SYSTEM | USER | AWS_BACKUP (DynamoDB's ListBackups) | RECOVERY_POINT (AWS Backup's listing)
    created: datetime | None
    status: str = "AVAILABLE"  # AVAILABLE, or CREATING while AWS is still making it
    resource_arn: str | None = None  # the table ARN a recovery point was listed for: listed again to wait for it
    # A DynamoDB backup's indexes (DescribeBackup), read only when a restore must name them (billing overridden)
    gsis: tuple[IndexState, ...] | None = None

    @property
    def ready(self) -> bool:
        return self.status in ("AVAILABLE", "COMPLETED")

    @property
    def via_aws_backup(self) -> bool:
        """Only AWS Backup's StartRestoreJob restores it (arn:aws:backup:...:recovery-point:...); a DynamoDB backup
        (arn:aws:dynamodb:..., AWS Backup without its advanced DynamoDB features included) is DynamoDB's to restore."""
        return self.arn.split(":")[2:3] == ["backup"]

    def describe(self) -> str:
        when = self.created.isoformat(timespec="seconds") if self.created else "unknown time"
        if self.type == "RECOVERY_POINT":
            return f"AWS Backup recovery point {self.arn} ({when})"
        return f"backup {self.name} ({self.type}, {when})"


@dataclass(frozen=True)
class TableState:
    """A table as it is. Fields left None were not read (the estate does not declare them)."""

    name: str
    exists: bool
    status: str | None = None
    arn: str | None = None
    hash_key: KeyAttr | None = None
    range_key: KeyAttr | None = None
    gsis: tuple[IndexState, ...] = ()
    lsis: tuple[IndexState, ...] = ()
    billing: str | None = None
    read_capacity: int | None = None
    write_capacity: int | None = None
    sse_type: str | None = None  # KMS | AES256 | None (DynamoDB's AWS-owned key)
    kms_key_arn: str | None = None
    deletion_protection: bool = False
    stream: str | None = None
    item_count: int | None = None
    pitr: bool | None = None
    recovery_days: int | None = None
    pitr_latest: datetime | None = None  # PITR's LatestRestorableDateTime, when on (DescribeContinuousBackups)
    ttl_attribute: str | None = None
    ttl_status: str | None = None
    tags: tuple[tuple[str, str], ...] | None = None
    backups: tuple[Backup, ...] = ()  # a missing table's copies, newest first (ready or still being made)
    created_at: datetime | None = None
    restore_in_progress: bool = False
    restore_source: str | None = None  # the backup or table a restore (running or done) came from

    @property
    def gsi_map(self) -> dict[str, IndexState]:
        return {g.name: g for g in self.gsis}


__all__ = ["Backup", "IndexState", "TableState"]


_COPY_WORDS = {"SYSTEM": "system backup", "USER": "on-demand backup", "AWS_BACKUP": "AWS Backup backup",
               "RECOVERY_POINT": "AWS Backup recovery point"}


def newest_copy(copies: tuple[Backup, ...], now: datetime) -> tuple[datetime, tuple[str, ...], str] | None:
    """The newest ready copy among these (newest first): when, the sources of every ready one, and "02:00 UTC
    (on-demand backup)" (a date when it is not from today). None: no ready copy."""
    ready = [b for b in copies if b.ready and b.created is not None]
    if not ready:
        return None
    newest = ready[0]
    when = newest.created if newest.created is not None else now
    sources = tuple(sorted({"aws-backup" if b.via_aws_backup else "backup" for b in ready}))
    at = when.astimezone(now.tzinfo)
    since = f"{at:%H:%M}" if at.date() == now.date() else f"{at:%Y-%m-%d %H:%M}"
    return when, sources, f"{since} UTC ({_COPY_WORDS.get(newest.type, 'backup')})"


def copies_recovery(copies: tuple[Backup, ...], now: datetime) -> Recovery:
    """What a deletion now would lose with only these copies (newest first): the data written since the newest."""
    found = newest_copy(copies, now)
    if found is None:
        return Recovery(None, (), "everything")
    when, sources, words = found
    return Recovery(when, sources, f"data since {words}")
