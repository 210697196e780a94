"""The estate file: load YAML, resolve ${VARS}, validate every section against its kind's declared fields, return
the frozen specs of selfheal/spec.py.

Nothing here touches AWS or names a kind. Every problem raises `EstateError`, whose one-line message names the file,
the field path and the fix, so a bad estate stops a run before its first AWS call. The shape of the file is checked
against the JSON Schema rendered from the fields (selfheal/fields.py); what a schema cannot say — ${var} resolution
here, rules across fields in each kind's `load` — is checked by hand.
"""

from __future__ import annotations

import importlib.resources
import math
import os
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fields import (
    Anything,
    Bool,
    Checker,
    Const,
    Falsy,
    Field,
    Int,
    Listing,
    Null,
    Number,
    Obj,
    Problem,
    Section,
    Union,
    kind_word,
    sections,
)
from .plan.objective import unmeetable
from .spec import Copy, Estate, EstateError, Settings, choose

if TYPE_CHECKING:
    import yaml

EstateParser = Checker  # the object a kind's `load` is given (its older name)


def shipped_file(name: str) -> Path:
    """A file shipped inside the selfheal package (package data): found from any working directory."""
    return Path(str(importlib.resources.files(__package__ or "selfheal").joinpath(name)))


DEFAULT_ESTATE_PATH = shipped_file("estate.yaml")  # the Lambda's functions/selfheal/estate.yaml links to it
SCHEMA_FILE = "estate.schema.json"  # the JSON Schema for editors, beside the shipped estate (selfheal.schema)
ENV_ESTATE = "SELFHEAL_ESTATE"
ENV_VAR_PREFIX = "SELFHEAL_VAR_"
ENV_MAX_MISSING = "SELFHEAL_MAX_MISSING_PERCENT"
SOFT_VARS = ("region", "backup_role")  # given by the run's place (--region; the stack's region and its
# BackupRole for a declared backups selection): used only where the estate declares them
VAR_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_VAR_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")


class _Version(Const):
    def problem(self, rule: str, value: Any, path: str) -> Problem:
        return path, f"unsupported version {value!r}", "write `version: 1`"


_PERCENT = Number(0, 100, what="a percentage 0..100", fix="use e.g. 50", default=50,
                  description="a scheduled run finding more of the estate missing stops")
_BUDGET = Number(0, positive=True, what="a positive number of seconds", fix="use e.g. 840")
_WAIT = Number(0, positive=True, what="a positive number of seconds", fix="use e.g. 5", default=900,
               description="longest wait for a resource to become usable")
_POLL = Number(0, positive=True, what="a positive number of seconds", fix="use e.g. 5", default=5,
               description="between checks while waiting")
SETTINGS = Obj(
    "settings",
    {
        "max_missing_percent": _PERCENT,
        "pool_size": Int(1, 64, default=16, description="resources reconciled at once"),
        "time_budget_seconds": Union(_BUDGET, Null(), otherwise=0,
                                     description="resources not started by then are deferred"),
        "wait_timeout_seconds": _WAIT,
        "poll_seconds": _POLL,
    },
    description="run settings",
)
_VARS = Anything(editor={"anyOf": [
    {
        "type": "object",
        "propertyNames": {"pattern": f"^(?:{VAR_NAME.pattern.removeprefix('^').removesuffix('$')})$"},
        "additionalProperties": {"anyOf": [
            {"type": ["string", "number", "array"]},
            {"type": "object", "required": ["default"], "additionalProperties": False, "properties": {
                "default": {"type": ["string", "number", "array"], "description": "the var's value"},
                "overridable": {"type": "boolean", "default": False,
                                "description": "SELFHEAL_VAR_<NAME> and --set may change it though it is in "
                                "resources' names (a deploy-time bucket name)"}},
             "description": "a var with its default, and whether it may rename the resources it names"},
        ]},
        "description": "${name} anywhere in the file is replaced by a var; overridden by SELFHEAL_VAR_<NAME> and "
        "--set name=value (a var in resources' names only where it is {default: VALUE, overridable: true})",
    },
    {"enum": [None, False, 0, "", [], {}], "description": "empty: the same as leaving the field out"},
]})


