"""`selfheal import`: the estate file that declares what a live account has, read with the observe code. Reads only.

The file is the shortest that declares it: values equal to the defaults are left out, settings most resources of a
kind share go to its defaults section, names become vars. What exists but the estate cannot declare yet is written as
a `# found:` comment on its resource, so the user sees what selfheal will not keep. The result is checked with the
validator before it is written.

Each kind reads and declares its own resources (`Kind.import_names`, `Kind.import_entries`); this module chooses
the kinds, runs them and writes the file with ruamel.yaml. It runs with the operator's credentials, never the
function's role: each kind names the reads it needs that the role lacks (`Kind.import_permissions`).
"""

from __future__ import annotations

import datetime
import functools
import io
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.emitter import Emitter

from .aws import AWS_ERRORS
from .importing import Entry, ImportProblem, Selection, aws_problem
from .kinds import Kind, kinds
from .loader import parse_estate
from .spec import EstateError

__all__ = ["ImportProblem", "Imported", "Selection", "aws_problem", "check_selection", "count", "import_estate",
           "importable", "render"]

WIDTH = 118


@dataclass(frozen=True)
class Imported:
    text: str
    counts: Mapping[str, int]  # kind name -> resources declared
    found: int

    @property
    def what(self) -> str:
        return _what(self.counts)


def importable() -> tuple[Kind[Any, Any], ...]:
    """The kinds `selfheal import` can read, in the estate's order."""
    return tuple(k for k in kinds() if k.importable)


def check_selection(prefix: str | None, names: Mapping[str, Sequence[str]]) -> None:
    """Bad input before any AWS call: nothing selected, or a flag's value no kind can use."""
    chosen = importable()
    if not (prefix or any(names.values())):
        by_prefix = [k.section for k in chosen if k.selects_by_prefix]
        flags = listing((f"--{k.name} NAME..." for k in chosen), "and/or")
        raise ImportProblem("import", "nothing selected", f"pass --prefix P (the {' and '.join(by_prefix)} named "
                            f"P-*), {flags}" if by_prefix else f"pass {flags}")
    selection = Selection("", prefix, {k: tuple(v) for k, v in names.items()})
    for kind in chosen:
        kind.import_check(selection)


def import_estate(clients: Any, selection: Selection, schema_ref: str, today: datetime.date | None = None) -> Imported:
    """Read the selected resources of every kind and write the estate that declares them (validated)."""
    chosen = importable()
    names = {k.name: k.import_names(clients, selection) for k in chosen}  # a name that does not exist, before reads
    with ThreadPoolExecutor(max(len(chosen), 1)) as pool:
        sections = list(pool.map(lambda k: k.import_entries(clients, selection, names[k.name]), chosen))
    account = _account(clients)

    variables: dict[str, str] = {}
    if selection.prefix:
        variables["prefix"] = selection.prefix
    variables["region"] = selection.region
    defaults: dict[str, dict[str, Any]] = {}
    for section in sections:
        clash = set(section.variables) & set(variables) | set(section.defaults) & set(defaults)
        if clash:  # a kind's own var or defaults section named like another's: a bug, not the user's input
            raise RuntimeError(f"two kinds import the same var or defaults section: {', '.join(sorted(clash))}")
        variables |= section.variables
        defaults |= section.defaults
    counts = {k.name: len(s.entries) for k, s in zip(chosen, sections, strict=True)}
    where = f"account {account}, {selection.region}" if account else selection.region
    heading = (f"Imported by `selfheal import` from {where} on {(today or datetime.date.today()).isoformat()}: "
               f"{_what(counts)}.")
    text = render(schema_ref, heading, variables, defaults,
                  {k.section: s.entries for k, s in zip(chosen, sections, strict=True)})
    try:
        parse_estate(text, source="the imported estate", env={})
    except EstateError as exc:  # a value AWS allows that the estate cannot carry (e.g. capacity above 40000)
        raise ImportProblem("import", f"the file it would write does not validate ({exc})",
                            "declare that resource by hand, or leave it out of the selection") from None
    found = sum(len(e.found) for s in sections for e in s.entries)
    return Imported(text, counts, found)


def _account(clients: Any) -> str | None:
    try:
        return str(clients.account_id())
    except AWS_ERRORS:
        return None


def _what(counts: Mapping[str, int]) -> str:
    """`13 tables and 2 buckets`."""
    return listing(count(n, name) for name, n in counts.items())


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def listing(items: Iterable[str], last: str = "and") -> str:
    """`a`, `a and b`, `a, b and c`."""
    words = list(items)
    return f"{', '.join(words[:-1])} {last} {words[-1]}" if len(words) > 1 else "".join(words)


# ---------------------------------------------------------------------------------------------------------------
# Writing: ruamel.yaml, laid out as a person would write it — a value in flow style when it fits on its line


@functools.cache
def _plain(text: str, flow: bool) -> bool:
    """PyYAML, which reads the estate (YAML 1.1: `yes`, `1:20`, `=` are no strings), reads `text` written plain back
    as the same string, as a key and as a value. ruamel's own resolver already quotes what YAML 1.2 reads otherwise."""
    documents = (f"{{k: {text}}}", f"{{{text}: k}}") if flow else (f"k: {text}", f"{text}: k")
    try:
        return [yaml.safe_load(d) for d in documents] == [{"k": text}, {text: "k"}]
    except yaml.YAMLError:
        return False


_BREAKS = "\x85\u2028\u2029"  # NEL, LS, PS
_STR = "tag:yaml.org,2002:str"


