"""The estate file: load YAML, resolve ${VARS}, validate strictly, return the frozen specs of selfheal/spec.py.

Nothing here touches AWS. Every problem raises `EstateError`, whose one-line message names the file, the field
path and the fix, so a bad estate stops a run before its first AWS call.
"""

from __future__ import annotations

import importlib.resources
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from .spec import (
    BPA_FLAGS,
    CORS_METHODS,
    KEY_TYPES,
    LIFECYCLE_ACTIONS,
    ON_DEMAND,
    OWNERSHIP,
    POLICY_PRESETS,
    PROVISIONED,
    STREAM_VIEWS,
    BucketSpec,
    CorsRule,
    Estate,
    EstateError,
    IndexSpec,
    KeyAttr,
    LifecycleRule,
    Settings,
    TableSpec,
    Website,
    canonical_json,
    choose,
    partition_of,
    preset_statement,
)

if TYPE_CHECKING:
    from .kinds import Kind


def shipped_file(name: str) -> Path:
    """A file shipped inside the selfheal package (package data): found from any working directory."""
    return Path(str(importlib.resources.files(__package__ or "selfheal").joinpath(name)))


DEFAULT_ESTATE_PATH = shipped_file("estate.yaml")  # the Lambda's functions/selfheal/estate.yaml links to it
SCHEMA_FILE = "estate.schema.json"  # the JSON Schema for editors, beside the shipped estate (selfheal.schema)
ENV_ESTATE = "SELFHEAL_ESTATE"
ENV_VAR_PREFIX = "SELFHEAL_VAR_"
ENV_MAX_MISSING = "SELFHEAL_MAX_MISSING_PERCENT"

# Every mapping of the estate file and the fields it takes, in one place: the validator below accepts exactly these,
# and the JSON Schema for editors (selfheal/schema.py) is generated from them, so the two cannot drift apart.
_TABLE_SETTINGS = ("billing", "encryption", "pitr", "deletion_protection", "ttl", "stream", "tags", "restore")
FIELDS: dict[str, tuple[str, ...]] = {
    "estate": ("version", "vars", "settings", "table_defaults", "tables", "buckets"),
    "settings": ("max_missing_percent", "pool_size", "time_budget_seconds", "wait_timeout_seconds", "poll_seconds"),
    "table": ("name", "hash_key", "range_key", "region", "gsis", "lsis") + _TABLE_SETTINGS,
    "table_defaults": ("region",) + _TABLE_SETTINGS,  # never names, keys or indexes
    "key": ("name", "type"),
    "gsi": ("name", "hash_key", "range_key", "projection", "read_capacity", "write_capacity"),
    "lsi": ("name", "range_key", "projection"),
    "projection": ("include",),
    "billing": ("mode", "read_capacity", "write_capacity"),
    "table_encryption": ("kms_key",),
    "pitr": ("enabled", "recovery_days"),
    "bucket": ("name", "region", "public_access_block", "object_ownership", "encryption", "versioning", "website",
               "policy", "cors", "lifecycle", "tags"),
    "public_access_block": BPA_FLAGS,
    "bucket_encryption": ("kms_key", "bucket_key"),
    "website": ("index_document", "error_document"),
    "policy": ("presets", "statements"),
    "statement": ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                  "Condition"),
    "cors": ("id", "allowed_origins", "allowed_methods", "allowed_headers", "expose_headers", "max_age_seconds"),
    "lifecycle": ("id", "prefix") + LIFECYCLE_ACTIONS,
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "table": ("name", "hash_key"),
    "key": ("name",),
    "gsi": ("name", "hash_key"),
    "lsi": ("name", "range_key"),
    "projection": ("include",),
    "billing": ("mode",),
    "table_encryption": ("kms_key",),
    "bucket": ("name",),
    "statement": ("Sid", "Effect"),
    "cors": ("allowed_origins", "allowed_methods"),
    "lifecycle": ("id",),
}


TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
VAR_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_VAR_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
KMS_KEY = re.compile(
    r"^(alias/[A-Za-z0-9/_-]{1,250}"
    r"|(mrk-[0-9a-f]{32})"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/([0-9a-f-]{36}|mrk-[0-9a-f]{32})|alias/[A-Za-z0-9/_-]{1,250}))$"
)