@cache
def estate_fields(kinds: tuple[Section, ...]) -> Obj:
    """The whole file's fields: version, vars, settings, then each kind's shared defaults (if any) and section."""
    fields: dict[str, Field] = {"version": _Version(1, default=1), "vars": _VARS,
                                "settings": Union(SETTINGS, Falsy(), otherwise=0)}
    for kind in kinds:
        if kind.defaults is not None and kind.defaults.name:
            fields[kind.defaults.name] = Union(kind.defaults, Falsy(), otherwise=0)
        entry = kind.fields or Anything(editor=kind.entry_schema or {"type": "object"})
        fields[kind.section] = Listing(entry, description=kind.title)
    titles = [k.title for k in kinds]
    return Obj(
        None,
        fields,
        description=f"selfheal estate: {', '.join(titles[:-1])}{' and ' if len(titles) > 1 else ''}{titles[-1]} "
        "kept exactly as declared (docs/estate.md)",
        hints={"anyOf": [{"required": [k.section], "properties": {k.section: {"type": "array", "minItems": 1}}}
                         for k in kinds]},
    )


def _named(field: Field, seen: set[int]) -> Iterator[Obj]:
    """Every named mapping inside a field (the definitions of the schema)."""
    if id(field) in seen:
        return
    seen.add(id(field))
    if isinstance(field, Obj) and field.name:
        yield field
    for inner in field.parts():
        yield from _named(inner, seen)


class _Declared(Mapping[str, tuple[str, ...]]):
    """Every mapping of the estate file -> its fields ("estate": the top), read from the registered kinds."""

    def __init__(self, what: str) -> None:
        self.what = what

    def _all(self) -> dict[str, tuple[str, ...]]:
        top = estate_fields(sections())
        out = {"estate": tuple(top.fields) if self.what == "fields" else ()}
        for obj in _named(top, set()):
            out[obj.name or ""] = tuple(obj.fields) if self.what == "fields" else obj.required
        return {k: v for k, v in out.items() if v or self.what == "fields"}

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


FIELDS: Mapping[str, tuple[str, ...]] = _Declared("fields")
REQUIRED: Mapping[str, tuple[str, ...]] = _Declared("required")


# ---------------------------------------------------------------------------------------------------------------
# Loading


LIBYAML = True  # parse with libyaml where PyYAML has it (tests turn it off to run the pure-Python parser as well)


@cache
def _strict_loaders() -> tuple[type[yaml.CSafeLoader] | None, type[yaml.SafeLoader]]:
    """PyYAML's safe loaders, refusing duplicate keys and impossible dates: libyaml's where PyYAML was built with it
    (a fraction of the pure parser's time; None without it) and the pure-Python one."""
    import yaml  # noqa: PLC0415 - a run that reads no estate file (selfheal --version) does not import it

    def strict(base: Any) -> Any:
        class Strict(base):  # type: ignore[misc]  # one of PyYAML's two safe loaders
            """A safe loader that refuses duplicate keys instead of keeping the last one silently."""

        Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
        Strict.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
        return Strict

    c_loader = getattr(yaml, "CSafeLoader", None)  # PyYAML built without libyaml has no C loaders
    return (strict(c_loader) if c_loader is not None else None), strict(yaml.SafeLoader)