class _Emitter(Emitter):
    """Leaves a string plain (or single-quoted) only where PyYAML reads it back: ruamel's own analysis lets through a
    few spellings PyYAML refuses (`{k: ? x}`) or reads otherwise (a raw NEL)."""

    def analyze_scalar(self, scalar: Any) -> Any:
        analysis = super().analyze_scalar(scalar)
        if str(self.event.tag) != _STR:  # a number, a bool, null: as ruamel writes it
            return analysis
        if any(c in scalar for c in _BREAKS):  # written raw, YAML 1.1 reads them as line breaks: escape them
            analysis.allow_single_quoted = False
        analysis.allow_flow_plain = analysis.allow_flow_plain and _plain(scalar, flow=True)
        analysis.allow_block_plain = analysis.allow_block_plain and _plain(scalar, flow=False)
        return analysis


def _yaml(flow: bool) -> YAML:
    writer = YAML()
    writer.Emitter = _Emitter
    writer.indent(mapping=2, sequence=4, offset=2)
    writer.width = 1 << 16  # the layout below decides the lines; ruamel never folds one
    writer.brace_single_entry_mapping_in_flow_sequence = True  # [{a: 1}], not [a: 1]
    writer.default_flow_style = flow
    writer.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return writer


_BLOCK, _FLOW = _yaml(False), _yaml(True)


def _dump(writer: YAML, data: Any) -> str:
    out = io.StringIO()
    writer.dump(data, out)
    return out.getvalue()


def _flow_text(value: Any) -> str:
    """The value on one line in flow style, as it would be written."""
    return _dump(_FLOW, value).rstrip("\n")


def _width(value: Any) -> int:
    """len(_flow_text(value)), from each string's written length: one dump per distinct string, not per node."""
    if isinstance(value, dict):
        return 2 * len(value) + sum(_key_width(k) + 2 + _width(v) for k, v in value.items()) or 2  # `{k: v, ...}`
    if isinstance(value, list):
        return 2 * len(value) + sum(_width(v) for v in value) or 2  # `[a, ...]`
    if isinstance(value, str):
        return _string_width(value)
    return len(_flow_text([value])) - 2


@functools.cache
def _string_width(text: str) -> int:
    return len(_flow_text([text])) - 2  # `[` text `]`


@functools.cache
def _key_width(key: Any) -> int:
    return len(_flow_text({key: 0})) - 5  # `{` key `: 0}`; a key YAML cannot write simply is `? key `


def _flow(value: dict[str, Any] | list[Any]) -> CommentedMap | CommentedSeq:
    node = CommentedMap(value) if isinstance(value, dict) else CommentedSeq(value)
    node.fa.set_flow_style()  # and so everything inside it
    return node


def _mapping(value: Mapping[str, Any], column: int) -> CommentedMap:
    """A block mapping with its keys at `column`; a value in flow style when `key: value` fits the width."""
    out = CommentedMap()
    for key, val in value.items():
        out[key] = _node(val, column + _key_width(key) + 2, column + 2)  # the value starts after `key: `
    return out


def _node(value: Any, start: int, column: int) -> Any:
    """A value starting at column `start` on its line: flow style if it fits, else block with its keys (or its
    items' `- `) at `column`."""
    if not isinstance(value, dict | list):
        return value
    if start + _width(value) <= WIDTH:
        return _flow(value)
    if isinstance(value, dict):
        return _mapping(value, column)
    return CommentedSeq(_node(item, column + 2, column + 2) for item in value)


def render(schema_ref: str, heading: str, variables: Mapping[str, str], defaults: Mapping[str, Mapping[str, Any]],
           sections: Mapping[str, Sequence[Entry]]) -> str:
    """The estate file: the schema line and a heading, vars, the shared defaults, then each section's entries with
    their `# found:` notes above them, a blank line between entries."""
    found = sum(len(e.found) for entries in sections.values() for e in entries)
    root = CommentedMap(version=1)
    root["vars"] = _mapping(variables, 2)
    for key, value in defaults.items():
        root[key] = _mapping(value, 2)
    for section, entries in sections.items():
        if not entries:
            continue
        seq = CommentedSeq(_mapping(e.fields, 4) for e in entries)
        for i, entry in enumerate(entries):
            notes = [line for note in entry.found
                     for line in _wrapped(note[2:] if note.startswith("# ") else f"found: {note}", 2)]
            if i or notes:
                seq.yaml_set_comment_before_after_key(i, before="\n".join(([""] if i else []) + notes), indent=2)
        root[section] = seq
    for key in list(root)[1:]:
        root.yaml_set_comment_before_after_key(key, before="\n")  # a blank line before each part
    said = ("Lines starting `# found:` mark what exists but the estate cannot declare yet: selfheal will not keep it."
            if found else "Everything found is declared.")
    header = [f"yaml-language-server: $schema={schema_ref}", *_wrapped(heading, 0, hang=False),
              *_wrapped(f"Values equal to the defaults are left out (docs/estate.md). {said}", 0, hang=False)]
    root.yaml_set_start_comment("\n".join(header))
    return _dump(_BLOCK, root)


def _wrapped(text: str, indent: int, hang: bool = True) -> list[str]:
    """A comment's lines (ruamel adds the `# `) wrapped to the width; a note's continuation lines indented."""
    lines = textwrap.wrap(text, width=WIDTH - indent - 4, break_long_words=False, break_on_hyphens=False)
    return [("  " if i and hang else "") + line for i, line in enumerate(lines)]
