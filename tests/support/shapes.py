"""Is an answer one AWS could give? Checked against botocore's service model, the SDK's own record of the API.

`problems(service, operation, body)` walks the operation's output shape against the answer as it came over the wire
(JSON-decoded: botocore's parser silently drops members it does not know, so the parsed response would hide them)
and lists every member the model does not have, every wrong type, every enum value it does not allow and every
required member left out. `resource_type` ("DynamoDB") also flags members the model's documentation reserves for
other resource types: "Only Amazon EFS and Amazon EC2 recovery points return BackupVaultName".

`Capture` records the raw answer of every call a boto3 client makes (botocore's before-parse event), so a test can
check what a fake of ours answered.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape

_SESSION = botocore.session.get_session()
_ONLY = re.compile(r"Only (?P<types>[^.]*) returns? (?P<member>[A-Z][A-Za-z0-9]+)")
_TAGS = re.compile(r"<[^>]+>")


def output_shape(service: str, operation: str) -> StructureShape | None:
    shape = _SESSION.get_service_model(service).operation_model(operation).output_shape
    return shape if isinstance(shape, StructureShape) else None


def problems(service: str, operation: str, body: Any, resource_type: str | None = None) -> list[str]:
    """What in `body` (a JSON-decoded answer of `operation`) botocore's model says AWS would not answer."""
    shape = output_shape(service, operation)
    if shape is None:
        return [] if body in ({}, None, b"", "") else [f"{operation}: the model has no output, got {body!r}"]
    found: list[str] = []
    _walk(shape, body, operation, found, resource_type, reserved={}, top=True)
    return found


def _reserved(documentation: str) -> dict[str, str]:
    """member -> the resource types the documentation reserves it for ("Only X and Y ... return Member")."""
    text = _TAGS.sub("", documentation or "")
    return {m["member"]: m["types"] for m in _ONLY.finditer(text)}


def _walk(
    shape: Shape, value: Any, path: str, found: list[str], resource_type: str | None, reserved: dict[str, str],
    top: bool = False,
) -> None:
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            found.append(f"{path}: a structure ({shape.name}) expected, got {type(value).__name__}")
            return
        in_body = {
            name: member for name, member in shape.members.items()
            if member.serialization.get("location") not in ("header", "headers", "statusCode")
        }  # fmt: skip
        for name in value:
            if top and name == "ResponseMetadata":
                continue
            wire = next((n for n, m in in_body.items() if m.serialization.get("name", n) == name), None)
            if wire is None:
                found.append(f"{path}.{name}: not a member of {shape.name} ({', '.join(sorted(in_body))})")
                continue
            if resource_type and wire in reserved and resource_type.lower() not in reserved[wire].lower():
                found.append(f"{path}.{name}: documented only for {reserved[wire]}, not {resource_type}")
            member = in_body[wire]
            _walk(member, value[name], f"{path}.{name}", found, resource_type,
                  {**reserved, **_reserved(member.documentation)})
        for name in shape.required_members:
            if name in in_body and in_body[name].serialization.get("name", name) not in value:
                found.append(f"{path}.{name}: required by {shape.name}, missing")
        return
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            found.append(f"{path}: a list expected, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{i}]", found, resource_type, reserved)
        return
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            found.append(f"{path}: a map expected, got {type(value).__name__}")
            return
        for key, item in value.items():
            _walk(shape.key, key, f"{path}<key>", found, resource_type, reserved)
            _walk(shape.value, item, f"{path}[{key!r}]", found, resource_type, reserved)
        return
    _scalar(shape, value, path, found)


def _scalar(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    kind = shape.type_name
    ok = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        # on the wire: epoch seconds (JSON protocols) or an ISO string; parsed: a datetime
        "timestamp": lambda v: isinstance(v, int | float | str | datetime.datetime) and not isinstance(v, bool),
        "blob": lambda v: isinstance(v, str | bytes),
    }.get(kind)
    if ok is not None and not ok(value):
        found.append(f"{path}: {kind} expected, got {type(value).__name__} {value!r}")
        return
    enum = getattr(shape, "enum", None) or []
    if kind == "string" and enum and value not in enum:
        found.append(f"{path}: {value!r} is not one of {shape.name}'s values ({', '.join(enum)})")


@dataclass
class Capture:
    """The raw JSON answers a client received, as (operation, status, body), via botocore's before-parse event."""

    answers: list[tuple[str, int, Any]] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parse", self._record)
        return client

    def _record(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        raw = response_dict.get("body") or b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = raw  # XML (S3) is not checked here
        self.answers.append((operation_model.name, int(response_dict.get("status_code", 0)), body))

    def problems(self, service: str, resource_type: str | None = None) -> list[str]:
        """Every problem of every successful answer captured so far (errors have their own shape)."""
        out: list[str] = []
        for operation, status, body in self.answers:
            if status < 300 and isinstance(body, dict):
                out += problems(service, operation, body, resource_type)
        return out
