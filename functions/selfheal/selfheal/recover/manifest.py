"""A recover run's journal, written as it goes: one JSON line per write, after a header naming the recovery.

It serves three ends: a rerun after an interruption knows which current versions are its own copies (so it writes
nothing for them); `--undo` reads the version each key had before (and puts it back); a person can read it.

    {"manifest": "selfheal-recover", "format": 1, "bucket": ..., "region": ..., "to": ..., "prefix": ..., ...}
    {"key": "a.jpg", "action": "copy", "before": {version...} | null, "source": "<version id>", "after": "<new id>"}
    {"key": "b.jpg", "action": "mark", "before": {version...}, "source": null, "after": "<delete marker id>"}
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAGIC = "selfheal-recover"
FORMAT = 1
ACTIONS = ("copy", "mark")


class ManifestError(ValueError):
    """The manifest cannot be used; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class Entry:
    key: str
    action: str  # copy: `source` copied onto the key; mark: a delete marker added
    before: dict[str, Any] | None  # the key's current entry before (Version.to_dict()), None if it had none
    source: str | None
    after: str  # the version id (or delete marker id) the write made

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "action": self.action, "before": self.before, "source": self.source,
                "after": self.after}


@dataclass
class Manifest:
    header: dict[str, Any]
    entries: list[Entry] = field(default_factory=list)

    @property
    def bucket(self) -> str:
        return str(self.header["bucket"])

    def copies(self) -> dict[str, str]:
        """New version id -> the version it copies: a rerun treats such a current version as its source."""
        return {e.after: e.source for e in self.entries if e.action == "copy" and e.source}

    def by_key(self) -> dict[str, tuple[Entry, Entry]]:
        """Per key: (its first entry, whose `before` is the state to go back to; its last entry, the latest write)."""
        out: dict[str, tuple[Entry, Entry]] = {}
        for e in self.entries:
            out[e.key] = (out[e.key][0], e) if e.key in out else (e, e)
        return out


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: not a JSON object")
    key, action, before, source, after = (raw.get(k) for k in ("key", "action", "before", "source", "after"))
    if not isinstance(key, str) or not key:
        raise ManifestError(f"{where}: `key` must be a non-empty string")
    if action not in ACTIONS:
        raise ManifestError(f"{where}: `action` must be copy or mark, not {action!r}")
    if before is not None and not (isinstance(before, dict) and isinstance(before.get("version_id"), str)):
        raise ManifestError(f"{where}: `before` must be null or an object with a version_id")
    if not isinstance(after, str) or not after or (action == "copy" and not isinstance(source, str)):
        raise ManifestError(f"{where}: `after` (and a copy's `source`) must be version ids")
    return Entry(key, action, before, source, after)


def read(path: Path) -> Manifest:
    """Parse and check a manifest; ManifestError names the line at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file — pass the manifest a recover run printed") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot be read ({exc}) — pass the manifest a recover run printed") from None
    lines = text.splitlines()
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("manifest") != MAGIC or header.get("format") != FORMAT:
        raise ManifestError(f"{path}: not a selfheal recover manifest (line 1 is not its header) — pass the file "
                            "a recover run printed")
    if not isinstance(header.get("bucket"), str) or not isinstance(header.get("to"), str):
        raise ManifestError(f"{path}: line 1: the header lacks `bucket` or `to` — the file is damaged")
    manifest = Manifest(header)
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError:
            raise ManifestError(f"{path}: line {n} is not JSON — the file is damaged (edited, or cut short)") from None
        try:
            manifest.entries.append(_entry(raw, f"{path}: line {n}"))
        except ManifestError as exc:
            raise ManifestError(f"{exc} — the file is damaged") from None
    return manifest


class Journal:
    """Appends entries to a manifest file as writes happen, one whole line per write call: an interrupted process
    (Ctrl-C, kill) loses none (the OS has each line); fsync only at the end, as one per line would bound the rate."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.header = header
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._opened = False
        self.previous: Manifest | None = None
        if path.exists() and path.stat().st_size > 0:
            previous = read(path)
            for name in ("bucket", "to", "prefix"):
                if previous.header.get(name) != header.get(name):
                    raise ManifestError(
                        f"{path}: a manifest of another recovery ({name} {previous.header.get(name)!r}, not "
                        f"{header.get(name)!r}) — pass --manifest with a new file name")
            self.previous = previous

    @property
    def written(self) -> bool:
        return self._opened or self.previous is not None

    def _write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:  # opened at the first write: a run that writes nothing leaves no file
                self._opened = True
                if self.previous is not None:
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
                else:
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
                    header = (json.dumps({"manifest": MAGIC, "format": FORMAT, **self.header}) + "\n").encode()
                    os.write(self._fd, header)
            os.write(self._fd, line)

    def add(self, entry: Entry) -> None:
        self._write(entry.to_dict())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
