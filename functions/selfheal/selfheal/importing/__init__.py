"""`selfheal import`'s shared vocabulary: what a kind's import is given (a Selection) and gives back (a Section).

Each kind reads and declares its own resources (importing/tables.py, importing/buckets.py, through its `Kind`'s
import methods); selfheal/importer.py drives them and writes the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..aws import error_code, error_message


class ImportProblem(Exception):
    """Bad input or an unreadable account: one line naming the flag (or resource) and the fix."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        super().__init__(f"{where}: {problem} — {fix}")


@dataclass(frozen=True)
class Selection:
    """What to import: the resources named P-* (`--prefix P`, for the kinds that select by prefix) and, by kind
    name, the names given (`--table a b`)."""

    region: str
    prefix: str | None = None
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def named(self, kind: str) -> tuple[str, ...]:
        return self.names.get(kind, ())


@dataclass
class Entry:
    """One imported resource: its declaration (estate terms, defaults left out) and what the estate cannot say
    (`# found:` notes; a note starting "# " is written as it is)."""

    name: str
    fields: dict[str, Any]
    found: list[str] = field(default_factory=list)


@dataclass
class Section:
    """A kind's part of the imported file: its entries, the vars they name, and top-level defaults they share
    (e.g. `table_defaults`), written before the sections."""

    entries: list[Entry]
    variables: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)


def aws_problem(exc: BaseException) -> str:
    return f"AWS answered {error_code(exc)}: {error_message(exc)}"


def escape(value: Any) -> Any:
    """A literal ${...} found in AWS (an IAM policy variable, say) written as $${...}, so no var replaces it."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, list):
        return [escape(v) for v in value]
    if isinstance(value, dict):
        return {escape(k): escape(v) for k, v in value.items()}
    return value


def split_tags(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Tags as declared (escaped, sorted) and the AWS-reserved keys (aws:...) an estate cannot declare."""
    tags: dict[str, str] = {}
    reserved: list[str] = []
    for key, value in sorted(pairs):
        if key.lower().startswith("aws:"):
            reserved.append(key)
        else:
            tags[escape(key)] = escape(value)
    return tags, reserved


def reserved_tags_note(reserved: list[str]) -> str:
    return f"tags {', '.join(reserved)} — AWS-reserved (aws:), not declarable; AWS keeps them"
