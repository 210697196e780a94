"""DynamoDB tables: restored from their newest copy before they are ever created empty; settings repaired."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, cast

from botocore.exceptions import WaiterError

from ..apply.executor import Deadline, Deferred, StepFailed, Waits
from ..apply.wait import aws_waiter, budget, poll
from ..aws import ACCESS_DENIED, AWS_ERRORS, error_code, http_status
from ..fields import (
    RECOVERY,
    TAGS,
    Bool,
    Checker,
    Choice,
    Const,
    Field,
    Int,
    Listing,
    Null,
    Obj,
    Problem,
    Strings,
    Text,
    Union,
    kms_key,
    objective,
    present,
    region_field,
    rto_seconds,
    tag_pairs,
)
from ..model import Change, Outcome, Recovery, ResourcePlan, ResourceResult, Step
from ..observe.account import AWS_MANAGED_DYNAMODB_KEY
from ..observe.tables import (
    backups_by_table,
    find_backups,
    find_recovery_points,
    newest_first,
    observe_table,
    recovery_points,
)
from ..plan.tables import RESTORED_FROM, plan_table
from ..spec import (
    AWS_OWNED_KEY,
    KEY_TYPES,
    ON_DEMAND,
    PROVISIONED,
    STREAM_VIEWS,
    Copy,
    IndexSpec,
    KeyAttr,
    Objective,
    TableSpec,
    partition_of,
)
from ..state.tables import Backup, TableState, copies_recovery, newest_copy
from .base import FUNCTION_ROLE, RESTORE_ROLE, Column, Deleted, Kind, Permissions, Placed, Routed, allow

if TYPE_CHECKING:
    from types_boto3_backup import BackupClient
    from types_boto3_dynamodb import DynamoDBClient

    from ..aws import Clients
    from ..context import RunContext
    from ..drill.tables import TableDrill
    from ..importing import Section, Selection

# --- the estate section: `tables:` and `table_defaults:`, each field declared once ----------------------------------

TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_CAPACITY = Int(1, 40000)
_INDEX_NAME = Text(r"[A-Za-z0-9_.-]{3,255}", "an index name of 3-255 letters, digits, _ . -",
                   description="3-255 of A-Z a-z 0-9 _ . -")
_KEY_ATTR = Obj("key", {"name": Text(what="an attribute name", description="attribute name"),
                        "type": Choice(KEY_TYPES, default="S", description="S (default), N or B")},
                required=("name",), description="a key attribute")
_KEY = Union(Text(numbers=False, what="an attribute name", description="attribute name (type S)"), _KEY_ATTR)
_KEY_OR_NULL = Union(_KEY, Null(), otherwise=0)
_PROJECTION = Union(
    Choice(("ALL", "KEYS_ONLY")),
    Obj("projection", {"include": Strings(description="the non-key attributes the index carries")},
        required=("include",), description="INCLUDE projection"),
    otherwise=0, description="ALL (default), KEYS_ONLY, or {include: [attributes]}", default="ALL",
)
_GSI = Obj("gsi", {
    "name": _INDEX_NAME,
    "hash_key": _KEY,
    "range_key": _KEY_OR_NULL,
    "projection": _PROJECTION,
    "read_capacity": Union(_CAPACITY, Null(), otherwise=0, description="provisioned tables only (default 1)"),
    "write_capacity": Union(_CAPACITY, Null(), otherwise=0, description="provisioned tables only (default 1)"),
}, required=("name", "hash_key"), description="a global secondary index")
_LSI = Obj("lsi", {"name": _INDEX_NAME, "range_key": _KEY, "projection": _PROJECTION}, required=("name", "range_key"),
           description="a local secondary index (only at table creation: a difference is a conflict)")
_BILLING = Obj(
    "billing",
    {"mode": Choice(("on-demand", "provisioned")), "read_capacity": Union(_CAPACITY, Null(), otherwise=0),
     "write_capacity": Union(_CAPACITY, Null(), otherwise=0)},
    required=("mode",),
    description="billing mode and capacity; capacity is kept exactly as declared (do not combine with auto scaling)",
    hints={"allOf": [  # checked by `_billing` with its own words
        {"if": {"properties": {"mode": {"const": "provisioned"}}},
         "then": {"required": ["read_capacity", "write_capacity"],
                  "properties": {"read_capacity": {"type": "integer"}, "write_capacity": {"type": "integer"}}}},
        {"if": {"properties": {"mode": {"const": "on-demand"}}},
         "then": {"properties": {"read_capacity": {"type": "null"}, "write_capacity": {"type": "null"}}}},
    ]},
)


def _not_billing(value: Any, path: str) -> Problem:
    if value == "provisioned":
        return (path, "provisioned billing needs capacity",
                "write `billing: {mode: provisioned, read_capacity: N, write_capacity: N}`")
    return path, f"{value!r} is not a billing mode", "use on-demand or {mode: provisioned, ...}"


def _not_encryption(value: Any, path: str) -> Problem:
    return (path, f"{value!r} is not an encryption setting",
            "use aws-managed, aws-owned or {kms_key: alias/NAME | key ARN | key id}")


_SETTINGS: dict[str, Field] = {
    "billing": Union(Const("on-demand"), _BILLING, otherwise=_not_billing, default="on-demand",
                     description="on-demand (default) or {mode: provisioned, read_capacity: N, write_capacity: N}"),
    "encryption": Union(
        Const("aws-managed"),
        Const(AWS_OWNED_KEY),
        Obj("table_encryption", {"kms_key": kms_key(description="alias/NAME, key ARN, alias ARN or key id")},
            required=("kms_key",), description="SSE with your KMS key"),
        otherwise=_not_encryption, default="aws-managed",
        description="aws-managed (default: SSE with alias/aws/dynamodb), aws-owned (DynamoDB's own default key) or "
        "{kms_key: alias/NAME | key ARN | key id}",
    ),
    "pitr": Union(
        Bool(),
        Obj("pitr", {"enabled": Bool(default=True), "recovery_days": Int(1, 35, default=35)},
            description="point-in-time recovery"),
        default=True, description="point-in-time recovery: true (default, 35 days), false, or {enabled, "
        "recovery_days: 1..35}; never switched off by selfheal",
    ),
    "deletion_protection": Bool(default=True, description="default true; never switched off by selfheal"),
    "ttl": Union(Null(), Const(False), Text(what="the TTL attribute name"),
                 description="the TTL attribute name (false or null: none)"),
    "stream": Union(Null(), Const(False), Choice(STREAM_VIEWS), description="stream view type (false or null: none)"),
    "tags": TAGS,
    "restore": Choice(("auto", "never"), default="auto",
                      description="auto (default): a missing table is restored from its newest backup; never: "
                      "created empty"),
    "recovery": RECOVERY,
}
PITR_DAYS = 35  # the longest PITR reaches back (RecoveryPeriodInDays 1-35): a table's window cannot be longer
# "LatestRestorableDateTime is typically 5 minutes before the current time" (DescribeContinuousBackups)
PITR_LAG = timedelta(minutes=5)


def pitr_copy(days: int) -> Copy:
    """PITR as a copy: any second of the last `days` days, its newest point minutes old."""
    return Copy("pitr", PITR_LAG, timedelta(days=days), f"PITR, {days} days",
                f"declare pitr: {{recovery_days: {PITR_DAYS}}}" if days < PITR_DAYS else "", finest=True)
_REGION = region_field("AWS region; default: the `region` var, else us-east-1")
TABLE = Obj(
    "table",
    {"name": Text(TABLE_NAME, "a table name of 3-255 letters, digits, _ . -",
                  description="table name: 3-255 of A-Z a-z 0-9 _ . -"),
     "hash_key": _KEY, "range_key": _KEY_OR_NULL, "region": _REGION,
     "gsis": Listing(_GSI, description="global secondary indexes"),
     "lsis": Listing(_LSI, description="local secondary indexes (need a range_key)"),
     **_SETTINGS},
    required=("name", "hash_key"),
    description="a DynamoDB table",
    hints={"if": {"required": ["lsis"], "properties": {"lsis": {"type": "array", "minItems": 1}}},
           "then": present("range_key")},  # local secondary indexes need a table range key (checked in `_table`)
)
TABLE_DEFAULTS = Obj("table_defaults", {"region": _REGION, **_SETTINGS},
                     description="settings applied to every table unless the table sets its own (never names, keys "
                     "or indexes)")


def _table(checker: Checker, raw: dict[str, Any], path: str, default_region: str) -> TableSpec:
    """A table entry that passed TABLE, as a spec: the rules across its fields checked here."""
    hash_key = _key(raw["hash_key"])
    range_key = _key(raw["range_key"]) if raw.get("range_key") is not None else None
    if range_key and range_key.name == hash_key.name:
        checker.fail(f"{path}.range_key", "range key repeats the hash key", "use a different attribute")
    billing, rcu, wcu = _billing(checker, raw.get("billing", "on-demand"), f"{path}.billing")
    gsis = tuple(_index(checker, g, f"{path}.gsis[{i}]", billing, False) for i, g in enumerate(raw.get("gsis") or []))
    lsis = tuple(_index(checker, g, f"{path}.lsis[{i}]", billing, True) for i, g in enumerate(raw.get("lsis") or []))
    if lsis and range_key is None:
        checker.fail(f"{path}.lsis", "local secondary indexes need a table range key", "add range_key or remove lsis")
    checker.unique([ix.name for ix in gsis], f"{path}.gsis", "index")
    checker.unique([ix.name for ix in lsis], f"{path}.lsis", "index")
    for i, ix in enumerate(lsis):
        if ix.name in {g.name for g in gsis}:
            checker.fail(f"{path}.lsis[{i}].name", f"index {ix.name!r} is also a GSI", "give each index its own name")
    types: dict[str, str] = {hash_key.name: hash_key.type}
    if range_key:
        types[range_key.name] = range_key.type
    for label, group in (("gsis", gsis), ("lsis", lsis)):
        for i, ix in enumerate(group):
            for part, key in (("hash_key", ix.hash_key), ("range_key", ix.range_key)):
                if key and types.setdefault(key.name, key.type) != key.type:
                    checker.fail(f"{path}.{label}[{i}].{part}.type",
                                 f"attribute {key.name!r} is {key.type} here but {types[key.name]} elsewhere",
                                 "give each attribute one type across the table's keys and indexes")
    encryption = raw.get("encryption", "aws-managed")
    pitr = raw.get("pitr", True)
    enabled, days = (pitr, 35) if isinstance(pitr, bool) else (pitr.get("enabled", True), pitr.get("recovery_days", 35))
    ttl, stream = raw.get("ttl"), raw.get("stream")
    return TableSpec(
        name=str(raw["name"]),
        region=str(raw.get("region", default_region)),
        hash_key=hash_key,
        range_key=range_key,
        gsis=gsis,
        lsis=lsis,
        billing=billing,
        read_capacity=rcu,
        write_capacity=wcu,
        kms_key=None if encryption in ("aws-managed", AWS_OWNED_KEY) else str(encryption["kms_key"]),
        aws_owned_key=encryption == AWS_OWNED_KEY,
        pitr=bool(enabled),
        recovery_days=int(days),
        deletion_protection=bool(raw.get("deletion_protection", True)),
        ttl=None if ttl is None or ttl is False else str(ttl),
        stream=None if stream is None or stream is False else str(stream),
        tags=tag_pairs(raw.get("tags")),
        restore=raw.get("restore", "auto") == "auto",
        rto_seconds=rto_seconds(raw),
        objective=objective(checker, raw.get("recovery"), f"{path}.recovery", timedelta(days=PITR_DAYS),
                            "point-in-time recovery reaches back"),
    )


def _key(value: Any) -> KeyAttr:
    if isinstance(value, str):  # shorthand: `hash_key: email` means a string attribute
        return KeyAttr(value, "S")
    return KeyAttr(str(value["name"]), str(value.get("type", "S")))


def _billing(checker: Checker, value: Any, path: str) -> tuple[str, int | None, int | None]:
    if value == "on-demand":
        return ON_DEMAND, None, None
    if value["mode"] == "on-demand":
        if value.get("read_capacity") is not None or value.get("write_capacity") is not None:
            checker.fail(path, "capacity given with on-demand billing",
                         "remove read_capacity/write_capacity or use provisioned")
        return ON_DEMAND, None, None
    for part in ("read_capacity", "write_capacity"):
        if value.get(part) is None:
            checker.fail(f"{path}.{part}", "provisioned billing needs capacity", f"add `{part}: N` (1..40000)")
    return PROVISIONED, int(value["read_capacity"]), int(value["write_capacity"])


def _index(checker: Checker, raw: dict[str, Any], path: str, billing: str, lsi: bool) -> IndexSpec:
    rcu = wcu = None
    if not lsi and billing == PROVISIONED:
        rcu, wcu = int(raw.get("read_capacity") or 1), int(raw.get("write_capacity") or 1)
    elif not lsi and (raw.get("read_capacity") is not None or raw.get("write_capacity") is not None):
        checker.fail(path, "index capacity given on an on-demand table", "remove read_capacity/write_capacity")
    projection = raw.get("projection", "ALL")
    include = tuple(sorted(str(a) for a in projection["include"])) if isinstance(projection, dict) else ()
    return IndexSpec(
        name=str(raw["name"]),
        hash_key=None if lsi else _key(raw["hash_key"]),
        range_key=_key(raw["range_key"]) if raw.get("range_key") is not None else None,
        projection="INCLUDE" if isinstance(projection, dict) else str(projection),
        non_key_attributes=include,  # AWS's order is not ours
        read_capacity=rcu,
        write_capacity=wcu,
    )



_RESTORE_ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem",
                         "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")


def _table_arn(placed: Placed) -> str:
    return f"arn:${{AWS::Partition}}:dynamodb:{placed.region}:${{AWS::AccountId}}:table/{placed.name}"


class TableKind(Kind[TableSpec, TableState]):
    name = "table"
    section = "tables"
    title = "DynamoDB tables"
    spec_type = TableSpec
    restores = ("restore_table_from_backup", "start_restore_job")
    creates = ("create_table", *restores)
    aws_waits = ("wait_active",)
    already_done: ClassVar[Mapping[str, frozenset[str]]] = {"create_table": frozenset({"ResourceInUseException"})}
    # AWS's documented "try again later" (DynamoDB API reference); throttles are botocore's alone (aws.CLIENT_CONFIG)
    retry_later = frozenset({
        "ContinuousBackupsUnavailableException",  # PITR right after CreateTable/restore: "not yet enabled"
        # Too many concurrent table operations: botocore also counts it as a throttle, but its attempts last seconds
        # and a table operation minutes; bounded by retry_attempts and the run's time.
        "LimitExceededException",
        "ResourceInUseException",  # the table is UPDATING: wait for ACTIVE, then again
    })
    aspect_labels: ClassVar[Mapping[str, str]] = {"pitr": "PITR", "ttl": "TTL", "sse": "encryption"}
    event_sources = ("aws.dynamodb",)
    events = frozenset({
        "DeleteTable", "UpdateTable", "UpdateContinuousBackups", "UpdateTimeToLive", "TagResource", "UntagResource",
        "CreateTable", "RestoreTableFromBackup", "RestoreTableToPointInTime", "UpdateKinesisStreamingDestination",
    })
    deletable = True
    columns = (
        Column("items", "items", justify="right"),
        Column("billing", "billing"),
        Column("encryption", "encryption"),
        Column("PITR", "pitr", "switch"),
        Column("deletion prot.", "deletion_protection", "switch"),
        Column("indexes", "indexes", justify="right"),
        Column("TTL", "ttl"),
    )

    fields = TABLE
    defaults = TABLE_DEFAULTS
    defaults_probe: ClassVar[Mapping[str, Any]] = {"name": "table-defaults", "hash_key": "id"}

    def load(self, parser: Checker, raw: Any, path: str, region: str) -> TableSpec:
        return _table(parser, raw, path, region)

    def permissions(self, resources: Sequence[Placed]) -> Permissions:
        tables = [_table_arn(r) for r in resources]
        backups = [f"{t}/backup/*" for t in tables]
        if not tables:
            return {}
        return {
            FUNCTION_ROLE: [
                allow("ObserveTables", ["dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups",
                                         "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource"], tables),
                allow("ListBackupsHasNoResourceType", "dynamodb:ListBackups", "*"),
                allow("ObserveBackups", "dynamodb:DescribeBackup", backups),
                allow("CreateAndRepairTables", ["dynamodb:CreateTable", "dynamodb:UpdateTable",
                                                 "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTimeToLive",
                                                 "dynamodb:TagResource"], tables),
                allow("RestoreFromBackup", "dynamodb:RestoreTableFromBackup", backups + tables),
                # AWS authorizes a restore against item reads and writes on the target table (never called by us).
                allow("RestoreTargetTableItemAccessAwsRequires", list(_RESTORE_ITEM_ACTIONS), tables),
                allow("FindAwsBackupRecoveryPointsNoResourceType", "backup:ListRecoveryPointsByResource", "*"),
                # A recovery point's ARN is an opaque id: what bounds the restore is the one role it may pass.
                allow("RestoreAwsBackupRecoveryPoints", "backup:StartRestoreJob",
                       "arn:${AWS::Partition}:backup:${AWS::Region}:${AWS::AccountId}:recovery-point:*"),
                {**allow("PassOnlyTheRestoreRoleToAwsBackup", "iam:PassRole", "${BackupRestoreRole.Arn}"),
                 "Condition": {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}},
            ],
            RESTORE_ROLE: [
                allow("RestoreIntoEstateTables", ["dynamodb:RestoreTableFromAwsBackup", "dynamodb:DescribeTable",
                                                   *_RESTORE_ITEM_ACTIONS], tables),
                allow("RestoreEstateTableBackups", "dynamodb:RestoreTableFromBackup", backups),
                {**allow("UseCustomerKeysOnlyThroughDynamoDb",
                          ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey",
                           "kms:CreateGrant"], "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"),
                 "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.${AWS::Region}.amazonaws.com"}}},
            ],
        }

    def event_filters(self, resources: Sequence[Placed]) -> list[dict[str, Any]]:
        names = [{"prefix": r.prefix} if r.prefix is not None else r.name for r in resources]
        arns = [{"wildcard": _table_arn(r)} if r.prefix is not None else _table_arn(r) for r in resources]
        return [{"requestParameters": {"tableName": names}}, {"requestParameters": {"resourceArn": arns}}] if names \
            else []

    def prefetch(self, ctx: RunContext, specs: Sequence[TableSpec]) -> None:
        # The AWS-managed key's ARN, once per region, while the tables are read: a KMS table's plan compares with it.
        for region in sorted({t.region for t in specs if not t.kms_key and not t.aws_owned_key}):
            ctx.submit(lambda region=region: ctx.key(AWS_MANAGED_DYNAMODB_KEY, region))  # type: ignore[misc]

    def observe(self, ctx: RunContext, spec: TableSpec) -> TableState:
        spec = self._effective(ctx, spec)
        return observe_table(_dynamodb(ctx.clients, spec.region), spec, ctx.reads,
                             recovery_points=lambda: self._recovery_points(ctx, spec))

    def observe_again(self, ctx: RunContext, spec: TableSpec) -> TableState:
        client = _dynamodb(ctx.clients, spec.region)
        _wait_active(client, spec.name, ctx.waits, ctx.deadline)
        return observe_table(client, self._effective(ctx, spec))

    def plan(self, ctx: RunContext, spec: TableSpec, state: TableState) -> ResourcePlan:
        spec = self._effective(ctx, spec)
        declared = ctx.key(spec.kms_key, spec.region) if spec.kms_key else None
        managed = None
        if state.exists and state.sse_type == "KMS" and not spec.kms_key and not spec.aws_owned_key:
            managed = ctx.key(AWS_MANAGED_DYNAMODB_KEY, spec.region)
        return plan_table(spec, state, managed, declared, ctx.restore_role, ctx.now())

    def progress_rounds(self, spec: TableSpec) -> int:
        return len(spec.gsis)  # one index build at a time: a run may start the next when the last one finished

    def applied_details(self, ctx: RunContext, spec: TableSpec, outcome: Outcome) -> dict[str, Any]:
        if outcome is not Outcome.RESTORED:
            return {}
        # DynamoDB's item count (refreshed about every six hours; a restore sets it): what came back, for the message
        try:
            count = _dynamodb(ctx.clients, spec.region).describe_table(TableName=spec.name)["Table"].get("ItemCount")
        except AWS_ERRORS:
            return {"items": None}
        return {"items": int(count) if isinstance(count, int) else None}

    def restore_started(self, changes: Sequence[Change]) -> str:
        source = str(changes[0].new).removeprefix(RESTORED_FROM) if changes else "its newest copy"
        return (f"restoring from {source}, started now: AWS takes 20 minutes to hours — PITR, deletion protection, "
                "TTL, stream and tags follow once it is ACTIVE")

    def changed(self, event: str, params: Mapping[str, Any], specs: Sequence[TableSpec]) -> Routed:
        if event not in self.events:
            return None
        table = params.get("tableName") or _table_of(params.get("resourceArn"))
        if table not in {t.name for t in specs}:
            return f"{event} on table {table!r}, which the estate does not declare"
        return (str(table),)

    def facts(self, result: ResourceResult) -> str:
        items = result.details.get("items")
        return f" ({items:,} items)" if result.outcome is Outcome.RESTORED and isinstance(items, int) else ""

    def recovery(self, ctx: RunContext, spec: TableSpec, state: TableState) -> Recovery | None:
        """PITR's latest restorable time (read with the table's settings) and, beside it, the newest on-demand backup
        (one listing of the region's backups for the whole run) and AWS Backup recovery point (listed for a table a
        declared selection names); without PITR, the table's newest backup or recovery point (two list reads)."""
        declared = tuple(c for c in ctx.copies_of(spec) if c.source != "pitr")  # a backups selection names it
        if state.exists and state.pitr:
            days = state.recovery_days or PITR_DAYS
            client = _dynamodb(ctx.clients, spec.region)
            beside = ctx.fact(f"backups {spec.region}", lambda: backups_by_table(client)).get(spec.name, ())
            if any(c.source == "aws-backup" for c in declared):
                beside += self._recovery_points(ctx, spec)
            newest = newest_copy(newest_first(beside), ctx.now())
            text = f"nothing: any second of the last {days} days"
            return Recovery(state.pitr_latest or ctx.now(), ("pitr", *(newest[1] if newest else ())),
                            text + (f"; newest backup {newest[2]}" if newest else ""), (pitr_copy(days), *declared))
        if state.exists:
            client = _dynamodb(ctx.clients, spec.region)
            state = replace(state, backups=newest_first(find_backups(client, spec.name)
                                                        + self._recovery_points(ctx, spec)))
        return replace(copies_recovery(state.backups, ctx.now()), copies=declared)

    copy_fix = "declare pitr: true, or name the table in a backups selection"

    def objective(self, spec: TableSpec) -> Objective | None:
        return spec.objective

    def copies(self, spec: TableSpec, target: Any) -> tuple[Copy, ...]:
        return (pitr_copy(spec.recovery_days),) if target is spec and spec.pitr else ()

    def after_apply(self, ctx: RunContext, spec: TableSpec, state: TableState, plan: ResourcePlan,
                    found: tuple[Copy, ...]) -> tuple[tuple[Copy, ...], str]:
        if not any(c.path == "pitr" for c in plan.changes):
            return found, ""
        kept = max([spec.recovery_days, *(int(c.keeps.days) for c in found if c.source == "pitr" and c.keeps)])
        return ((pitr_copy(kept), *(c for c in found if c.source != "pitr")),
                f"apply switches PITR on ({spec.recovery_days} days), as the estate declares")

    def drill(self) -> TableDrill:
        from ..drill.tables import TableDrill  # noqa: PLC0415 - only a drill loads it

        return TableDrill()

    def details(self, spec: TableSpec, state: TableState | None) -> dict[str, Any]:
        if state is None:
            return {}
        if not state.exists:
            return {"status": "MISSING", "backups": len(state.backups)}
        return {
            "status": state.status,
            "items": state.item_count,
            "billing": "on-demand" if state.billing == "PAY_PER_REQUEST"
            else f"provisioned {state.read_capacity}/{state.write_capacity}",
            "encryption": "aws-owned" if state.sse_type is None
            else ("kms" if state.sse_type == "KMS" else state.sse_type),
            "pitr": state.pitr,
            "deletion_protection": state.deletion_protection,
            "indexes": len(state.gsis) + len(state.lsis),
            "ttl": state.ttl_attribute if state.ttl_status == "ENABLED" else None,
        }

    def target(self, step: Step) -> str:
        p = step.params
        if step.service == "backup":
            return f"table {(p.get('Metadata') or {}).get('targetTableName') or p.get('RecoveryPointArn', '?')}"
        return f"table {p.get('TableName') or p.get('TargetTableName') or p.get('ResourceArn', '?')}"

    def wait(self, client: Any, step: Step, waits: Waits, deadline: Deadline) -> None:
        if step.operation == "wait_active":
            _wait_active(client, step.params["TableName"], waits, deadline)
        elif step.operation == "wait_backup":
            _wait_backup(client, step.params, waits, deadline)
        else:
            super().wait(client, step, waits, deadline)

    def raced(self, client: Any, step: Step, code: str, exc: Exception) -> str | None:
        if step.operation == "restore_table_from_backup" and code == "TableAlreadyExistsException":
            return _restored_by_another_run(client, step, exc)
        return super().raced(client, step, code, exc)

    def before_retry(self, client: Any, step: Step, code: str, waits: Waits, deadline: Deadline) -> None:
        if code == "ResourceInUseException" and step.params.get("TableName"):  # UPDATING: wait for ACTIVE first
            _wait_active(client, step.params["TableName"], waits, deadline)

    def fix(self, code: str, operation: str, exc: BaseException) -> str | None:
        if operation == "restore_table_from_backup" and (code in ACCESS_DENIED or http_status(exc) == 403):
            return ("AWS authorizes a restore against RestoreTableFromBackup on the backup and item reads and writes "
                    "(GetItem, Query, Scan, PutItem, UpdateItem, DeleteItem, BatchWriteItem) on the target table: "
                    "grant them on the estate's tables (the template does) — the backup is kept, the table not "
                    "created empty")
        if code == "ResourceInUseException":
            return "the table is busy with another operation: the next run continues"
        return None

    def delete(self, clients: Clients, spec: TableSpec, unprotect: bool, waits: Waits, stamp: str,
               say: Callable[[str], None]) -> Deleted:
        """Back the table up on demand (and wait for the backup: AWS refuses to delete a table while its backup is
        being made), then delete it; the next `selfheal apply` restores it from that backup."""
        client = _dynamodb(clients, spec.region)
        try:
            desc = client.describe_table(TableName=spec.name)["Table"]
        except AWS_ERRORS as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return Deleted(spec.name, "missing", reason="no such table")
            return Deleted(spec.name, "error", reason=self.explain(exc, "DescribeTable", spec.name))
        protected = bool(desc.get("DeletionProtectionEnabled"))
        if protected and not unprotect:
            return Deleted(spec.name, "refused",
                           reason="deletion protection is on — pass --disable-protection to lift it first")
        name = f"{spec.name}-before-delete-{stamp}"[:255]
        try:
            arn = client.create_backup(TableName=spec.name, BackupName=name)["BackupDetails"]["BackupArn"]
            say(f"backup {name} of {spec.name}: creating")
            status = poll(lambda: _backup_status(client, arn), lambda s: s == "AVAILABLE", waits, Deadline(None))
        except AWS_ERRORS as exc:
            return Deleted(spec.name, "error", reason=self.explain(exc, "backup before delete", spec.name))
        if status != "AVAILABLE":
            return Deleted(spec.name, "error", reason=f"backup {arn} still {status} after "
                                                      f"{waits.timeout_seconds:.0f}s: the table was not deleted")
        return self._delete_table(client, spec.name, name, protected, waits)

    def _delete_table(self, client: Any, table: str, backup: str, protected: bool, waits: Waits) -> Deleted:
        """Lift protection (and wait: the table is UPDATING meanwhile), delete; if the delete fails, protect again."""

        def active() -> None:
            try:
                aws_waiter(client, "table_exists", waits, Deadline(None), TableName=table)
            except WaiterError as exc:
                raise TimeoutError(f"table {table} not ACTIVE after {waits.timeout_seconds:.0f}s") from exc

        try:
            if protected:
                client.update_table(TableName=table, DeletionProtectionEnabled=False)
                active()
            client.delete_table(TableName=table)
            return Deleted(table, "deleted", backup=backup)
        except (*AWS_ERRORS, TimeoutError) as exc:
            reason = (self.explain(exc, "delete", table) if isinstance(exc, AWS_ERRORS) else str(exc)) + \
                f" — the table was not deleted (backup {backup} kept)"
            if protected:
                try:
                    active()
                    client.update_table(TableName=table, DeletionProtectionEnabled=True)
                    reason += "; deletion protection switched back on"
                except (*AWS_ERRORS, TimeoutError) as again:
                    reason += f"; switching deletion protection back on failed too: {again} — switch it on by hand"
            return Deleted(table, "error", backup=backup, reason=reason)

    @staticmethod
    def _effective(ctx: RunContext, spec: TableSpec) -> TableSpec:
        return spec if ctx.restore or not spec.restore else replace(spec, restore=False)

    @staticmethod
    def _recovery_points(ctx: RunContext, spec: TableSpec) -> tuple[Backup, ...]:
        """A missing table's AWS Backup recovery points (its ARN outlives it; ListBackups does not show them)."""
        arn = f"arn:{partition_of(spec.region)}:dynamodb:{spec.region}:{ctx.clients.account_id()}:table/{spec.name}"
        return find_recovery_points(_backup(ctx.clients, spec.region), arn)

    # --- `selfheal import` (importing/tables.py) -----------------------------------------------------------------

    importable = True
    selects_by_prefix = True
    import_permissions = ("dynamodb:ListTables", "application-autoscaling:DescribeScalableTargets", "kms:ListAliases")

    def import_check(self, selection: Selection) -> None:
        from ..importing.tables import check  # noqa: PLC0415 - only the CLI imports; the Lambda never loads it

        check(selection.prefix)

    def import_names(self, clients: Any, selection: Selection) -> list[str]:
        from ..importing.tables import table_names  # noqa: PLC0415

        return table_names(clients, selection)

    def import_entries(self, clients: Any, selection: Selection, names: Sequence[str]) -> Section:
        from ..importing.tables import import_tables  # noqa: PLC0415

        return import_tables(clients, selection, names)


