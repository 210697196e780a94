"""The JSON Schema of the estate file, for editors: generated from the validator's own field lists (spec.FIELDS).

    python -m selfheal.schema --write    # regenerate selfheal/estate.schema.json (a test fails when it is stale)
    selfheal schema                      # print it

An estate file whose first line is ``# yaml-language-server: $schema=<path or URL of the schema>`` is validated and
completed as it is typed (VS Code's YAML extension, JetBrains IDEs, any yaml-language-server client).

The schema accepts every file the validator accepts (a test checks it on generated estates) and catches most mistakes
as they are typed: unknown or misspelt fields, wrong types, values out of range or not among the choices. What needs
the whole file — ${var} values, duplicate names, one field against another, the policy's bucket ARNs — is left to the
validator (`selfheal plan`), which still answers every problem with one line naming the field and the fix. A string
holding a ${var} placeholder is accepted wherever a string is: it is checked once the vars are resolved.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from .loader import (
    BUCKET_NAME,
    FIELDS,
    KMS_KEY,
    REGION,
    REQUIRED,
    SCHEMA_FILE,
    TABLE_NAME,
    VAR_NAME,
    other_kinds,
    shipped_file,
)
from .spec import (
    BPA_FLAGS,
    CORS_METHODS,
    KEY_TYPES,
    LIFECYCLE_ACTIONS,
    OWNERSHIP,
    POLICY_PRESETS,
    STREAM_VIEWS,
)

VAR = r"\$\{[a-z_][a-z0-9_]*\}"  # a ${var} placeholder: the value is checked once vars are resolved
FALSY: dict[str, Any] = {"enum": [None, False, 0, "", [], {}],
                         "description": "empty: the same as leaving the field out"}
NULL = {"type": "null"}


def _body(pattern: re.Pattern[str] | str) -> str:
    text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    return text.removeprefix("^").removesuffix("$")


def text(pattern: re.Pattern[str] | str | None = None, numbers: bool = True, **extra: Any) -> dict[str, Any]:
    """A value the validator reads as text: a non-empty string (or a number, written as text), or a ${var}."""
    out: dict[str, Any] = {"type": ["string", "number"] if numbers else "string", "minLength": 1}
    if pattern is not None:
        out["pattern"] = f"^(?:{_body(pattern)})$|{VAR}"
    return out | extra


def choice(options: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    return {"anyOf": [{"enum": list(options)}, {"type": "string", "pattern": VAR}]} | extra


def integer(low: int, high: int, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high} | extra


def seconds(**extra: Any) -> dict[str, Any]:
    """A positive, finite number of seconds (the maximum keeps out YAML's .inf)."""
    return {"type": "number", "exclusiveMinimum": 0, "maximum": sys.float_info.max} | extra


def either(*schemas: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"anyOf": list(schemas)} | extra


def ref(kind: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{kind}"}


def listing(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A list, or nothing (left out, or `null`)."""
    return either({"type": "array", "items": item}, NULL, **extra)


def present(field: str) -> dict[str, Any]:
    """The field is there and not null (the validator reads a null field as left out)."""
    return {"required": [field], "properties": {field: {"not": NULL}}}


def _object(kind: str, properties: dict[str, dict[str, Any]], description: str, **extra: Any) -> dict[str, Any]:
    """A mapping of spec.FIELDS[kind]: exactly the validator's fields, its required ones, nothing else."""
    if set(properties) != set(FIELDS[kind]):
        raise AssertionError(f"schema {kind}: fields {sorted(properties)} != validator's {sorted(FIELDS[kind])}")
    out: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": {name: properties[name] for name in FIELDS[kind]},
        "additionalProperties": False,
    }
    if REQUIRED.get(kind):
        out["required"] = list(REQUIRED[kind])
    return out | extra


_PROJECTION = either(
    {"enum": ["ALL", "KEYS_ONLY"]},
    {"type": "string", "pattern": VAR},
    ref("projection"),
    description="ALL (default), KEYS_ONLY, or {include: [attributes]}",
    default="ALL",
)
_CAPACITY = integer(1, 40000)
_INDEX_NAME = text(r"[A-Za-z0-9_.-]{3,255}", description="3-255 of A-Z a-z 0-9 _ . -")
_KEY = either(text(numbers=False, description="attribute name (type S)"), ref("key"))
_KEY_OR_NULL = either(_KEY, NULL)
_STATEMENT_ACTION = {"type": "string", "pattern": r"^(?:s3:[A-Za-z*]+|\*)$"}
_STATEMENT_RESOURCE = {"type": "string", "pattern": rf"^arn:aws[a-z-]*:s3:::.|{VAR}"}
_ORIGIN = r"\*|https?://[^\s/,]+"
_HEADERS = either(FALSY, {"type": "array", "minItems": 1, "items": text()})


def _table_settings() -> dict[str, dict[str, Any]]:
    """The table fields table_defaults may also hold."""
    return {
        "region": text(REGION, numbers=False, description="AWS region; default: the `region` var, else us-east-1"),
        "billing": either(
            {"const": "on-demand"},
            {"type": "string", "pattern": VAR},
            ref("billing"),
            description="on-demand (default) or {mode: provisioned, read_capacity: N, write_capacity: N}",
            default="on-demand",
        ),
        "encryption": either(
            {"const": "aws-managed"},
            {"type": "string", "pattern": VAR},
            ref("table_encryption"),
            description="aws-managed (default: SSE with alias/aws/dynamodb) or "
            "{kms_key: alias/NAME | key ARN | key id}",
            default="aws-managed",
        ),
        "pitr": either(
            {"type": "boolean"},
            ref("pitr"),
            description="point-in-time recovery: true (default, 35 days), false, or {enabled, recovery_days: 1..35}; "
            "never switched off by selfheal",
            default=True,
        ),
        "deletion_protection": {"type": "boolean", "default": True,
                                "description": "default true; never switched off by selfheal"},
        "ttl": either(NULL, {"const": False}, text(), description="the TTL attribute name (false or null: none)"),
        "stream": either(NULL, {"const": False}, choice(STREAM_VIEWS),
                         description="stream view type (false or null: none)"),
        "tags": ref("tags"),
        "restore": choice(("auto", "never"), default="auto",
                          description="auto (default): a missing table is restored from its newest backup; never: "
                          "created empty"),
    }


def build() -> dict[str, Any]:
    """The JSON Schema (draft-07, what editors support best) of an estate file."""
    table_settings = _table_settings()
    definitions: dict[str, dict[str, Any]] = {
        "settings": _object(
            "settings",
            {
                "max_missing_percent": {"type": "number", "minimum": 0, "maximum": 100, "default": 50,
                                        "description": "a scheduled run finding more of the estate missing stops"},
                "pool_size": integer(1, 64, default=16, description="resources reconciled at once"),
                "time_budget_seconds": either(seconds(), NULL,
                                              description="resources not started by then are deferred"),
                "wait_timeout_seconds": seconds(default=900,
                                                description="longest wait for a table or index to become ACTIVE"),
                "poll_seconds": seconds(default=5, description="between ACTIVE checks"),
            },
            "run settings",
        ),
        "key": _object(
            "key",
            {"name": text(description="attribute name"),
             "type": choice(KEY_TYPES, default="S", description="S (default), N or B")},
            "a key attribute",
        ),
        "projection": _object(
            "projection",
            {"include": {"type": "array", "minItems": 1, "items": text(),
                         "description": "the non-key attributes the index carries"}},
            "INCLUDE projection",
        ),
        "gsi": _object(
            "gsi",
            {
                "name": _INDEX_NAME,
                "hash_key": _KEY,
                "range_key": _KEY_OR_NULL,
                "projection": _PROJECTION,
                "read_capacity": either(_CAPACITY, NULL, description="provisioned tables only (default 1)"),
                "write_capacity": either(_CAPACITY, NULL, description="provisioned tables only (default 1)"),
            },
            "a global secondary index",
        ),
        "lsi": _object(
            "lsi",
            {"name": _INDEX_NAME, "range_key": _KEY, "projection": _PROJECTION},
            "a local secondary index (only at table creation: a difference is a conflict)",
        ),
        "billing": _object(
            "billing",
            {
                "mode": choice(("on-demand", "provisioned")),
                "read_capacity": either(_CAPACITY, NULL),
                "write_capacity": either(_CAPACITY, NULL),
            },
            "billing mode and capacity; capacity is kept exactly as declared (do not combine with auto scaling)",
            allOf=[
                {"if": {"properties": {"mode": {"const": "provisioned"}}},
                 "then": {"required": ["read_capacity", "write_capacity"],
                          "properties": {"read_capacity": _CAPACITY, "write_capacity": _CAPACITY}}},
                {"if": {"properties": {"mode": {"const": "on-demand"}}},
                 "then": {"properties": {"read_capacity": NULL, "write_capacity": NULL}}},
            ],
        ),
        "table_encryption": _object(
            "table_encryption",
            {"kms_key": text(KMS_KEY, numbers=False, description="alias/NAME, key ARN, alias ARN or key id")},
            "SSE with your KMS key",
        ),
        "pitr": _object(
            "pitr",
            {"enabled": {"type": "boolean", "default": True}, "recovery_days": integer(1, 35, default=35)},
            "point-in-time recovery",
        ),
        "tags": either(
            {
                "type": "object",
                "propertyNames": {"minLength": 1, "maxLength": 128, "not": {"pattern": "^[aA][wW][sS]:"}},
                "additionalProperties": {"type": ["string", "number"], "maxLength": 256},
            },
            NULL,
            description="{key: value}; keys may not start with aws:; undeclared tags are kept",
        ),
        "table": _object(
            "table",
            {
                "name": text(TABLE_NAME, description="table name: 3-255 of A-Z a-z 0-9 _ . -"),
                "hash_key": _KEY,
                "range_key": _KEY_OR_NULL,
                "gsis": listing(ref("gsi"), description="global secondary indexes"),
                "lsis": listing(ref("lsi"), description="local secondary indexes (need a range_key)"),
                **table_settings,
            },
            "a DynamoDB table",
            **{"if": {"required": ["lsis"], "properties": {"lsis": {"type": "array", "minItems": 1}}},
               "then": present("range_key")},  # local secondary indexes need a table range key
        ),
        "table_defaults": _object(
            "table_defaults",
            table_settings,
            "settings applied to every table unless the table sets its own (never names, keys or indexes)",
        ),
        "public_access_block": _object(
            "public_access_block",
            {flag: {"type": "boolean", "default": True} for flag in BPA_FLAGS},
            "the bucket's public access block: every flag defaults to true",
        ),
        "bucket_encryption": _object(
            "bucket_encryption",
            {
                "kms_key": either(NULL, {"const": "aws-managed"}, text(KMS_KEY, numbers=False),
                                  description="aws-managed (alias/aws/s3), alias/NAME, key ARN or key id"),
                "bucket_key": {"type": "boolean", "default": True},
            },
            "SSE-KMS",
        ),
        "website": _object(
            "website",
            {
                "index_document": text(r"[^/]+", default="index.html", description="a file name without /"),
                "error_document": either(NULL, text()),
            },
            "static website hosting",
        ),
        "principal": either(
            {"const": "*"},
            {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"enum": ["AWS", "Service", "Federated", "CanonicalUser"]},
                "additionalProperties": either({"type": "string", "minLength": 1},
                                               {"type": "array", "items": {"type": "string", "minLength": 1}}),
            },
            NULL,
        ),
        "json": either(  # what a JSON policy can carry (no dates, no binary)
            {"type": ["string", "number", "boolean", "null"]},
            {"type": "array", "items": ref("json")},
            {"type": "object", "additionalProperties": ref("json")},
        ),
        "statement": _object(
            "statement",
            {
                "Sid": text(r"[A-Za-z0-9]+", description="letters and digits"),
                "Effect": choice(("Allow", "Deny")),
                "Principal": ref("principal"),
                "NotPrincipal": ref("principal"),
                "Action": either(_STATEMENT_ACTION, {"type": "array", "items": _STATEMENT_ACTION}, NULL),
                "NotAction": either(_STATEMENT_ACTION, {"type": "array", "items": _STATEMENT_ACTION}, NULL),
                "Resource": either(_STATEMENT_RESOURCE, {"type": "array", "items": _STATEMENT_RESOURCE}, NULL,
                                   description="this bucket's ARN or ARN/* only"),
                "NotResource": either(_STATEMENT_RESOURCE, {"type": "array", "items": _STATEMENT_RESOURCE}, NULL),
                "Condition": either(
                    {"type": "object", "additionalProperties": ref("json")},
                    NULL,
                    description="{operator: {key: value}}, e.g. {Bool: {aws:SecureTransport: 'false'}}",
                ),
            },
            "a bucket policy statement (the bucket's own ARNs only)",
            allOf=[
                {"oneOf": [present("Principal"), present("NotPrincipal")]},
                {"oneOf": [present("Action"), present("NotAction")]},
                {"oneOf": [present("Resource"), present("NotResource")]},
            ],
        ),
        "policy": _object(
            "policy",
            {
                "presets": listing(choice(POLICY_PRESETS),
                                   description="public-read (GetObject for everyone), tls-only (deny plain HTTP)"),
                "statements": either({"type": "string", "description": "the statements as JSON"},
                                     {"type": "array", "items": ref("statement")}, NULL),
            },
            "bucket policy statements, merged into the bucket's policy",
        ),
        "cors": _object(
            "cors",
            {
                "id": either(NULL, text()),
                "allowed_origins": either(
                    {"type": "string",
                     "pattern": rf"^[\s,]*(?:{_ORIGIN})(?:\s*,[\s,]*(?:{_ORIGIN}))*[\s,]*$|{VAR}",
                     "description": "comma-separated origins"},
                    {"type": "array", "minItems": 1,
                     "items": {"type": "string", "pattern": rf"^(?:\*|https?://[^\s/]+)$|{VAR}"}},
                    description="scheme://host[:port] or *",
                ),
                "allowed_methods": {"type": "array", "minItems": 1, "items": choice(CORS_METHODS)},
                "allowed_headers": _HEADERS,
                "expose_headers": _HEADERS,
                "max_age_seconds": either(NULL, integer(0, 2_147_483_647)),
            },
            "a CORS rule",
        ),
        "lifecycle": _object(
            "lifecycle",
            {
                "id": text(),
                "prefix": {"type": "string", "default": ""},
                **{action: either(NULL, integer(1, 36500)) for action in LIFECYCLE_ACTIONS},
            },
            "a lifecycle rule",
            anyOf=[present(action) for action in LIFECYCLE_ACTIONS],
        ),
        "bucket": _object(
            "bucket",
            {
                "name": text(
                    BUCKET_NAME,
                    description="bucket name: 3-63 lowercase letters, digits, . - (names are global)",
                    **{"not": {"type": "string", "pattern": r"\.\.|^\d+\.\d+\.\d+\.\d+$|^xn--|-s3alias$"}},  # type: ignore[arg-type]
                ),
                "region": text(
                    REGION, numbers=False,
                    description="AWS region; a bucket in another region is a conflict (buckets cannot move)",
                ),
                "public_access_block": either(ref("public_access_block"), FALSY),
                "object_ownership": choice(OWNERSHIP, default="BucketOwnerEnforced"),
                "encryption": either(
                    {"const": "sse-s3"},
                    {"type": "string", "pattern": VAR},
                    ref("bucket_encryption"),
                    description="sse-s3 (default) or {kms_key: ..., bucket_key: true}",
                    default="sse-s3",
                ),
                "versioning": {"type": "boolean", "default": False,
                               "description": "true enables it; selfheal never suspends it"},
                "website": either(ref("website"), NULL),
                "policy": either(ref("policy"), NULL),
                "cors": listing(ref("cors")),
                "lifecycle": listing(ref("lifecycle")),
                "tags": ref("tags"),
            },
            "an S3 bucket",
        ),
    }
    root = _object(
        "estate",
        {
            "version": {"const": 1, "default": 1},
            "vars": either(
                {
                    "type": "object",
                    "propertyNames": {"pattern": f"^(?:{_body(VAR_NAME)})$"},
                    "additionalProperties": {"type": ["string", "number", "array"]},
                    "description": "${name} anywhere in the file is replaced by a var; overridden by "
                    "SELFHEAL_VAR_<NAME> and --set name=value",
                },
                FALSY,
            ),
            "settings": either(ref("settings"), FALSY),
            "table_defaults": either(ref("table_defaults"), FALSY),
            "tables": listing(ref("table"), description="DynamoDB tables"),
            "buckets": listing(ref("bucket"), description="S3 buckets"),
        },
        "selfheal estate: DynamoDB tables and S3 buckets kept exactly as declared (docs/estate.md)",
        anyOf=[
            {"required": ["tables"], "properties": {"tables": {"type": "array", "minItems": 1}}},
            {"required": ["buckets"], "properties": {"buckets": {"type": "array", "minItems": 1}}},
        ],
    )
    for section, kind in other_kinds().items():  # kinds registered beside the shipped two: their own sections
        root["properties"][section] = listing(kind.entry_schema or {"type": "object"}, description=kind.title)
        root["anyOf"].append({"required": [section], "properties": {section: {"type": "array", "minItems": 1}}})
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "selfheal estate",
        **root,
        "definitions": definitions,
    }


def render() -> str:
    """The schema as the text shipped in the package."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--write"]:
        path = shipped_file(SCHEMA_FILE)
        path.write_text(render(), encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
        return 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
