"""Import of DynamoDB tables: the tables named P-* or given, read as a plan reads them, declared with the defaults
left out and the settings most of them share moved to `table_defaults`.

The reads it needs beyond the function's role: the kind's `import_permissions`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..aws import AWS_ERRORS, error_code
from ..observe.account import AWS_MANAGED_DYNAMODB_KEY, KeyResolver
from ..observe.tables import normalize_table, read_settings
from ..spec import AWS_OWNED_KEY, PROVISIONED, KeyAttr
from ..state.tables import TableState
from . import Entry, ImportProblem, Section, Selection, aws_problem, escape, reserved_tags_note, split_tags

FLAG = "--table"
POOL = 8
TABLE_SETTINGS = ("billing", "encryption", "pitr", "deletion_protection", "ttl", "stream", "tags")
# How a table says "the built-in default" when table_defaults holds something else.
DEFAULT_SPELLING: dict[str, Any] = {
    "billing": "on-demand",
    "encryption": "aws-managed",
    "pitr": True,
    "deletion_protection": True,
    "ttl": False,
    "stream": False,
    "tags": {},
}
TABLE_GONE = "a table restored from a backup or created again comes back without it"


@dataclass
class TableEntry:
    """A table as imported: its own fields, its TABLE_SETTINGS (None = the default, until table_defaults takes
    what most tables share) and its indexes, written last."""

    name: str
    fields: dict[str, Any]
    found: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    indexes: dict[str, Any] = field(default_factory=dict)

    def entry(self) -> Entry:
        body = dict(self.fields)
        body |= {k: v for k, v in self.settings.items() if v is not None}
        body |= {k: v for k, v in self.indexes.items() if v}
        return Entry(self.name, body, self.found)


def check(prefix: str | None) -> None:
    """A prefix that cannot start a table name, before any AWS call."""
    if prefix is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", prefix):
        raise ImportProblem(f"--prefix {prefix!r}", "not the start of a table name",
                            "use letters, digits, _ . - (tables named <prefix>-...)")


def import_tables(clients: Any, selection: Selection, names: Sequence[str]) -> Section:
    """Read the tables and declare them: entries, and the table_defaults they share."""
    ddb = clients.client("dynamodb", selection.region)
    with ThreadPoolExecutor(POOL) as pool:
        reads = list(pool.map(lambda name: read_table(ddb, name), names))
    keys = Keys(clients, selection.region)
    scaling = auto_scaling(clients, selection.region, [s for s, _ in reads if s.billing == PROVISIONED])
    tables = [table_entry(state, desc, keys, scaling.get, selection.prefix) for state, desc in reads]
    if scaling.get("") is not None:  # the read itself failed: say so on every provisioned table
        for t, (state, _) in zip(tables, reads, strict=True):
            if state.billing == PROVISIONED:
                t.found.append(scaling[""][0])
    defaults = table_defaults(tables)
    return Section([t.entry() for t in tables], defaults={"table_defaults": defaults} if defaults else {})


def table_names(clients: Any, selection: Selection) -> list[str]:
    """The tables named P-* and those given, each checked to exist, sorted."""
    given = selection.named("table")
    if not (selection.prefix or given):
        return []
    existing: list[str] = []
    for page in clients.client("dynamodb", selection.region).get_paginator("list_tables").paginate():
        existing += page.get("TableNames", [])
    for name in given:
        if name not in existing:
            close = difflib.get_close_matches(name, existing, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ImportProblem(f"{FLAG} {name}", f"no such table in {selection.region}",
                                f"{hint}check the name and --region")
    chosen = list(dict.fromkeys(given))
    if selection.prefix:
        matched = sorted(n for n in existing if n.startswith(f"{selection.prefix}-"))
        if not matched:
            raise ImportProblem(f"--prefix {selection.prefix}", f"no table named {selection.prefix}-* in "
                                f"{selection.region}", "check the prefix (tables are named <prefix>-...) and --region")
        chosen += [n for n in matched if n not in chosen]
    return sorted(chosen)


def read_table(client: Any, name: str) -> tuple[TableState, dict[str, Any]]:
    """DescribeTable and the settings it does not carry, normalized exactly as a plan reads them."""
    try:
        desc = client.describe_table(TableName=name)["Table"]
        fields = normalize_table(desc)
        fields.update(read_settings(client, name, fields["arn"]))
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise ImportProblem(f"{FLAG} {name}", "deleted while it was being read", "run the import again") from None
        raise ImportProblem(f"table {name}", aws_problem(exc), "use credentials that may read it") from None
    return TableState(name=name, exists=True, **fields), desc


class Keys:
    """KMS keys as an estate names them: the AWS-managed one is the default; a customer key by its alias if it has
    one (kms:ListAliases), else by its ARN."""

    def __init__(self, clients: Any, region: str) -> None:
        self.clients, self.region = clients, region
        self.resolver = KeyResolver(clients)

    def managed_arn(self) -> str | None:
        return self.resolver.resolve(AWS_MANAGED_DYNAMODB_KEY, self.region).arn

    def name(self, arn: str) -> str:
        try:
            aliases: list[str] = []
            for page in self.clients.client("kms", self.region).get_paginator("list_aliases").paginate(KeyId=arn):
                aliases += [a["AliasName"] for a in page.get("Aliases", [])]
        except AWS_ERRORS:
            return arn
        for alias in sorted(a for a in aliases if not a.startswith("alias/aws/")):
            if self.resolver.resolve(alias, self.region).arn == arn:
                return alias
        return arn


def auto_scaling(clients: Any, region: str, provisioned: list[TableState]) -> dict[str, list[str]]:
    """Application Auto Scaling targets of the provisioned tables and their indexes: resource id -> descriptions.

    Key "" holds the one comment to write when the targets could not be read (no permission)."""
    if not provisioned:
        return {}
    wanted = {f"table/{t.name}" for t in provisioned} | {f"table/{t.name}/index/{g.name}"
                                                          for t in provisioned for g in t.gsis}
    found: dict[str, list[str]] = {}
    try:
        paginator = clients.client("application-autoscaling", region).get_paginator("describe_scalable_targets")
        for page in paginator.paginate(ServiceNamespace="dynamodb"):
            for target in page.get("ScalableTargets", []):
                if target.get("ResourceId") in wanted:
                    what = target.get("ScalableDimension", "").rsplit(":", 1)[-1].replace("CapacityUnits", "")
                    found.setdefault(target["ResourceId"], []).append(
                        f"{what.lower()} {target.get('MinCapacity')}-{target.get('MaxCapacity')}")
    except AWS_ERRORS as exc:
        return {"": [f"# auto scaling not checked ({error_code(exc)}: application-autoscaling:"
                     "DescribeScalableTargets) — declared capacity is kept exactly, so it would undo auto scaling"]}
    return found


def _key(key: KeyAttr | None) -> Any:
    if key is None:
        return None
    return escape(key.name) if key.type == "S" else {"name": escape(key.name), "type": key.type}


def _projection(ix: Any) -> Any:
    if ix.projection == "INCLUDE":
        return {"include": [escape(a) for a in ix.non_key_attributes]}
    return None if ix.projection == "ALL" else ix.projection


def table_entry(state: TableState, desc: dict[str, Any], keys: Keys, scaling: Callable[[str], list[str] | None],
                prefix: str | None) -> TableEntry:
    """A table as the estate declares it (defaults left out), and what it has that the estate cannot declare."""
    name = state.name
    declared_name = f"${{prefix}}{name[len(prefix):]}" if prefix and name.startswith(f"{prefix}-") else name
    fields: dict[str, Any] = {"name": declared_name, "hash_key": _key(state.hash_key)}
    if state.range_key:
        fields["range_key"] = _key(state.range_key)
    found: list[str] = []
    provisioned = state.billing == PROVISIONED

    gsis = []
    for g in state.gsis:
        gsi: dict[str, Any] = {"name": g.name, "hash_key": _key(g.hash_key)}
        if g.range_key:
            gsi["range_key"] = _key(g.range_key)
        if _projection(g) is not None:
            gsi["projection"] = _projection(g)
        if provisioned:
            gsi |= {k: v for k, v in (("read_capacity", g.read_capacity), ("write_capacity", g.write_capacity))
                    if v not in (None, 1)}  # 1 is the estate's default for an index of a provisioned table
        gsis.append(gsi)
        if g.status != "ACTIVE":
            found.append(f"index {g.name} was {g.status} when imported — declared as it will be")
        if scaling(f"table/{name}/index/{g.name}"):
            found.append(f"auto scaling on index {g.name} ({', '.join(scaling(f'table/{name}/index/{g.name}') or [])})"
                         " — not declared: its capacity is declared as it is now and kept exactly, so selfheal would "
                         "undo auto scaling: remove the scaling targets or declare on-demand billing")
    lsis = []
    for ix in state.lsis:
        lsi: dict[str, Any] = {"name": ix.name, "range_key": _key(ix.range_key)}
        if _projection(ix) is not None:
            lsi["projection"] = _projection(ix)
        lsis.append(lsi)

    settings: dict[str, Any] = dict.fromkeys(TABLE_SETTINGS)
    if provisioned:
        settings["billing"] = {"mode": "provisioned", "read_capacity": state.read_capacity,
                               "write_capacity": state.write_capacity}
        if scaling(f"table/{name}"):
            found.append(f"auto scaling on {', '.join(scaling(f'table/{name}') or [])} — not declared: the "
                         "capacity is declared as it is now and kept exactly, so selfheal would undo auto scaling: "
                         "remove the scaling targets or declare on-demand billing")
    if state.sse_type == "KMS" and state.kms_key_arn:
        if state.kms_key_arn != keys.managed_arn():
            settings["encryption"] = {"kms_key": keys.name(state.kms_key_arn)}
    else:  # no SSEDescription: DynamoDB's default, the AWS-owned key
        settings["encryption"] = AWS_OWNED_KEY
    if state.pitr is False:
        settings["pitr"] = False
    elif state.recovery_days not in (None, 35):
        settings["pitr"] = {"recovery_days": state.recovery_days}
    if not state.deletion_protection:
        settings["deletion_protection"] = False
    if state.ttl_status in ("ENABLED", "ENABLING") and state.ttl_attribute:
        settings["ttl"] = escape(state.ttl_attribute)
    elif state.ttl_status == "DISABLING":
        found.append(f"TTL on {state.ttl_attribute!r} being disabled — not declared")
    if state.stream:
        settings["stream"] = state.stream
    tags, reserved = split_tags(state.tags or ())
    if tags:
        settings["tags"] = tags
    if reserved:
        found.append(reserved_tags_note(reserved))

    replicas = sorted(r.get("RegionName", "?") for r in desc.get("Replicas") or [])
    if replicas:
        found.append(f"global table replicas in {', '.join(replicas)} — not declared: selfheal keeps this region's "
                     f"table only; {TABLE_GONE}")
    table_class = (desc.get("TableClassSummary") or {}).get("TableClass")
    if table_class and table_class != "STANDARD":
        found.append(f"table class {table_class} — not declared: {TABLE_GONE} (STANDARD)")
    limits = {k: v for k, v in (desc.get("OnDemandThroughput") or {}).items() if isinstance(v, int) and v > 0}
    if limits:
        found.append(f"on-demand throughput limits {limits} — not declared: {TABLE_GONE}")
    if state.status not in (None, "ACTIVE"):
        found.append(f"status {state.status} when imported")
    return TableEntry(name, fields, found, settings, {"gsis": gsis, "lsis": lsis})


def table_defaults(tables: list[TableEntry]) -> dict[str, Any]:
    """Move to table_defaults each setting shared widely enough that the file gets shorter.

    A table keeps its own value when it differs, and spells the built-in default out when it has that one."""
    defaults: dict[str, Any] = {}
    if len(tables) < 2:
        return defaults
    for setting in TABLE_SETTINGS:
        values = [_canon(t.settings.get(setting)) for t in tables]
        counts = Counter(v for v in values if v != "null")
        if not counts:
            continue
        best, count = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        at_default = values.count("null")
        if count >= 2 and count > at_default + 1:  # saves `count` lines, costs one line plus one per default
            defaults[setting] = json.loads(best)
            for t, v in zip(tables, values, strict=True):
                t.settings[setting] = None if v == best else (t.settings[setting] if v != "null"
                                                             else DEFAULT_SPELLING[setting])
    return defaults


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)

