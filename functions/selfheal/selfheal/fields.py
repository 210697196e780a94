"""An estate section's fields, declared once: the editor's JSON Schema and the loader's validation both come from here.

A kind declares its entry as a tree of fields (`Obj`, `Text`, `Int`, `Choice`, `Union`, ...). `render(field, EDITOR)`
is the JSON Schema editors complete and check with (a `${var}` is accepted wherever a value goes, and the cross-field
rules a kind checks by hand are added as hints); `render(field, LOADER)` is what the loader validates a resolved file
with (fastjsonschema: its code generated at `make build` by selfheal/validators.py, else compiled once at first use).
A schema error is explained by the field it belongs to, in the one line of today's messages: the field's path, the
problem, the fix.

Neither the loader nor the kinds import each other: both import this module. `Checker` is what a kind's `load` is
given to report a problem (`fail`), check a value against a field (`check`) or names (`unique`).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields as dataclass_fields
from datetime import timedelta
from functools import cache
from typing import Any, Literal, NoReturn, Protocol

from .spec import EstateError, Objective, choose, duration_text

Mode = Literal["editor", "loader"]
EDITOR: Mode = "editor"
LOADER: Mode = "loader"
VAR = r"\$\{[a-z_][a-z0-9_]*\}"  # a ${var} placeholder: the editor cannot know its value
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
KMS_KEY = re.compile(
    r"^(alias/[A-Za-z0-9/_-]{1,250}"
    r"|(mrk-[0-9a-f]{32})"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/([0-9a-f-]{36}|mrk-[0-9a-f]{32})|alias/[A-Za-z0-9/_-]{1,250}))$"
)
Problem = tuple[str, str, str]  # (field path, problem, fix)
Explain = Callable[[Any, str], Problem]
_UNSET: Any = object()


def kind_word(value: Any) -> str:
    """What a YAML value is, in a person's words."""
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def join(path: str, key: Any, container: Any = None) -> str:
    """`tables` + 0 -> `tables[0]`; `tables[0]` + `name` -> `tables[0].name`."""
    if isinstance(container, list) or (container is None and isinstance(key, int)):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _body(pattern: re.Pattern[str] | str) -> str:
    text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    return text.removeprefix("^").removesuffix("$")


# ---------------------------------------------------------------------------------------------------------------
# The vocabulary


class Field:
    """One value of the estate file: its JSON Schema (per mode) and how a wrong value is explained."""

    def __init__(self, description: str | None = None, default: Any = _UNSET) -> None:
        self.description, self.default = description, default

    def schema(self, r: Render) -> dict[str, Any]:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        """Whether a value is of this field's shape (a union picks the branch that explains an error with it)."""
        return True

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        raise NotImplementedError

    def child(self, key: Any) -> Field | None:
        """The field of a value inside this one (a mapping's field, a list's item)."""
        return None

    def parts(self) -> tuple[Field, ...]:
        """The fields this one is made of."""
        return ()

    def annotate(self, out: dict[str, Any], r: Render) -> dict[str, Any]:
        if r.mode == EDITOR:
            if self.description:
                out["description"] = self.description
            if self.default is not _UNSET:
                out["default"] = self.default
        return out