def _no_duplicates(loader: yaml.SafeLoader | yaml.CSafeLoader, node: yaml.MappingNode,
                   deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate: bool | None = key in seen
        except TypeError:
            duplicate = None  # a list or mapping as a key
        if duplicate is not False:
            from yaml.constructor import ConstructorError  # noqa: PLC0415 - imported with the loaders, never before

            problem = f"duplicate key {key!r}" if duplicate else "a key must be a plain value, not a list or mapping"
            raise ConstructorError(None, None, problem, key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _timestamp(loader: yaml.SafeLoader | yaml.CSafeLoader, node: yaml.ScalarNode) -> Any:
    """PyYAML raises a bare ValueError for date-like text that is no date (2024-13-45): make it a YAML error."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        from yaml.constructor import ConstructorError  # noqa: PLC0415

        raise ConstructorError(
            None, None, f"{node.value!r} looks like a date but is none ({exc}); quote it", node.start_mark
        ) from None


# What libyaml reads otherwise than the pure parser: a tab (accepted in plain scalars) or another control character, a
# line break NEL/LS/PS or a byte-order mark inside the text, a tag (an empty `!` node is '' there, None here), a comment
# right after a block scalar's `|` or `>`. Text with one of them is read by the pure parser alone, as before libyaml.
# (A pattern, compiled by `re` at the first read: `import app` does not pay for it.)
_NOT_FOR_LIBYAML = (r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff\u2028\u2029!]"
                    r"|(?:^|\s)[|>][-+0-9]*#")


def read_yaml(text: str, source: str) -> Any:
    """The estate file's YAML as data; EstateError names the line and column of a problem."""
    import yaml  # noqa: PLC0415

    fast, pure = _strict_loaders()
    if fast is not None and LIBYAML and not re.search(_NOT_FOR_LIBYAML, text):
        try:
            return yaml.load(text, Loader=fast)  # noqa: S506 - a CSafeLoader subclass
        except yaml.YAMLError:
            pass  # libyaml words errors and places some marks otherwise: the pure parser reads it again to tell it
    try:
        return yaml.load(text, Loader=pure)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "-"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise EstateError(source, where, f"not valid YAML: {problem}", "fix the YAML syntax at that line") from None


def load_estate(
    path: str | Path | None = None,
    overrides: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    soft_overrides: Mapping[str, str] | None = None,
) -> Estate:
    """Read, resolve and validate an estate file.

    path: the file; default `$SELFHEAL_ESTATE`, else the estate shipped with the function.
    overrides: `--set KEY=VALUE` values for declared vars (they win over the environment).
    env: where `SELFHEAL_VAR_<NAME>` and `SELFHEAL_MAX_MISSING_PERCENT` are read; default os.environ.
    soft_overrides: like overrides, but applied only to vars the estate declares (e.g. --region).
    """
    env = os.environ if env is None else env
    chosen = Path(path) if path else Path(env.get(ENV_ESTATE) or DEFAULT_ESTATE_PATH)
    source = str(chosen)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EstateError(source, "-", "file not found", "pass an existing file with --estate PATH") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EstateError(source, "-", f"cannot read the file ({exc})", "check its path and permissions") from None
    return parse_estate(text, source=source, overrides=overrides, env=env, soft_overrides=soft_overrides)


def parse_estate(
    text: str,
    source: str = "<estate>",
    overrides: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    soft_overrides: Mapping[str, str] | None = None,
) -> Estate:
    """Validate estate YAML text; see `load_estate`."""
    env = {} if env is None else env
    doc = read_yaml(text, source)
    return _estate(Checker(source), doc, dict(overrides or {}), env, dict(soft_overrides or {}))


def _estate(checker: Checker, doc: Any, overrides: dict[str, str], env: Mapping[str, str],
            soft: dict[str, str]) -> Estate:
    kinds = sections()
    top = estate_fields(kinds)
    if doc is None:
        checker.fail("-", "the file is empty", f"declare at least {' or '.join(f'`{k.section}:`' for k in kinds)}")
    if not isinstance(doc, dict) or any(not isinstance(k, str) or k not in top.fields for k in doc):
        checker.fail(*top.problem("type", doc, ""))  # before the vars: a misspelt section is the likelier mistake
    declared: dict[str, Any] = doc["vars"] if isinstance(doc.get("vars"), dict) else {}
    overrides = {**{k: v for k, v in soft.items() if k in declared}, **overrides}
    variables = _variables(checker, doc.get("vars"), overrides, env, _raw_names(doc, kinds))
    resolved = {k: _substitute(checker, v, k, variables) for k, v in doc.items() if k != "vars"}
    if env.get(ENV_MAX_MISSING) not in (None, ""):
        try:
            percent = float(env[ENV_MAX_MISSING])
        except ValueError:
            checker.fail(ENV_MAX_MISSING, f"{env[ENV_MAX_MISSING]!r} is not a number", "set a percentage 0..100")
        if isinstance(resolved.get("settings") or {}, dict):
            resolved["settings"] = {**(resolved.get("settings") or {}), "max_missing_percent": percent}
    region = variables.get("region", "us-east-1")
    for kind in kinds:  # an entry's region defaults to the `region` var: filled in so a bad var is found there
        defaults = resolved.get(kind.defaults.name) if kind.defaults is not None and kind.defaults.name else None
        entries = resolved.get(kind.section)
        if (kind.fields is None or "region" not in kind.fields.fields or not isinstance(entries, list)
                or (isinstance(defaults, dict) and "region" in defaults)):
            continue
        resolved[kind.section] = [{**e, "region": region} if isinstance(e, dict) and "region" not in e else e
                                  for e in entries]
    checker.check(resolved, top, "")
    settings = _settings(checker, resolved.get("settings") or {})
    specs: dict[str, tuple[Any, ...]] = {}
    for kind in kinds:
        if kind.defaults is not None and kind.defaults.name and resolved.get(kind.defaults.name):
            # checked on their own, so a bad default is an error even where every entry overrides it
            kind.load(checker, {**resolved[kind.defaults.name], **kind.defaults_probe}, kind.defaults.name,
                      "us-east-1")
    if not any(resolved.get(kind.section) for kind in kinds):
        checker.fail(kinds[0].section, f"the estate declares no {' and no '.join(k.section for k in kinds)}",
                     "declare at least one")
    for kind in kinds:
        defaults = (resolved.get(kind.defaults.name) if kind.defaults is not None and kind.defaults.name else None)
        entries = resolved.get(kind.section) or []
        specs[kind.section] = tuple(
            kind.load(checker, {**(defaults or {}), **raw} if isinstance(raw, dict) else raw, f"{kind.section}[{i}]",
                      region)
            for i, raw in enumerate(entries)
        )
        checker.unique([s.name for s in specs[kind.section]], kind.section, kind.name)
    copies = _objectives(checker, kinds, specs)
    return Estate(checker.source, specs, settings, tuple(sorted(variables.items())), copies)


def _objectives(checker: Checker, kinds: tuple[Section, ...],
                specs: Mapping[str, tuple[Any, ...]]) -> dict[tuple[str, str], tuple[Copy, ...]]:
    """The copies the estate declares of each resource with a recovery objective (any section may keep them: a backups
    selection copies a table), and an objective none of them can meet refused."""
    every = [(kind, spec) for kind in kinds for spec in specs[kind.section]]
    copies: dict[tuple[str, str], tuple[Copy, ...]] = {}
    for kind in kinds:
        for i, spec in enumerate(specs[kind.section]):
            goal = kind.objective(spec)
            if goal is None:
                continue
            declared = tuple(c for other, keeper in every for c in other.copies(keeper, spec))
            copies[(spec.kind, spec.name)] = declared
            short = unmeetable(goal, declared, kind.copy_fix)
            if short is not None:
                where = f"{kind.section}[{i}].recovery" + (f".{short.field}" if short.field else "")
                checker.fail(where, f"cannot be met by any declared copy: {short.problem}", short.fix)
    return copies


# --- variables ------------------------------------------------------------------------------------------------


def _variables(checker: Checker, raw: Any, overrides: dict[str, str], env: Mapping[str, str],
               names: tuple[str, ...] = ()) -> dict[str, str]:
    """The vars' values: the estate's, then SELFHEAL_VAR_<NAME>, then --set. A var given that the estate does not
    declare is refused, and so is one that renames resources (it is in a name) unless marked overridable."""
    raw = raw or {}
    if not isinstance(raw, dict):
        checker.fail("vars", f"expected a mapping of names to values, got {kind_word(raw)}",
                     "write `name: value` lines")
    values: dict[str, str] = {}
    overridable: set[str] = set()
    for key, val in raw.items():
        if not isinstance(key, str) or not VAR_NAME.fullmatch(key):
            checker.fail(f"vars.{key}", "variable names are lower_snake_case", "rename it, e.g. photos_bucket")
        if isinstance(val, dict):  # {default: VALUE, overridable: true}: a var that may rename resources
            val = checker.check(val, _DEFAULTED, f"vars.{key}")
            if checker.check(val.get("overridable", False), _OVERRIDABLE, f"vars.{key}.overridable"):
                overridable.add(key)
            val = val["default"]
        if isinstance(val, list):
            val = ",".join(str(v) for v in val)
        if val is None or isinstance(val, dict | bool):
            checker.fail(f"vars.{key}", f"expected a string, got {kind_word(val)}", "give a text value")
        values[key] = str(val)
    given: dict[str, tuple[str, str]] = {}  # var -> (where it was given, its value)
    for name, env_value in env.items():
        key = name[len(ENV_VAR_PREFIX):].lower() if name.startswith(ENV_VAR_PREFIX) else None
        if key is None or env_value in (None, ""):
            continue
        if key not in values:
            if key in SOFT_VARS:
                continue  # the region of a run applies to an estate that declares one
            checker.fail(name, "no such variable in the estate",
                         f"unset {name}, or declare {key!r} under vars ({choose(key, sorted(values))})")
        given[key] = (f"{name}={env_value}", env_value)
    for key, val in overrides.items():
        if key not in values:
            checker.fail(f"--set {key}", "no such variable in the estate", choose(key, sorted(values)))
        given[key] = (f"--set {key}={val}", val)
    naming = _naming_vars(raw, names)
    for key, (where, val) in given.items():
        if val != values[key] and key in naming and key not in overridable:
            checker.fail(where, f"var {key} names the estate's resources ({', '.join(naming[key][:3])}"
                         f"{', ...' if len(naming[key]) > 3 else ''}) and the estate does not let it be overridden",
                         f"leave it unset to keep the estate's {values[key]!r}, or mark it in the estate: "
                         f"`{key}: {{default: {values[key]}, overridable: true}}`")
        values[key] = val
    resolved: dict[str, str] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> str:
        if name in resolved:
            return resolved[name]
        if name in chain:
            checker.fail(f"vars.{name}", f"refers to itself through {' -> '.join(chain + (name,))}", "break the cycle")
        text = _replace(checker, values[name], f"vars.{name}", lambda ref: resolve(ref, chain + (name,)), values)
        resolved[name] = text
        return text

    for name in values:
        resolve(name, ())
    return resolved


_DEFAULTED = Obj(None, {"default": Anything(), "overridable": Anything()}, ("default",))  # {default: VALUE, ...}
_OVERRIDABLE = Bool()


def _raw_names(doc: Any, kinds: tuple[Section, ...]) -> tuple[str, ...]:
    """Every resource's name as written (before ${var}s are replaced)."""
    names = []
    for kind in kinds:
        entries = doc.get(kind.section) if isinstance(doc, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                names.append(entry["name"])
    return tuple(names)


def _naming_vars(raw: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, list[str]]:
    """var -> the names (as written) it takes part in, directly or through another var."""

    def refs(text: Any, seen: frozenset[str]) -> set[str]:
        out: set[str] = set()
        for match in _VAR_REF.finditer(text if isinstance(text, str) else ""):
            ref = match.group(1)
            if ref and ref not in seen:
                value = raw.get(ref)
                value = value.get("default") if isinstance(value, dict) else value
                out |= {ref} | refs(value, seen | {ref})
        return out

    naming: dict[str, list[str]] = {}
    for name in names:
        for var in refs(name, frozenset()):
            naming.setdefault(var, []).append(name)
    return naming


def _replace(checker: Checker, text: str, path: str, lookup: Any, known: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        ref = match.group(1)
        if ref not in known:
            checker.fail(path, f"unresolved ${{{ref}}}",
                         f"declare {ref!r} under vars (known: {', '.join(sorted(known)) or 'none'})")
        return str(lookup(ref))

    return _VAR_REF.sub(sub, text)


def _substitute(checker: Checker, node: Any, path: str, variables: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _replace(checker, node, path, variables.__getitem__, variables)
    if isinstance(node, list):
        return [_substitute(checker, v, f"{path}[{i}]", variables) for i, v in enumerate(node)]
    if isinstance(node, dict):
        return {k: _substitute(checker, v, f"{path}.{k}", variables) for k, v in node.items()}
    return node


# --- settings -------------------------------------------------------------------------------------------------


def _settings(checker: Checker, raw: dict[str, Any]) -> Settings:
    out = Settings()
    values = {
        "max_missing_percent": raw.get("max_missing_percent", out.max_missing_percent),
        "time_budget_seconds": raw.get("time_budget_seconds"),
        "wait_timeout_seconds": raw.get("wait_timeout_seconds", out.wait_timeout_seconds),
        "poll_seconds": raw.get("poll_seconds", out.poll_seconds),
    }
    fields = {"max_missing_percent": _PERCENT, "time_budget_seconds": _BUDGET, "wait_timeout_seconds": _WAIT,
              "poll_seconds": _POLL}
    for name, value in values.items():
        if isinstance(value, float) and math.isnan(value):  # NaN passes every bound a schema can give
            checker.fail(*fields[name].problem("nan", value, f"settings.{name}"))
    budget = values["time_budget_seconds"]
    return Settings(float(values["max_missing_percent"]), int(raw.get("pool_size", out.pool_size)),
                    None if budget is None else float(budget), float(values["wait_timeout_seconds"]),
                    float(values["poll_seconds"]))