# ---------------------------------------------------------------------------------------------------------------
# Loading


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one silently."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # a list or mapping as a key
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value, not a list or mapping", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    """PyYAML raises a bare ValueError for date-like text that is no date (2024-13-45): make it a YAML error."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} looks like a date but is none ({exc}); quote it", node.start_mark
        ) from None


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


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
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "-"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise EstateError(source, where, f"not valid YAML: {problem}", "fix the YAML syntax at that line") from None
    return EstateParser(source).estate(doc, dict(overrides or {}), env, dict(soft_overrides or {}))


class EstateParser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str, fix: str) -> NoReturn:
        raise EstateError(self.source, path, problem, fix)

    # --- primitives -------------------------------------------------------------------------------------------

    def mapping(
        self, value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(
                path,
                f"expected a mapping, got {_kind(value)}",
                f"write it as `key: value` fields ({', '.join(allowed)})",
            )
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.fail(f"{path}.{key}", "unknown field", choose(str(key), list(allowed)))
        for key in required:
            if value.get(key) is None:
                self.fail(f"{path}.{key}", "missing", f"add `{key}:` to {path}")
        return value

    def fields(self, value: Any, path: str, kind: str) -> dict[str, Any]:
        """A mapping of the kind named in FIELDS, with its required fields."""
        return self.mapping(value, path, FIELDS[kind], REQUIRED.get(kind, ()))

    def string(self, value: Any, path: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            self.fail(path, f"expected a non-empty string, got {_kind(value)}", f"give {what or 'a text value'}")
        text = str(value)
        if pattern is not None and not pattern.fullmatch(text):  # not .match: its $ also matches before a final \n
            self.fail(path, f"{text!r} is not {what}", f"give {what}")
        return text

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {_kind(value)} {value!r}", "write true or false")
        return value

    def integer(self, value: Any, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(path, f"expected a whole number from {low} to {high}, got {value!r}", f"use {low}..{high}")
        return value

    def choice(self, value: Any, path: str, options: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in options:
            self.fail(path, f"{value!r} is not allowed", choose(str(value), list(options)))
        return value

    def strings(self, value: Any, path: str, split_commas: bool = False) -> tuple[str, ...]:
        if split_commas and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not value:
            self.fail(path, f"expected a non-empty list of strings, got {_kind(value)}", "write a YAML list: [a, b]")
        return tuple(self.string(item, f"{path}[{i}]") for i, item in enumerate(value))

    def tags(self, value: Any, path: str) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.fail(
                path, f"expected a mapping of tag names to values, got {_kind(value)}", "write `key: value` lines"
            )
        out = []
        for key, val in value.items():
            key_s = self.string(key, f"{path}.{key}", what="a tag key")
            if key_s.lower().startswith("aws:") or len(key_s) > 128:
                self.fail(
                    f"{path}.{key_s}", "tag keys may not start with 'aws:' or exceed 128 characters", "rename the tag"
                )
            if isinstance(val, bool) or not isinstance(val, str | int | float) or len(str(val)) > 256:
                self.fail(
                    f"{path}.{key_s}",
                    f"tag value must be a string of at most 256 characters, got {val!r}",
                    "quote the value",
                )
            out.append((key_s, str(val)))
        return tuple(sorted(out))

    def kms_key(self, value: Any, path: str) -> str:
        return self.string(value, path, KMS_KEY, "a KMS key id, alias/NAME, or key/alias ARN")

    # --- the document -----------------------------------------------------------------------------------------

    def estate(self, doc: Any, overrides: dict[str, str], env: Mapping[str, str], soft: dict[str, str]) -> Estate:
        if doc is None:
            self.fail("-", "the file is empty", "declare at least `tables:` or `buckets:`")
        extra = other_kinds()
        doc = self.mapping(doc, "(top)", FIELDS["estate"] + tuple(extra))
        if isinstance(doc.get("version"), bool) or doc.get("version", 1) != 1:
            self.fail("version", f"unsupported version {doc.get('version')!r}", "write `version: 1`")
        declared = doc.get("vars") if isinstance(doc.get("vars"), dict) else {}
        overrides = {**{k: v for k, v in soft.items() if k in declared}, **overrides}
        variables = self.variables(doc.get("vars"), overrides, env)
        resolved = {k: self.substitute(v, k, variables) for k, v in doc.items() if k != "vars"}
        settings = self.settings(resolved.get("settings"), env)
        defaults = resolved.get("table_defaults") or {}
        self.fields(defaults, "table_defaults", "table_defaults")
        region = variables.get("region", "us-east-1")
        if defaults:  # checked on their own, so a bad default is an error even where every table overrides it
            self.table({**defaults, "name": "table-defaults", "hash_key": "id"}, "table_defaults", "us-east-1")
        tables = self.listing(resolved.get("tables"), "tables")
        buckets = self.listing(resolved.get("buckets"), "buckets")
        others = []
        for section, kind in extra.items():
            entries = self.listing(resolved.get(section), section)
            specs = [kind.load(self, raw, f"{section}[{i}]", region) for i, raw in enumerate(entries)]
            self.unique([r.name for r in specs], section, kind.name)
            others += specs
        if not tables and not buckets and not others:
            self.fail("tables", "the estate declares no tables and no buckets", "declare at least one")
        table_specs = tuple(
            self.table({**defaults, **t} if isinstance(t, dict) else t, f"tables[{i}]", region)
            for i, t in enumerate(tables)
        )
        bucket_specs = tuple(self.bucket(b, f"buckets[{i}]", region) for i, b in enumerate(buckets))
        self.unique([t.name for t in table_specs], "tables", "table")
        self.unique([b.name for b in bucket_specs], "buckets", "bucket")
        return Estate(self.source, table_specs, bucket_specs, settings, tuple(sorted(variables.items())),
                      tuple(others))

    def listing(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_kind(value)}", f"write each entry of {path} as `- name: ...`")
        return value

    def unique(self, names: list[str], path: str, what: str) -> None:
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in seen:
                self.fail(
                    f"{path}[{i}].name",
                    f"{what} {name!r} is declared twice (also {path}[{seen[name]}])",
                    f"give each {what} its own name",
                )
            seen[name] = i

    # --- variables --------------------------------------------------------------------------------------------

    def variables(self, raw: Any, overrides: dict[str, str], env: Mapping[str, str]) -> dict[str, str]:
        raw = raw or {}
        if not isinstance(raw, dict):
            self.fail("vars", f"expected a mapping of names to values, got {_kind(raw)}", "write `name: value` lines")
        values: dict[str, str] = {}
        for key, val in raw.items():
            if not isinstance(key, str) or not VAR_NAME.fullmatch(key):
                self.fail(f"vars.{key}", "variable names are lower_snake_case", "rename it, e.g. photos_bucket")
            if isinstance(val, list):
                val = ",".join(str(v) for v in val)
            if val is None or isinstance(val, dict | bool):
                self.fail(f"vars.{key}", f"expected a string, got {_kind(val)}", "give a text value")
            values[key] = str(val)
        for key in values:
            env_value = env.get(ENV_VAR_PREFIX + key.upper())
            if env_value not in (None, ""):
                values[key] = env_value
        for key, val in overrides.items():
            if key not in values:
                self.fail(f"--set {key}", "no such variable in the estate", choose(key, sorted(values)))
            values[key] = val
        resolved: dict[str, str] = {}

        def resolve(name: str, chain: tuple[str, ...]) -> str:
            if name in resolved:
                return resolved[name]
            if name in chain:
                self.fail(f"vars.{name}", f"refers to itself through {' -> '.join(chain + (name,))}", "break the cycle")
            text = self._replace(values[name], f"vars.{name}", lambda ref: resolve(ref, chain + (name,)), values)
            resolved[name] = text
            return text

        for name in values:
            resolve(name, ())
        return resolved

    def _replace(self, text: str, path: str, lookup: Any, known: Mapping[str, str]) -> str:
        def sub(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            ref = match.group(1)
            if ref not in known:
                self.fail(
                    path,
                    f"unresolved ${{{ref}}}",
                    f"declare {ref!r} under vars (known: {', '.join(sorted(known)) or 'none'})",
                )
            return str(lookup(ref))

        return _VAR_REF.sub(sub, text)

    def substitute(self, node: Any, path: str, variables: dict[str, str]) -> Any:
        if isinstance(node, str):
            return self._replace(node, path, variables.__getitem__, variables)
        if isinstance(node, list):
            return [self.substitute(v, f"{path}[{i}]", variables) for i, v in enumerate(node)]
        if isinstance(node, dict):
            return {k: self.substitute(v, f"{path}.{k}", variables) for k, v in node.items()}
        return node

    # --- settings ---------------------------------------------------------------------------------------------

    def settings(self, raw: Any, env: Mapping[str, str]) -> Settings:
        raw = dict(
            self.fields(raw or {}, "settings", "settings")
        )
        if env.get(ENV_MAX_MISSING) not in (None, ""):
            try:
                raw["max_missing_percent"] = float(env[ENV_MAX_MISSING])
            except ValueError:
                self.fail(ENV_MAX_MISSING, f"{env[ENV_MAX_MISSING]!r} is not a number", "set a percentage 0..100")
        out = Settings()
        pct = raw.get("max_missing_percent", out.max_missing_percent)
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100:
            self.fail("settings.max_missing_percent", f"expected a percentage 0..100, got {pct!r}", "use e.g. 50")
        pool = self.integer(raw.get("pool_size", out.pool_size), "settings.pool_size", 1, 64)
        budget = raw.get("time_budget_seconds")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget < math.inf
        ):
            self.fail(
                "settings.time_budget_seconds", f"expected a positive number of seconds, got {budget!r}", "use e.g. 840"
            )
        wait = raw.get("wait_timeout_seconds", out.wait_timeout_seconds)
        poll = raw.get("poll_seconds", out.poll_seconds)
        for name, val in (("wait_timeout_seconds", wait), ("poll_seconds", poll)):
            if isinstance(val, bool) or not isinstance(val, int | float) or not 0 < val < math.inf:
                self.fail(f"settings.{name}", f"expected a positive number of seconds, got {val!r}", "use e.g. 5")
        return Settings(float(pct), pool, None if budget is None else float(budget), float(wait), float(poll))

    # --- tables -----------------------------------------------------------------------------------------------

    def key(self, value: Any, path: str) -> KeyAttr:
        if isinstance(value, str):  # shorthand: `hash_key: email` means a string attribute
            value = {"name": value, "type": "S"}
        raw = self.fields(value, path, "key")
        name = self.string(raw["name"], f"{path}.name", what="an attribute name")
        return KeyAttr(name, self.choice(raw.get("type", "S"), f"{path}.type", KEY_TYPES))

    def table(self, raw: Any, path: str, default_region: str) -> TableSpec:
        raw = self.fields(raw, path, "table")
        name = self.string(raw["name"], f"{path}.name", TABLE_NAME, "a table name of 3-255 letters, digits, _ . -")
        region = self.string(
            raw.get("region", default_region), f"{path}.region", REGION, "an AWS region like us-east-1"
        )
        hash_key = self.key(raw["hash_key"], f"{path}.hash_key")
        range_key = self.key(raw["range_key"], f"{path}.range_key") if raw.get("range_key") is not None else None
        if range_key and range_key.name == hash_key.name:
            self.fail(f"{path}.range_key", "range key repeats the hash key", "use a different attribute")

        billing, rcu, wcu = self.billing(raw.get("billing", "on-demand"), f"{path}.billing")
        gsis = tuple(
            self.index(g, f"{path}.gsis[{i}]", billing, lsi=False)
            for i, g in enumerate(self.listing(raw.get("gsis"), f"{path}.gsis"))
        )
        lsis = tuple(
            self.index(g, f"{path}.lsis[{i}]", billing, lsi=True)
            for i, g in enumerate(self.listing(raw.get("lsis"), f"{path}.lsis"))
        )
        if lsis and range_key is None:
            self.fail(f"{path}.lsis", "local secondary indexes need a table range key", "add range_key or remove lsis")
        self.unique([ix.name for ix in gsis], f"{path}.gsis", "index")
        self.unique([ix.name for ix in lsis], f"{path}.lsis", "index")
        for i, ix in enumerate(lsis):
            if ix.name in {g.name for g in gsis}:
                self.fail(f"{path}.lsis[{i}].name", f"index {ix.name!r} is also a GSI", "give each index its own name")
        types: dict[str, str] = {hash_key.name: hash_key.type}
        if range_key:
            types[range_key.name] = range_key.type
        for label, group in (("gsis", gsis), ("lsis", lsis)):
            for i, ix in enumerate(group):
                for part, key in (("hash_key", ix.hash_key), ("range_key", ix.range_key)):
                    if key and types.setdefault(key.name, key.type) != key.type:
                        self.fail(
                            f"{path}.{label}[{i}].{part}.type",
                            f"attribute {key.name!r} is {key.type} here but {types[key.name]} elsewhere",
                            "give each attribute one type across the table's keys and indexes",
                        )

        kms_key = self.encryption(raw.get("encryption", "aws-managed"), f"{path}.encryption")
        pitr, days = self.pitr(raw.get("pitr", True), f"{path}.pitr")
        ttl = raw.get("ttl")
        ttl = None if ttl is None or ttl is False else self.string(ttl, f"{path}.ttl", what="the TTL attribute name")
        stream = raw.get("stream")
        stream = None if stream is None or stream is False else self.choice(stream, f"{path}.stream", STREAM_VIEWS)
        restore = self.choice(raw.get("restore", "auto"), f"{path}.restore", ("auto", "never"))
        return TableSpec(
            name=name,
            region=region,
            hash_key=hash_key,
            range_key=range_key,
            gsis=gsis,
            lsis=lsis,
            billing=billing,
            read_capacity=rcu,
            write_capacity=wcu,
            kms_key=kms_key,
            pitr=pitr,
            recovery_days=days,
            deletion_protection=self.boolean(raw.get("deletion_protection", True), f"{path}.deletion_protection"),
            ttl=ttl,
            stream=stream,
            tags=self.tags(raw.get("tags"), f"{path}.tags"),
            restore=restore == "auto",
        )

    def billing(self, value: Any, path: str) -> tuple[str, int | None, int | None]:
        if value == "on-demand":
            return ON_DEMAND, None, None
        if value == "provisioned":
            self.fail(
                path,
                "provisioned billing needs capacity",
                "write `billing: {mode: provisioned, read_capacity: N, write_capacity: N}`",
            )
        if not isinstance(value, dict):
            self.fail(path, f"{value!r} is not a billing mode", "use on-demand or {mode: provisioned, ...}")
        raw = self.fields(value, path, "billing")
        mode = self.choice(raw["mode"], f"{path}.mode", ("on-demand", "provisioned"))
        if mode == "on-demand":
            if raw.get("read_capacity") is not None or raw.get("write_capacity") is not None:
                self.fail(
                    path,
                    "capacity given with on-demand billing",
                    "remove read_capacity/write_capacity or use provisioned",
                )
            return ON_DEMAND, None, None
        for part in ("read_capacity", "write_capacity"):
            if raw.get(part) is None:
                self.fail(f"{path}.{part}", "provisioned billing needs capacity", f"add `{part}: N` (1..40000)")
        return (
            PROVISIONED,
            self.integer(raw["read_capacity"], f"{path}.read_capacity", 1, 40000),
            self.integer(raw["write_capacity"], f"{path}.write_capacity", 1, 40000),
        )

    def index(self, value: Any, path: str, billing: str, lsi: bool) -> IndexSpec:
        raw = self.fields(value, path, "lsi" if lsi else "gsi")
        name = self.string(
            raw["name"],
            f"{path}.name",
            re.compile(r"^[A-Za-z0-9_.-]{3,255}$"),
            "an index name of 3-255 letters, digits, _ . -",
        )
        hash_key = None if lsi else self.key(raw["hash_key"], f"{path}.hash_key")
        range_key = self.key(raw["range_key"], f"{path}.range_key") if raw.get("range_key") is not None else None
        projection, non_key = self.projection(raw.get("projection", "ALL"), f"{path}.projection")
        rcu = wcu = None
        if not lsi and billing == PROVISIONED:
            rcu = self.integer(raw.get("read_capacity", 1), f"{path}.read_capacity", 1, 40000)
            wcu = self.integer(raw.get("write_capacity", 1), f"{path}.write_capacity", 1, 40000)
        elif not lsi and (raw.get("read_capacity") is not None or raw.get("write_capacity") is not None):
            self.fail(path, "index capacity given on an on-demand table", "remove read_capacity/write_capacity")
        return IndexSpec(name, hash_key, range_key, projection, non_key, rcu, wcu)

    def projection(self, value: Any, path: str) -> tuple[str, tuple[str, ...]]:
        if isinstance(value, dict):
            raw = self.fields(value, path, "projection")
            return "INCLUDE", tuple(sorted(self.strings(raw["include"], f"{path}.include")))  # AWS's order is not ours
        choice = self.choice(value, path, ("ALL", "KEYS_ONLY"))
        return choice, ()

    def encryption(self, value: Any, path: str) -> str | None:
        if value == "aws-managed":
            return None
        if isinstance(value, dict):
            raw = self.fields(value, path, "table_encryption")
            return self.kms_key(raw["kms_key"], f"{path}.kms_key")
        self.fail(
            path,
            f"{value!r} is not an encryption setting",
            "use aws-managed or {kms_key: alias/NAME | key ARN | key id}",
        )

    def pitr(self, value: Any, path: str) -> tuple[bool, int]:
        if isinstance(value, bool):
            return value, 35
        raw = self.fields(value, path, "pitr")
        enabled = self.boolean(raw.get("enabled", True), f"{path}.enabled")
        return enabled, self.integer(raw.get("recovery_days", 35), f"{path}.recovery_days", 1, 35)

    # --- buckets ----------------------------------------------------------------------------------------------

    def bucket(self, raw: Any, path: str, default_region: str) -> BucketSpec:
        raw = self.fields(raw, path, "bucket")
        name = self.string(
            raw["name"], f"{path}.name", BUCKET_NAME, "a bucket name of 3-63 lowercase letters, digits, . -"
        )
        if (
            ".." in name
            or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name)
            or name.startswith("xn--")
            or name.endswith("-s3alias")
        ):
            self.fail(
                f"{path}.name",
                f"{name!r} is not a valid bucket name",
                "use lowercase letters, digits and single hyphens",
            )
        region = self.string(
            raw.get("region", default_region), f"{path}.region", REGION, "an AWS region like us-east-1"
        )
        bpa_raw = self.fields(
            raw.get("public_access_block") or {}, f"{path}.public_access_block", "public_access_block"
        )
        bpa = tuple(
            (flag, self.boolean(bpa_raw.get(flag, True), f"{path}.public_access_block.{flag}")) for flag in BPA_FLAGS
        )
        ownership = self.choice(
            raw.get("object_ownership", "BucketOwnerEnforced"), f"{path}.object_ownership", OWNERSHIP
        )
        encryption, kms_key, bucket_key = self.bucket_encryption(raw.get("encryption", "sse-s3"), f"{path}.encryption")
        website = None
        if raw.get("website") is not None:
            w = self.fields(raw["website"], f"{path}.website", "website")
            website = Website(
                self.string(
                    w.get("index_document", "index.html"),
                    f"{path}.website.index_document",
                    re.compile(r"^[^/]+$"),
                    "a file name without /",
                ),
                None
                if w.get("error_document") is None
                else self.string(w["error_document"], f"{path}.website.error_document"),
            )
        statements = self.policy(raw.get("policy"), f"{path}.policy", name, dict(bpa), website is not None,
                                 partition_of(region))
        cors = tuple(
            self.cors(r, f"{path}.cors[{i}]") for i, r in enumerate(self.listing(raw.get("cors"), f"{path}.cors"))
        )
        lifecycle = tuple(
            self.lifecycle(r, f"{path}.lifecycle[{i}]")
            for i, r in enumerate(self.listing(raw.get("lifecycle"), f"{path}.lifecycle"))
        )
        self.unique([r.id for r in lifecycle], f"{path}.lifecycle", "lifecycle rule id")
        return BucketSpec(
            name=name,
            region=region,
            public_access_block=bpa,
            object_ownership=ownership,
            encryption=encryption,
            kms_key=kms_key,
            bucket_key=bucket_key,
            versioning=self.boolean(raw.get("versioning", False), f"{path}.versioning"),
            website=website,
            policy_statements=statements,
            cors=cors,
            lifecycle=lifecycle,
            tags=self.tags(raw.get("tags"), f"{path}.tags"),
        )

    def bucket_encryption(self, value: Any, path: str) -> tuple[str, str | None, bool]:
        if value == "sse-s3":
            return "AES256", None, False
        if isinstance(value, dict):
            raw = self.fields(value, path, "bucket_encryption")
            key = (
                None if raw.get("kms_key") in (None, "aws-managed") else self.kms_key(raw["kms_key"], f"{path}.kms_key")
            )
            return "aws:kms", key, self.boolean(raw.get("bucket_key", True), f"{path}.bucket_key")
        self.fail(
            path, f"{value!r} is not an encryption setting", "use sse-s3 or {kms_key: alias/NAME, bucket_key: true}"
        )

    def policy(
        self, value: Any, path: str, bucket: str, bpa: dict[str, bool], website: bool, partition: str = "aws"
    ) -> tuple[str, ...]:
        if value is None:
            return ()
        raw = self.fields(value, path, "policy")
        statements: list[dict[str, Any]] = []
        presets = self.listing(raw.get("presets"), f"{path}.presets")
        for i, preset in enumerate(presets):
            preset = self.choice(preset, f"{path}.presets[{i}]", POLICY_PRESETS)
            if preset == "public-read" and (bpa["block_public_policy"] or bpa["restrict_public_buckets"]):
                self.fail(
                    f"{path}.presets[{i}]",
                    "public-read cannot work while block_public_policy or restrict_public_buckets is on",
                    "set both to false under public_access_block, or drop the preset",
                )
            if preset == "tls-only" and website:
                self.fail(
                    f"{path}.presets[{i}]",
                    "tls-only would block the website endpoint, which serves HTTP only",
                    "put tls-only on a bucket without website, or serve the site through CloudFront",
                )
            statements.append(preset_statement(preset, bucket, partition))
        extra = raw.get("statements")
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except json.JSONDecodeError as exc:
                self.fail(
                    f"{path}.statements",
                    f"not valid JSON ({exc.msg} at line {exc.lineno})",
                    "write the statements as YAML or valid JSON",
                )
            if isinstance(extra, dict):
                extra = extra.get("Statement", extra)
            if isinstance(extra, dict):
                extra = [extra]
        for i, stmt in enumerate(self.listing(extra, f"{path}.statements")):
            statements.append(self.statement(stmt, f"{path}.statements[{i}]", bucket, partition))
        sids = [s["Sid"] for s in statements]
        self.unique(sids, f"{path}.statements", "statement Sid")
        return tuple(canonical_json(s) for s in statements)

    def statement(self, value: Any, path: str, bucket: str, partition: str = "aws") -> dict[str, Any]:
        raw = self.fields(value, path, "statement")
        self.string(raw["Sid"], f"{path}.Sid", re.compile(r"^[A-Za-z0-9]+$"), "a Sid of letters and digits")
        self.choice(raw["Effect"], f"{path}.Effect", ("Allow", "Deny"))
        for a, b in (("Principal", "NotPrincipal"), ("Action", "NotAction"), ("Resource", "NotResource")):
            if (raw.get(a) is None) == (raw.get(b) is None):
                self.fail(path, f"a policy statement needs exactly one of {a} / {b}", f"add `{a}:`")
        for field_name in ("Principal", "NotPrincipal"):
            if raw.get(field_name) is not None:
                self.principal(raw[field_name], f"{path}.{field_name}")
        for field_name in ("Action", "NotAction"):
            actions = raw.get(field_name)
            if actions is None:
                continue
            for i, action in enumerate(actions if isinstance(actions, list) else [actions]):
                if not isinstance(action, str) or not re.fullmatch(r"s3:[A-Za-z*]+|\*", action):
                    self.fail(f"{path}.{field_name}[{i}]", f"{action!r} is not an S3 action", "write s3:ActionName")
        arn = f"arn:{partition}:s3:::{bucket}"
        for field_name in ("Resource", "NotResource"):
            resources = raw.get(field_name)
            if resources is None:
                continue
            for i, res in enumerate(resources if isinstance(resources, list) else [resources]):
                if not isinstance(res, str) or not (res == arn or res.startswith(arn + "/")):
                    self.fail(
                        f"{path}.{field_name}[{i}]",
                        f"{res!r} is not this bucket",
                        f"use {arn} or {arn}/* (a bucket policy covers only its own bucket)",
                    )
        if raw.get("Condition") is not None and not isinstance(raw["Condition"], dict):
            self.fail(
                f"{path}.Condition",
                "expected a mapping of operators",
                "write e.g. {Bool: {aws:SecureTransport: 'false'}}",
            )
        try:  # YAML can give dates, binary, sets, NaN or mixed-type keys, none of which a JSON policy can carry
            json.dumps(raw, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            self.fail(path, f"holds a value JSON cannot carry ({exc})", "quote dates and other values as strings")
        return dict(raw)

    def principal(self, value: Any, path: str) -> None:
        fix = 'write "*" or {AWS: ARN or [ARNs]} (also Service, Federated, CanonicalUser)'
        if value == "*":
            return
        if not isinstance(value, dict) or not value:
            self.fail(path, f"{value!r} is not a principal", fix)
        for kind, ids in value.items():
            if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
                self.fail(f"{path}.{kind}", "unknown principal type", fix)
            for i, one in enumerate(ids if isinstance(ids, list) else [ids]):
                if not isinstance(one, str) or not one:
                    self.fail(f"{path}.{kind}[{i}]", f"{one!r} is not a principal id", fix)

    def cors(self, value: Any, path: str) -> CorsRule:
        raw = self.fields(value, path, "cors")
        origins = self.strings(raw["allowed_origins"], f"{path}.allowed_origins", split_commas=True)
        for i, origin in enumerate(origins):
            if origin != "*" and not re.fullmatch(r"https?://[^\s/]+", origin):
                self.fail(
                    f"{path}.allowed_origins[{i}]",
                    f"{origin!r} is not an origin",
                    "write scheme://host[:port], e.g. https://galerly.com",
                )
        methods = self.strings(raw["allowed_methods"], f"{path}.allowed_methods")
        for i, method in enumerate(methods):
            self.choice(method, f"{path}.allowed_methods[{i}]", CORS_METHODS)
        max_age = raw.get("max_age_seconds")
        return CorsRule(
            allowed_origins=origins,
            allowed_methods=methods,
            allowed_headers=self.strings(raw["allowed_headers"], f"{path}.allowed_headers")
            if raw.get("allowed_headers")
            else (),
            expose_headers=self.strings(raw["expose_headers"], f"{path}.expose_headers")
            if raw.get("expose_headers")
            else (),
            max_age_seconds=None
            if max_age is None
            else self.integer(max_age, f"{path}.max_age_seconds", 0, 2_147_483_647),
            id=None if raw.get("id") is None else self.string(raw["id"], f"{path}.id"),
        )

    def lifecycle(self, value: Any, path: str) -> LifecycleRule:
        actions = LIFECYCLE_ACTIONS
        raw = self.fields(value, path, "lifecycle")
        if not any(raw.get(a) is not None for a in actions):
            self.fail(path, "a lifecycle rule needs an action", f"add one of: {', '.join(actions)}")
        days = {a: None if raw.get(a) is None else self.integer(raw[a], f"{path}.{a}", 1, 36500) for a in actions}
        prefix = raw.get("prefix", "")
        if not isinstance(prefix, str):
            self.fail(f"{path}.prefix", f"expected a string, got {_kind(prefix)}", "quote the prefix")
        return LifecycleRule(id=self.string(raw["id"], f"{path}.id"), prefix=prefix, **days)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def other_kinds() -> dict[str, Kind[Any, Any]]:
    """Estate sections of registered kinds beyond tables and buckets (which this parser reads itself)."""
    from .kinds import kinds  # noqa: PLC0415 - the kinds import the planners; the loader is imported first

    return {k.section: k for k in kinds() if k.section not in FIELDS["estate"]}
