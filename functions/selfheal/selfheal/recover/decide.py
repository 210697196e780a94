"""What `recover` does with each key, decided from that key's versions alone: pure data in, pure data out.

A key's history is its versions and delete markers, newest first (ListObjectVersions' order). The state "at TIME"
is the newest entry whose LastModified is at or before TIME: an object version, a delete marker, or nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

# Versions in these classes must be restored (RestoreObject) before they can be read or copied.
ARCHIVED_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})

Case = Literal["as_at", "copy", "newer", "archived"]
CASES: tuple[Case, ...] = ("as_at", "copy", "newer", "archived")


class TimeError(ValueError):
    """TIME cannot be used; the message names the fix."""


def parse_time(text: str, now: datetime) -> datetime:
    """`--to TIME`: ISO 8601 with a zone (2026-12-05T09:30:00Z, ...+01:00) or a duration ago (90s, 30m, 2h, 3d)."""
    raw = (text or "").strip()
    ago = re.fullmatch(r"(\d+)\s*([smhd])", raw)
    if ago:
        amount = int(ago.group(1))
        if amount == 0:
            raise TimeError(f"{text!r} is now — give a time before the accident, e.g. 2h (two hours ago)")
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[ago.group(2)]
        return now - timedelta(**{unit: amount})
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw)
    except ValueError:
        raise TimeError(f"{text!r} is not a time — use ISO 8601 with a zone, e.g. 2026-12-05T09:30:00Z, or a "
                        "duration ago: 30m, 2h, 3d") from None
    if when.tzinfo is None:
        raise TimeError(f"{text!r} has no time zone — add one, e.g. {raw}Z (UTC) or {raw}+01:00")
    if when > now:
        raise TimeError(f"{text!r} is in the future (now is {iso(now)}) — give a time before the accident")
    return when.astimezone(UTC)


def iso(when: datetime) -> str:
    """A time as ISO 8601 UTC to the second, e.g. 2026-12-05T09:30:00Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Version:
    """One entry of ListObjectVersions: an object version or a delete marker."""

    key: str
    version_id: str
    last_modified: datetime
    is_latest: bool
    delete_marker: bool = False
    size: int = 0
    etag: str = ""
    storage_class: str = "STANDARD"

    def to_dict(self) -> dict[str, Any]:
        return {"version_id": self.version_id, "delete_marker": self.delete_marker, "etag": self.etag,
                "size": self.size, "last_modified": iso(self.last_modified)}


@dataclass(frozen=True)
class Decision:
    """What happens to one key. `source`: its version at TIME (copy, archived, as_at); `current`: its current
    entry (a version or a delete marker)."""

    key: str
    case: Case
    current: Version | None
    source: Version | None = None
    note: str = ""

    @property
    def size(self) -> int:
        return self.source.size if self.source is not None else 0


@dataclass(frozen=True)
class KeyHistory:
    key: str
    versions: tuple[Version, ...]  # newest first

    @property
    def current(self) -> Version | None:
        return next((v for v in self.versions if v.is_latest), self.versions[0] if self.versions else None)


def at_time(history: KeyHistory, when: datetime) -> Version | None:
    """The key's entry that was current at `when` (a version or a delete marker), or None if it had none then."""
    return next((v for v in history.versions if v.last_modified <= when), None)


def same_content(current: Version, wanted: Version, copies: Mapping[str, str]) -> bool:
    """Is the current entry the wanted one: the same version, a copy of it made by recover (the journal's
    `copies`: new version id -> source version id), or the same bytes (ETag and size) written again."""
    if current.version_id == wanted.version_id or copies.get(current.version_id) == wanted.version_id:
        return True
    if current.delete_marker or wanted.delete_marker:
        return current.delete_marker and wanted.delete_marker
    return bool(wanted.etag) and current.etag == wanted.etag and current.size == wanted.size


def decide(history: KeyHistory, when: datetime, copies: Mapping[str, str] | None = None) -> Decision:
    """The one thing to do with this key so that it is as it was at `when` (or why it stays as it is)."""
    copies = copies or {}
    current = history.current
    then = at_time(history, when)
    now_absent = current is None or current.delete_marker
    if then is None or then.delete_marker:
        if now_absent:
            return Decision(history.key, "as_at", current)
        note = ("written again after it was deleted" if then is not None else
                "no version at or before TIME: created after it (or its older versions expired)")
        return Decision(history.key, "newer", current, note=note)
    if current is not None and same_content(current, then, copies):
        return Decision(history.key, "as_at", current, then)
    if then.storage_class in ARCHIVED_CLASSES:
        return Decision(history.key, "archived", current, then,
                        note=f"its version at TIME is in {then.storage_class}: restore it first (--thaw)")
    return Decision(history.key, "copy", current, then)


# --- listing pages -> key histories ----------------------------------------------------------------------------------


def _entry(item: Mapping[str, Any], marker: bool) -> Version:
    return Version(
        key=str(item["Key"]),
        version_id=str(item.get("VersionId") or "null"),
        last_modified=item["LastModified"],
        is_latest=bool(item.get("IsLatest")),
        delete_marker=marker,
        size=0 if marker else int(item.get("Size") or 0),
        etag="" if marker else str(item.get("ETag") or ""),
        storage_class="" if marker else str(item.get("StorageClass") or "STANDARD"),
    )


def _history(key: str, entries: list[Version]) -> KeyHistory:
    # Each page splits versions and delete markers into two lists: the latest first, then newest first (stable).
    ordered = sorted(entries, key=lambda v: (not v.is_latest, -v.last_modified.timestamp()))
    return KeyHistory(key, tuple(ordered))


def histories(pages: Iterable[Mapping[str, Any]]) -> Iterator[KeyHistory]:
    """Key histories in key order from ListObjectVersions pages of any mix — versions only, delete markers only,
    empty — with a key's entries possibly spread over several pages. A key is yielded once a later key is seen."""
    pending: dict[str, list[Version]] = {}
    for page in pages:
        entries = [_entry(v, False) for v in page.get("Versions") or ()]
        entries += [_entry(m, True) for m in page.get("DeleteMarkers") or ()]
        for entry in entries:
            pending.setdefault(entry.key, []).append(entry)
        if not entries:
            continue
        # Keys sort in UTF-8 byte order, as Python's str order: every key below this page's last can be complete.
        last = max(e.key for e in entries)
        for key in sorted(k for k in pending if k < last):
            yield _history(key, pending.pop(key))
    for key in sorted(pending):
        yield _history(key, pending.pop(key))


# --- the plan's totals -----------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts per case, the bytes to copy and the keys a person must see (newer, archived)."""

    keys: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CASES, 0))
    bytes_to_copy: int = 0
    newer: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    big_copies: list[int] = field(default_factory=list)  # sizes over 5 MiB: they may be copied in parts

    def add(self, decision: Decision) -> None:
        self.keys += 1
        self.counts[decision.case] += 1
        if decision.case == "copy":
            self.bytes_to_copy += decision.size
            if decision.size > 5 * 1024**2:
                self.big_copies.append(decision.size)
        elif decision.case == "newer":
            self.newer.append(decision.key)
        elif decision.case == "archived":
            self.archived.append(decision.key)