def _dynamodb(clients: Clients, region: str) -> DynamoDBClient:
    return cast("DynamoDBClient", clients.client("dynamodb", region))  # typed (the stubs only matter to mypy)


def _backup(clients: Clients, region: str) -> BackupClient:
    return cast("BackupClient", clients.client("backup", region))


def _table_of(arn: Any) -> str | None:
    """The table a DynamoDB ARN names: arn:aws:dynamodb:<region>:<account>:table/<name>[/...]."""
    if not isinstance(arn, str) or ":table/" not in arn:
        return None
    return arn.split(":table/", 1)[1].split("/", 1)[0]


def _wait_active(client: DynamoDBClient, table: str, waits: Waits, deadline: Deadline) -> None:
    """Until the table is ACTIVE (not its indexes: a backfill can take hours and blocks no other change), with
    botocore's own `table_exists` waiter, bounded by the wait timeout and the run's budget."""
    within = budget(waits, deadline)
    try:
        aws_waiter(client, "table_exists", waits, deadline, TableName=table)
    except WaiterError as exc:
        if exc.last_response and "Error" in exc.last_response and "ResourceNotFound" not in str(exc.last_response):
            raise StepFailed(Step("dynamodb", "wait_active", {"TableName": table}),
                             f"waiting for {table} to be ACTIVE failed: {exc.last_response['Error']}") from exc
        raise Deferred(f"{table} was not ACTIVE within {within:.0f}s: the next run carries on") from exc