class Anything(Field):
    """Any value: what a kind checks by hand (`editor` is what editors are told)."""

    def __init__(self, editor: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.editor = editor or {}

    def schema(self, r: Render) -> dict[str, Any]:
        return self.annotate(dict(self.editor) if r.mode == EDITOR else {}, r)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"{value!r} is not allowed here", "see docs/estate.md"


class Text(Field):
    """A non-empty string (or a number, read as text, where no pattern applies)."""

    def __init__(self, pattern: re.Pattern[str] | str | None = None, what: str = "", numbers: bool | None = None,
                 forbid: tuple[str, str, str] | None = None, fix: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.pattern = None if pattern is None else _body(pattern)
        self.what, self.fix = what, fix
        self.numbers = pattern is None if numbers is None else numbers  # a pattern is checked on strings only
        self.forbid = forbid  # (pattern searched for, problem, fix): a further rule on a matching value

    def schema(self, r: Render) -> dict[str, Any]:
        out: dict[str, Any] = {"type": ["string", "number"] if self.numbers else "string", "minLength": 1}
        if self.pattern is not None:
            out["pattern"] = f"^(?:{self.pattern})$" + (f"|{VAR}" if r.mode == EDITOR else "")
        if self.forbid:
            out["not"] = {"type": "string", "pattern": self.forbid[0]}
        return self.annotate(out, r)

    def accepts(self, value: Any) -> bool:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return isinstance(value, str) or (self.numbers and number)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        if rule == "not" and self.forbid:
            return path, self.forbid[1].format(value=value), self.forbid[2]
        if rule == "pattern" and isinstance(value, str) and value:
            return path, f"{value!r} is not {self.what}", self.fix or f"give {self.what}"
        return path, f"expected a non-empty string, got {kind_word(value)}", f"give {self.what or 'a text value'}"


class Bool(Field):
    def schema(self, r: Render) -> dict[str, Any]:
        return self.annotate({"type": "boolean"}, r)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"expected true or false, got {kind_word(value)} {value!r}", "write true or false"


class Int(Field):
    def __init__(self, low: int, high: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.low, self.high = low, high

    def schema(self, r: Render) -> dict[str, Any]:
        return self.annotate({"type": "integer", "minimum": self.low, "maximum": self.high}, r)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return (path, f"expected a whole number from {self.low} to {self.high}, got {value!r}",
                f"use {self.low}..{self.high}")


class Number(Field):
    """A number in a range (`positive`: above `low`); NaN, which no bound refuses, is the loader's to refuse."""

    def __init__(self, low: float, high: float = sys.float_info.max, positive: bool = False, what: str = "",
                 fix: str = "", **kw: Any) -> None:
        super().__init__(**kw)
        self.low, self.high, self.positive, self.what, self.fix = low, high, positive, what, fix

    def schema(self, r: Render) -> dict[str, Any]:
        bound = "exclusiveMinimum" if self.positive else "minimum"
        return self.annotate({"type": "number", bound: self.low, "maximum": self.high}, r)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"expected {self.what}, got {value!r}", self.fix


class Choice(Field):
    def __init__(self, options: Sequence[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.options = tuple(options)

    def schema(self, r: Render) -> dict[str, Any]:
        if r.mode == EDITOR:
            return self.annotate({"anyOf": [{"enum": list(self.options)}, {"type": "string", "pattern": VAR}]}, r)
        return {"enum": list(self.options)}

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"{value!r} is not allowed", choose(str(value), list(self.options))


class Const(Field):
    """Exactly this value (a shorthand such as `on-demand`)."""

    def __init__(self, value: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.value = value

    def schema(self, r: Render) -> dict[str, Any]:
        if r.mode == EDITOR and isinstance(self.value, str):  # a ${var} may stand for the shorthand
            return self.annotate({"anyOf": [{"const": self.value}, {"type": "string", "pattern": VAR}]}, r)
        if r.mode == LOADER:  # fastjsonschema's const cannot be compiled without detailed exceptions; enum can
            return {"enum": [self.value]}
        return self.annotate({"const": self.value}, r)

    def accepts(self, value: Any) -> bool:
        return type(value) is type(self.value) and value == self.value

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"{value!r} is not allowed", f"write {self.value!r}"


class Null(Field):
    def schema(self, r: Render) -> dict[str, Any]:
        return {"type": "null"}

    def accepts(self, value: Any) -> bool:
        return value is None


FALSY_VALUES: tuple[Any, ...] = (None, False, 0, "", [], {})


class Falsy(Field):
    """Empty: the same as leaving the field out."""

    def schema(self, r: Render) -> dict[str, Any]:
        return {"enum": list(FALSY_VALUES), "description": "empty: the same as leaving the field out"}

    def accepts(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in FALSY_VALUES)


class Obj(Field):
    """A mapping with exactly these fields. Named: one definition of the schema (`#/definitions/<name>`).

    `hints`: JSON Schema keywords only editors get — cross-field rules the kind's `load` checks by hand, with its
    own message (which field the problem is in, and the fix).
    """

    def __init__(self, name: str | None, fields: Mapping[str, Field], required: Sequence[str] = (),
                 hints: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.name, self.fields, self.required = name, dict(fields), tuple(required)
        self.hints = hints or {}

    def body(self, r: Render) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if r.mode == EDITOR and self.description:
            out["description"] = self.description
        out["properties"] = {name: r(field) for name, field in self.fields.items()}
        out["additionalProperties"] = False
        if self.required:
            out["required"] = list(self.required)
        if r.mode == EDITOR:
            out |= self.hints
        return out

    def schema(self, r: Render) -> dict[str, Any]:
        return r.define(self.name, lambda: self.body(r)) if self.name else self.body(r)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def child(self, key: Any) -> Field | None:
        return self.fields.get(key) if isinstance(key, str) else None

    def parts(self) -> tuple[Field, ...]:
        return tuple(self.fields.values())

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        where = path or "(top)"
        if not isinstance(value, dict):
            return (where, f"expected a mapping, got {kind_word(value)}",
                    f"write it as `key: value` fields ({', '.join(self.fields)})")
        for key in value:
            if not isinstance(key, str) or key not in self.fields:
                return f"{where}.{key}", "unknown field", choose(str(key), list(self.fields))
        for key in self.required:
            if value.get(key) is None:
                return self.missing(key, path)
        return where, "is not as expected", f"check its fields ({', '.join(self.fields)})"

    def missing(self, key: str, path: str) -> Problem:
        return join(path, key), "missing", f"add `{key}:` to {path or 'the file'}"


class Listing(Field):
    """A list, or nothing (left out, or null)."""

    def __init__(self, item: Field, **kw: Any) -> None:
        super().__init__(**kw)
        self.item = item

    def schema(self, r: Render) -> dict[str, Any]:
        if r.mode == EDITOR:
            return self.annotate({"anyOf": [{"type": "array", "items": r(self.item)}, {"type": "null"}]}, r)
        return {"type": ["array", "null"], "items": r(self.item)}

    def accepts(self, value: Any) -> bool:
        return value is None or isinstance(value, list)

    def child(self, key: Any) -> Field | None:
        return self.item

    def parts(self) -> tuple[Field, ...]:
        return (self.item,)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"expected a list, got {kind_word(value)}", f"write each entry of {path} as `- name: ...`"


class Strings(Field):
    """A non-empty list of strings; `commas`: a comma-separated string is the same list."""

    def __init__(self, item: Field | None = None, commas: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.item = item or Text()
        self.commas = commas  # the regular expression of one element, for the comma-separated form

    def schema(self, r: Render) -> dict[str, Any]:
        listed = {"type": "array", "minItems": 1, "items": r(self.item)}
        if self.commas is None:
            return self.annotate(listed, r)
        one = self.commas
        text: dict[str, Any] = {"type": "string",
                                "pattern": rf"^[\s,]*(?:{one})(?:\s*,[\s,]*(?:{one}))*[\s,]*$"
                                + (f"|{VAR}" if r.mode == EDITOR else "")}
        if r.mode == EDITOR:
            text["description"] = "comma-separated"
        return self.annotate({"anyOf": [text, listed]}, r)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list) or (self.commas is not None and isinstance(value, str))

    def child(self, key: Any) -> Field | None:
        return self.item

    def parts(self) -> tuple[Field, ...]:
        return (self.item,)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        parts = split_commas(value) if self.commas is not None and isinstance(value, str) else value
        if isinstance(parts, list) and parts:
            for i, part in enumerate(parts):  # the comma-separated form: the element at fault, as in the list form
                found = explain(self.item, part, f"{path}[{i}]")
                if found:
                    return found
        return path, f"expected a non-empty list of strings, got {kind_word(value)}", "write a YAML list: [a, b]"


def split_commas(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class OneOrList(Field):
    """One value or a list of them (a policy's Action); a problem names the element, `[0]` for a single one."""

    def __init__(self, item: Field, nullable: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.item, self.nullable = item, nullable

    def schema(self, r: Render) -> dict[str, Any]:
        item = r(self.item)
        shapes = [item, {"type": "array", "items": item}] + ([{"type": "null"}] if self.nullable else [])
        return self.annotate({"anyOf": shapes}, r)

    def parts(self) -> tuple[Field, ...]:
        return (self.item,)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        for i, one in enumerate(value if isinstance(value, list) else [value]):
            found = explain(self.item, one, f"{path}[{i}]")
            if found:
                return found
        return self.item.problem(rule, value, f"{path}[0]")


class MapOf(Field):
    """A mapping of names (`keys`) to values (`values`), e.g. tags."""

    def __init__(self, keys: Field, values: Field, min_size: int = 0,
                 problems: tuple[str, str] = ("expected a mapping, got {kind}", "write `key: value` lines"),
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.keys, self.values, self.min_size, self.problems = keys, values, min_size, problems

    def schema(self, r: Render) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if self.min_size:
            out["minProperties"] = self.min_size
        out["propertyNames"] = r(self.keys)
        out["additionalProperties"] = r(self.values)
        return self.annotate(out, r)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def child(self, key: Any) -> Field | None:
        return self.values

    def parts(self) -> tuple[Field, ...]:
        return self.keys, self.values

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        if isinstance(value, dict) and len(value) >= self.min_size:
            for key, one in value.items():
                found = explain(self.keys, key, join(path, key)) or explain(self.values, one, join(path, key))
                if found:
                    return found
        return path, self.problems[0].format(kind=kind_word(value), value=value), self.problems[1]


class Union(Field):
    """One of several shapes (`on-demand` or a billing mapping). A wrong value is explained by the branch of its
    shape; a value of no branch's shape by `otherwise` (default: the last branch)."""

    def __init__(self, *branches: Field, otherwise: Explain | int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.branches, self.otherwise = branches, otherwise

    def schema(self, r: Render) -> dict[str, Any]:
        return self.annotate({"anyOf": [r(b) for b in self.branches]}, r)

    def accepts(self, value: Any) -> bool:
        return any(b.accepts(value) for b in self.branches)

    def parts(self) -> tuple[Field, ...]:
        return self.branches

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        branch = next((b for b in self.branches if b.accepts(value)), None)
        if branch is not None:
            found = explain(branch, value, path)
            if found:
                return found
        if callable(self.otherwise):
            return self.otherwise(value, path)
        return self.branches[-1 if self.otherwise is None else self.otherwise].problem("type", value, path)


class Ref(Field):
    """A named definition declared elsewhere (recursive shapes: a JSON value inside a JSON value)."""

    def __init__(self, name: str, target: Callable[[], Field]) -> None:
        super().__init__()
        self.name, self.target = name, target

    def schema(self, r: Render) -> dict[str, Any]:
        return r.define(self.name, lambda: r(self.target()))

    def accepts(self, value: Any) -> bool:
        return self.target().accepts(value)

    def child(self, key: Any) -> Field | None:
        return self.target().child(key)

    def parts(self) -> tuple[Field, ...]:
        return (self.target(),)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return self.target().problem(rule, value, path)


# ---------------------------------------------------------------------------------------------------------------
# Shared fields


class PlainString(Field):
    """Any string, the empty one included (a lifecycle rule's prefix)."""

    def __init__(self, fix: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.fix = fix

    def schema(self, r: Render) -> dict[str, Any]:
        return self.annotate({"type": "string"}, r)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"expected a string, got {kind_word(value)}", self.fix


class Types(Field):
    """A value of one of these JSON types."""

    _PYTHON: Mapping[str, tuple[type, ...]] = {"string": (str,), "number": (int, float), "boolean": (bool,),
                                               "null": (type(None),), "object": (dict,), "array": (list,)}

    def __init__(self, *types: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.types = types

    def schema(self, r: Render) -> dict[str, Any]:
        return self.annotate({"type": list(self.types)}, r)

    def accepts(self, value: Any) -> bool:
        return any(isinstance(value, self._PYTHON[t]) for t in self.types)

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"expected {' or '.join(self.types)}, got {kind_word(value)}", "see docs/estate.md"


def present(field: str) -> dict[str, Any]:
    """Editor hint: the field is there and not null (the loader reads a null field as left out)."""
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def tag_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """Validated tags as sorted (key, value) text pairs."""
    return tuple(sorted((str(k), str(v)) for k, v in (value or {}).items()))


def region_field(description: str) -> Text:
    """A resource's AWS region."""
    return Text(REGION, "an AWS region like us-east-1", description=description)


def kms_key(**kw: Any) -> Text:
    """A KMS key as AWS takes it: key id, alias/NAME, key or alias ARN."""
    return Text(KMS_KEY, "a KMS key id, alias/NAME, or key/alias ARN", **kw)


class _TagKey(Text):
    """A tag key: AWS keeps the aws: prefix for itself and allows 128 characters."""

    def schema(self, r: Render) -> dict[str, Any]:
        return {"minLength": 1, "maxLength": 128, "not": {"pattern": "^[aA][wW][sS]:"}}

    def accepts(self, value: Any) -> bool:
        return True

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, "tag keys may not start with 'aws:' or exceed 128 characters", "rename the tag"


class _TagValue(Field):
    """A tag value: text of at most 256 characters (a number is written as text)."""

    def schema(self, r: Render) -> dict[str, Any]:
        return {"type": ["string", "number"], "maxLength": 256}

    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"tag value must be a string of at most 256 characters, got {value!r}", "quote the value"


TAGS = Union(
    MapOf(_TagKey(), _TagValue(), problems=("expected a mapping of tag names to values, got {kind}",
                                            "write `key: value` lines")),
    Null(),
    otherwise=0,
    description="{key: value}; keys may not start with aws:; undeclared tags are kept",
)

_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
RTO = Text(r"[1-9][0-9]{0,4}[mhd]", "a duration like 30m, 2h or 1d", fix="write minutes, hours or days, e.g. 2h",
           description="recovery time objective: how long a restore may take, e.g. 2h (minutes m, hours h, days d); "
           "a drill whose restore takes longer alarms")


def duration_seconds(text: str) -> float:
    """A duration that passed RTO ("30m", "2h", "1d") in seconds."""
    return float(int(text[:-1]) * _UNIT_SECONDS[text[-1]])


def rto_seconds(raw: dict[str, Any]) -> float | None:
    """The `recovery.rto` of an entry that passed its fields, in seconds (None: not declared)."""
    rto = (raw.get("recovery") or {}).get("rto")
    return None if rto is None else duration_seconds(str(rto))


DURATION = r"[1-9][0-9]{0,6}[smhd]"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(description: str) -> Text:
    """A duration as the estate writes it: a whole number and a unit (s, m, h, d): 30m, 1h, 35d."""
    return Text(DURATION, "a duration", fix="write a whole number and a unit: 30m, 1h or 35d (s, m, h, d)",
                numbers=False, description=description)


def parse_duration(text: str) -> timedelta:
    """A duration that passed `duration` (30m, 1h, 35d) as a timedelta."""
    return timedelta(seconds=int(text[:-1]) * _UNITS[text[-1]])


# A resource's recovery objective, `recovery:` on a table (or in table_defaults) or a bucket: its fields, declared once
# here for every kind that holds data. A new field is one entry below and one field of spec.Objective.
OBJECTIVE_FIELDS: dict[str, Field] = {
    "window": duration("how far back its copies must reach: damage noticed this late can still be undone (35d)"),
    "rpo": duration("how much a deletion now may lose at most: how old the newest copy may be (1h)"),
    "rto": RTO,  # a drill's concern (spec's rto_seconds), not the copies': objective() leaves it out
}
RECOVERY = Union(
    Obj("recovery", OBJECTIVE_FIELDS, description="the recovery objective: a resource whose copies fall short is a "
        "problem in plan and status; apply switches on what the estate declares (PITR, versioning)"),
    Null(), otherwise=0, description="recovery objective: {window: 35d, rpo: 1h}",
)


def objective(checker: Checker, raw: Any, path: str, longest: timedelta, why: str) -> Objective | None:
    """A `recovery:` block that passed RECOVERY, as an Objective (None: not declared), with the rules across its
    fields: a window AWS's copies can reach (`longest`, `why` says whose limit), an rpo within the window."""
    if not raw:
        return None
    given = {f.name: parse_duration(raw[f.name]) for f in dataclass_fields(Objective) if raw.get(f.name) is not None}
    window, rpo = given.get("window"), given.get("rpo")
    if window is not None and window > longest:
        checker.fail(f"{path}.window", f"{raw['window']} is longer than {why} ({duration_text(longest)})",
                     f"use window: {duration_text(longest)} or less")
    if window is not None and rpo is not None and rpo > window:
        checker.fail(f"{path}.rpo", f"{raw['rpo']} is longer than the window {raw['window']}",
                     f"use an rpo of at most {raw['window']} (a copy older than the window is out of it)")
    return Objective(**given) if given else None


# ---------------------------------------------------------------------------------------------------------------
# Rendering and validating


class Render:
    """Renders fields as JSON Schema; named mappings become definitions."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.definitions: dict[str, dict[str, Any]] = {}
        self.shared: dict[int, str] = {}

    def __call__(self, field: Field) -> dict[str, Any]:
        if id(field) in self.shared:  # validation code written once for a shape used in several places
            return self.define(self.shared[id(field)], lambda: field.schema(self))
        return field.schema(self)

    def define(self, name: str, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name not in self.definitions:
            self.definitions[name] = {}  # taken before the body is rendered: a shape may hold itself
            self.definitions[name] = body()
        return {"$ref": f"#/definitions/{name}"}

    def document(self, field: Field, **top: Any) -> dict[str, Any]:
        """A whole schema: the field at the top, its definitions beside it."""
        if self.mode == LOADER:
            uses: dict[int, int] = {}
            _count(field, uses, set())
            self.shared = {i: f"shape{n}" for n, i in enumerate(i for i, count in uses.items() if count > 1)}
        root = self(field)
        return {"$schema": "http://json-schema.org/draft-07/schema#", **top, **root,
                "definitions": dict(self.definitions)}


def _count(field: Field, uses: dict[int, int], seen: set[int]) -> None:
    """How often each composite shape is used inside a field (named shapes are definitions already)."""
    if not field.parts():
        return  # a leaf is cheap to repeat
    if (isinstance(field, Obj) and field.name) or isinstance(field, Ref):
        if id(field) not in seen:
            seen.add(id(field))
            for inner in field.parts():
                _count(inner, uses, seen)
        return
    uses[id(field)] = uses.get(id(field), 0) + 1
    if uses[id(field)] == 1:
        for inner in field.parts():
            _count(inner, uses, seen)


@cache
def _validator(field: Field, detailed: bool) -> Callable[[Any], Any]:
    from . import validators  # noqa: PLC0415 - it imports this module

    document = Render(LOADER).document(field)
    found = validators.generated(document, detailed)  # made by `make build` from this very document, if it was
    if found is not None:
        return found
    import fastjsonschema  # noqa: PLC0415 - compiled on first use, once per field

    return fastjsonschema.compile(document, detailed_exceptions=detailed)


def explain(field: Field, value: Any, path: str) -> Problem | None:
    """The first problem of a value against a field, as (path, problem, fix); None when it is valid."""
    import fastjsonschema  # noqa: PLC0415

    try:
        _validator(field, False)(value)  # the quick answer: a third of the code to compile, no error details
        return None
    except fastjsonschema.JsonSchemaValueException:
        pass
    try:
        _validator(field, True)(value)  # where and which rule: compiled only for a value that is wrong
    except fastjsonschema.JsonSchemaValueException as exc:
        return _locate(field, value, path, list(exc.path)[1:], exc.rule or "")
    return None


def _locate(field: Field, value: Any, path: str, keys: list[Any], rule: str) -> Problem:
    """Walk from a field down an error's path to the field it is in, and let that field explain it."""
    for key in keys:
        field = _shape(field, value)
        if isinstance(value, list):
            key = int(key)
            inner = value[key] if key < len(value) else None
        elif isinstance(value, dict):
            inner = value.get(key)
        else:
            break
        child = field.child(key)
        if child is None:
            break
        if inner is None and isinstance(field, Obj) and key in field.required:
            return field.missing(key, path)  # null reads as left out
        field, path, value = child, join(path, key, value), inner
    return field.problem(rule, value, path)


def _shape(field: Field, value: Any) -> Field:
    """The branch of a union (through named shapes) that a value inside it is of."""
    while isinstance(field, Union | Ref):
        if isinstance(field, Ref):
            field = field.target()
            continue
        branch = next((b for b in field.branches if b.accepts(value)), None)
        if branch is None:
            return field
        field = branch
    return field


class Checker:
    """What a kind's `load` is given: report a problem in the estate file, check a value, compare names."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str, fix: str) -> NoReturn:
        raise EstateError(self.source, path, problem, fix)

    def check(self, value: Any, field: Field, path: str) -> Any:
        """The value if the field accepts it, else EstateError naming the first problem."""
        found = explain(field, value, path)
        if found:
            self.fail(*found)
        return value

    def unique(self, names: Sequence[str], path: str, what: str) -> None:
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in seen:
                self.fail(f"{path}[{i}].name", f"{what} {name!r} is declared twice (also {path}[{seen[name]}])",
                          f"give each {what} its own name")
            seen[name] = i

    # For a kind that checks its entries by hand (no declared fields): the same fields, made once per shape.

    def mapping(self, value: Any, path: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict[str, Any]:
        return dict(self.check(value, _mapping(tuple(allowed), tuple(required)), path))

    def string(self, value: Any, path: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        return str(self.check(value, _text(pattern, what), path))

    def integer(self, value: Any, path: str, low: int, high: int) -> int:
        return int(self.check(value, _int(low, high), path))


@cache
def _mapping(allowed: tuple[str, ...], required: tuple[str, ...]) -> Obj:
    return Obj(None, dict.fromkeys(allowed, Anything()), required)


@cache
def _text(pattern: re.Pattern[str] | None, what: str) -> Text:
    return Text(pattern, what)


@cache
def _int(low: int, high: int) -> Int:
    return Int(low, high)


class Section(Protocol):
    """What the loader and the schema need of a kind: its estate section, declared (`fields`) or loaded by hand."""

    name: str
    section: str
    title: str
    fields: Obj | None  # one entry; None: `load` checks the entry itself (`entry_schema` is for editors)
    defaults: Obj | None  # a top-level mapping (its name is the key) merged under every entry, e.g. table_defaults
    defaults_probe: Mapping[str, Any]  # what completes the defaults into an entry, to check them by themselves
    entry_schema: dict[str, Any] | None
    copy_fix: str  # how a copy of one is declared, for a recovery objective no declared copy meets

    def load(self, checker: Checker, raw: Any, path: str, region: str) -> Any: ...

    def objective(self, spec: Any) -> Objective | None: ...

    def copies(self, spec: Any, target: Any) -> tuple[Any, ...]: ...


def sections() -> tuple[Section, ...]:
    """The estate's sections: one per registered kind, in registration order."""
    # The registry, found by name when first asked: it imports the kinds, which import this module, never the loader.
    registry = importlib.import_module(f"{__package__}.kinds")
    return tuple(registry.kinds())