def _backup_status(client: Any, arn: str) -> str:
    return str(client.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"])


def _wait_backup(client: Any, params: dict[str, Any], waits: Waits, deadline: Deadline) -> None:
    """Until a backup (or AWS Backup recovery point) that AWS is still making can be restored (neither service ships
    a waiter for it). A recovery point's Status is read by listing the table's points again (ResourceArn): AWS
    Backup's listing names no vault for a DynamoDB point, and DescribeRecoveryPoint needs one."""
    arn = params.get("BackupArn") or params["RecoveryPointArn"]

    def status() -> str:
        if "BackupArn" in params:
            return _backup_status(client, arn)
        return _recovery_point_status(client, params["ResourceArn"], arn)

    found = poll(status, lambda s: s != "CREATING", waits, deadline)
    if found in ("AVAILABLE", "COMPLETED"):
        return
    if found != "CREATING":
        raise StepFailed(Step("dynamodb", "wait_backup", params), f"backup {arn} is {found}: it cannot be restored "
                         "and the table is not created empty — restore another copy by hand")
    raise Deferred(f"backup {arn} is still being made ({found}): not restored yet and never created empty "
                   "meanwhile — the follow-up run restores it")


def _recovery_point_status(client: BackupClient, resource_arn: str, arn: str) -> str:
    """The Status AWS Backup lists for one recovery point of a resource; "not listed" once it is gone."""
    for point in recovery_points(client, resource_arn):
        if point.get("RecoveryPointArn") == arn:
            return str(point.get("Status"))
    return "not listed"


def _restored_by_another_run(client: Any, step: Step, exc: Exception) -> str:
    """A table appeared under the name while we restored: fine if it is this backup's restore, else say so loudly."""
    table, backup = step.params["TargetTableName"], step.params["BackupArn"]
    desc = client.describe_table(TableName=table)["Table"]
    if (desc.get("RestoreSummary") or {}).get("SourceBackupArn") == backup:
        return f"table {table} already existed: another run restored it from the same backup first"
    raise StepFailed(step, f"restore of {table} from {backup} refused: a table appeared under that name meanwhile, "
                           "not restored from this backup — the backup is kept; move its data into the new table by "
                           "hand, or delete the new table and run again") from exc
