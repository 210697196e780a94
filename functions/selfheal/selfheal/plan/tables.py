"""Plan a table: compare a TableSpec with a TableState and list the AWS writes that close the gap. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..model import Change, ResourcePlan, Step
from ..spec import PROVISIONED, IndexSpec, KeyAttr, TableSpec
from ..state.account import KeyInfo
from ..state.tables import Backup, IndexState, TableState

KEEPS = "selfheal never switches protection off"
RESTORED_FROM = "restored from "  # a restore's change reads "restored from <the copy>" (the kind reads it back)


def plan_table(
    spec: TableSpec,
    state: TableState,
    managed_key: KeyInfo | None = None,
    declared_key: KeyInfo | None = None,
    restore_role: str | None = None,
    now: datetime | None = None,
) -> ResourcePlan:
    """What to do about one table.

    managed_key: alias/aws/dynamodb resolved in the table's region (asked only for a KMS-encrypted table that
        declares the AWS-managed key; its arn is None when the key does not exist yet or could not be read).
    declared_key: the resolved customer KMS key when the spec names one.
    restore_role: the role AWS Backup assumes to restore a recovery point (None: such a restore is left to a person).
    now: the time a running restore's age is measured against.
    """
    if declared_key is not None and not declared_key.usable:
        return ResourcePlan(
            "table",
            spec.name,
            state.exists,
            error=f"{declared_key.problem} — fix encryption.kms_key in the estate or the key itself",
        )
    if not state.exists:
        return _plan_missing(spec, state, restore_role, declared_key)
    if state.status == "CREATING":
        return _plan_creating(spec, state, now or datetime.now(UTC))

    conflicts = _schema_conflicts(spec, state)
    if conflicts:  # a table whose keys differ is not the declared table: touch nothing
        return ResourcePlan("table", spec.name, True, conflicts=tuple(conflicts))

    plan = _Draft(spec.name, spec.region)
    _deletion_protection(spec, state, plan)
    _pitr(spec, state, plan)
    _billing(spec, state, plan)
    _encryption(spec, state, plan, managed_key, declared_key)
    _stream(spec, state, plan)
    _indexes(spec, state, plan)
    _ttl(spec, state, plan)
    _tags(spec, state, plan)
    steps = plan.steps
    if steps and state.status != "ACTIVE":
        steps = [_wait(spec)] + steps  # AWS refuses updates while the table is UPDATING
    # A restore an earlier run started (a follow-up's usual case): setting what the restore cannot carry finishes it.
    fresh = state.restore_source and state.created_at and (now or datetime.now(UTC)) - state.created_at < RECENT
    return ResourcePlan(
        "table", spec.name, True, tuple(steps), tuple(plan.conflicts), tuple(plan.notes), progress=tuple(plan.progress),
        restored_from=state.restore_source if fresh and steps and _as_restored(spec, state) else None,
    )


def _as_restored(spec: TableSpec, state: TableState) -> bool:
    """Still as a restore leaves a table (none of PITR or the declared tags, which a restore never carries): only
    the run that finishes the restore says "restore finished", not one that repairs later drift on it."""
    carried = [state.pitr is True] if spec.pitr else []
    if spec.tags and state.tags is not None:
        carried.append(bool(set(spec.tags) & set(state.tags)))
    return not any(carried)


RECENT = timedelta(days=1)  # a chain of follow-ups ends well within a day


class _Draft:
    def __init__(self, table: str, region: str) -> None:
        self.table, self.region = table, region
        self.steps: list[Step] = []
        self.conflicts: list[str] = []
        self.notes: list[str] = []
        self.progress: list[str] = []

    def update_table(self, change: Change, **params: Any) -> None:
        self.write("update_table", change, TableName=self.table, **params)
        self.steps.append(Step("dynamodb", "wait_active", {"TableName": self.table}, region=self.region))

    def write(self, operation: str, change: Change | list[Change], **params: Any) -> None:
        changes = tuple(change) if isinstance(change, list) else (change,)
        self.steps.append(Step("dynamodb", operation, params, changes, self.region))


def _wait(spec: TableSpec) -> Step:
    return Step("dynamodb", "wait_active", {"TableName": spec.name}, region=spec.region)


# --- a missing table ------------------------------------------------------------------------------------------------


def _plan_missing(
    spec: TableSpec, state: TableState, restore_role: str | None, declared_key: KeyInfo | None = None
) -> ResourcePlan:
    """Restore from the newest copy; create empty only when no copy exists or is being made.

    A DynamoDB backup (arn:aws:dynamodb:..., whether DynamoDB or AWS Backup made it) is restored by DynamoDB's
    RestoreTableFromBackup; only a recovery point arn:aws:backup:... needs AWS Backup's StartRestoreJob and a role.
    """
    if spec.restore and state.backups:
        newest = state.backups[0]  # newest first, whatever its type: an older copy would lose the newest writes
        steps: list[Step] = []
        if newest.via_aws_backup and not restore_role:
            return ResourcePlan("table", spec.name, False, error=(
                f"missing; its newest copy is {newest.describe()}, which only AWS Backup can restore and this run has "
                f"no restore role — restore it: `aws backup start-restore-job --recovery-point-arn {newest.arn} "
                f"--iam-role-arn <a role AWS Backup may assume> --resource-type DynamoDB --metadata "
                f"targetTableName={spec.name}` (or let the deployed function do it); never created empty meanwhile"))
        if not newest.ready:
            # Restoring an older copy, or creating the table, would make this copy unrestorable under the name.
            steps.append(_wait_backup(spec, newest))
        change = Change("table", "missing", f"{RESTORED_FROM}{newest.describe()}")
        if newest.via_aws_backup:
            steps.append(Step("backup", "start_restore_job",
                              _restore_job_params(spec, newest, restore_role or "", declared_key), (change,),
                              spec.region))
        else:
            params: dict[str, Any] = {
                "TargetTableName": spec.name,
                "BackupArn": newest.arn,
                "BillingModeOverride": spec.billing,
                "SSESpecificationOverride": sse_specification(spec),
            }
            if spec.billing == PROVISIONED:
                params["ProvisionedThroughputOverride"] = _throughput(spec.read_capacity, spec.write_capacity)
                if newest.gsis:
                    params["GlobalSecondaryIndexOverride"] = _index_override(spec, newest.gsis)
            steps.append(Step("dynamodb", "restore_table_from_backup", params, (change,), spec.region))
        # A restore brings back keys, indexes and items; PITR, TTL, tags, streams and protection must be set again.
        after = TableState(
            spec.name,
            True,
            "ACTIVE",
            hash_key=spec.hash_key,
            range_key=spec.range_key,
            gsis=tuple(_index_state(g) for g in spec.gsis),
            pitr=False,
            ttl_status="DISABLED",
            tags=(),
        )
    else:
        why = "restore: never" if not spec.restore else "no backup found"
        change = Change("table", "missing", f"created ({why})")
        steps = [Step("dynamodb", "create_table", create_table_params(spec), (change,), spec.region)]
        after = TableState(
            spec.name,
            True,
            "ACTIVE",
            deletion_protection=spec.deletion_protection,
            stream=spec.stream,
            pitr=False,
            ttl_status="DISABLED",
            tags=spec.tags,
        )
    followup = _Draft(spec.name, spec.region)
    for aspect in (_deletion_protection, _pitr, _stream, _ttl, _tags):
        aspect(spec, after, followup)
    predicted = tuple(c for s in followup.steps for c in s.changes)
    return ResourcePlan("table", spec.name, False, tuple(steps), then_reconcile=True, predicted=predicted)


def _wait_backup(spec: TableSpec, backup: Backup) -> Step:
    if backup.type == "RECOVERY_POINT" and backup.resource_arn:
        # AWS Backup names no vault for a DynamoDB point: its Status is read by listing the table's points again.
        return Step("backup", "wait_backup", {"ResourceArn": backup.resource_arn, "RecoveryPointArn": backup.arn},
                    region=spec.region)
    return Step("dynamodb", "wait_backup", {"BackupArn": backup.arn}, region=spec.region)


def _index_override(spec: TableSpec, gsis: tuple[IndexState, ...]) -> list[dict[str, Any]]:
    """Every index of the backup (none left out: an index missing here is not restored), each with its capacity: the
    declared one, else the table's, as a switch to provisioned billing needs for every index (UpdateTable)."""
    declared = {g.name: g for g in spec.gsis}
    out = []
    for ix in gsis:
        want = declared.get(ix.name)
        projection: dict[str, Any] = {"ProjectionType": ix.projection}
        if ix.projection == "INCLUDE":
            projection["NonKeyAttributes"] = list(ix.non_key_attributes)
        out.append({
            "IndexName": ix.name,
            "KeySchema": _key_schema(ix.hash_key, ix.range_key),
            "Projection": projection,
            "ProvisionedThroughput": _throughput(want.read_capacity if want else spec.read_capacity,
                                                 want.write_capacity if want else spec.write_capacity),
        })
    return out


def _restore_job_params(spec: TableSpec, backup: Backup, role: str, key: KeyInfo | None = None) -> dict[str, Any]:
    """AWS Backup's StartRestoreJob for a DynamoDB recovery point, under the table's own name.

    The idempotency token makes two runs that race on the same recovery point start one job, not two.
    key: the estate's KMS key resolved; kmsMasterKeyArn takes its ARN, never the alias or id the estate wrote.
    """
    # AWS Backup's DynamoDB restore metadata: encryptionType Default is the AWS-owned key, KMS any other
    metadata = {"targetTableName": spec.name, "encryptionType": "Default" if spec.aws_owned_key else "KMS"}
    if spec.kms_key:
        metadata["kmsMasterKeyArn"] = key.arn if key and key.arn else spec.kms_key
    return {
        "RecoveryPointArn": backup.arn,
        "IamRoleArn": role,
        "ResourceType": "DynamoDB",
        "Metadata": metadata,
        "IdempotencyToken": f"selfheal-{spec.name}-{backup.arn.rsplit(':', 1)[-1].rsplit('/', 1)[-1]}"[:100],
    }


def _plan_creating(spec: TableSpec, state: TableState, now: datetime) -> ResourcePlan:
    """A table AWS is still creating (a restore takes 20 minutes to hours): wait for it, never act on it."""
    since = f" for {_age(state.created_at, now)}" if state.created_at else ""
    if state.restore_in_progress:
        what = f"restoring from {state.restore_source or 'a backup'}{since}"
    else:
        what = f"being created{since}"
    return ResourcePlan(
        "table", spec.name, True, (_wait(spec),), then_reconcile=True, progress=(what,),
        restoring=state.restore_in_progress,
    )


def _age(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds())) if since.tzinfo else 0
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def create_table_params(spec: TableSpec) -> dict[str, Any]:
    """CreateTable with everything it can carry; PITR and TTL follow once the table is ACTIVE."""
    params: dict[str, Any] = {
        "TableName": spec.name,
        "AttributeDefinitions": _attribute_definitions(spec.attributes),
        "KeySchema": _key_schema(spec.hash_key, spec.range_key),
        "BillingMode": spec.billing,
        "SSESpecification": sse_specification(spec),
        "DeletionProtectionEnabled": spec.deletion_protection,
    }
    if spec.billing == PROVISIONED:
        params["ProvisionedThroughput"] = _throughput(spec.read_capacity, spec.write_capacity)
    if spec.gsis:
        params["GlobalSecondaryIndexes"] = [_gsi(g, spec) for g in spec.gsis]
    if spec.lsis:
        params["LocalSecondaryIndexes"] = [
            {"IndexName": ix.name, "KeySchema": _key_schema(spec.hash_key, ix.range_key), "Projection": _projection(ix)}
            for ix in spec.lsis
        ]
    if spec.stream:
        params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream}
    if spec.tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in spec.tags]
    return params


def sse_specification(spec: TableSpec) -> dict[str, Any]:
    """CreateTable/UpdateTable's SSESpecification (a restore's override): Enabled false means the AWS-owned key."""
    if spec.aws_owned_key:
        return {"Enabled": False}
    sse: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
    if spec.kms_key:
        sse["KMSMasterKeyId"] = spec.kms_key
    return sse


# --- keys: never changed in place ---------------------------------------------------------------------------------


def _schema_conflicts(spec: TableSpec, state: TableState) -> list[str]:
    out = []
    declared = (spec.hash_key, spec.range_key)
    actual = (state.hash_key, state.range_key)
    if declared != actual:
        out.append(
            f"key schema is {_keys(*actual)}, declared {_keys(*declared)}: keys cannot change in place — "
            "migrate the data to a new table by hand, or declare the existing keys"
        )
    declared_lsis = {ix.name: (ix.range_key, ix.projection, ix.non_key_attributes) for ix in spec.lsis}
    actual_lsis = {ix.name: (ix.range_key, ix.projection, ix.non_key_attributes) for ix in state.lsis}
    if declared_lsis != actual_lsis:
        out.append(
            f"local secondary indexes are {sorted(actual_lsis) or 'none'}, declared {sorted(declared_lsis) or 'none'}: "
            "LSIs exist only from table creation — declare the existing ones or migrate by hand"
        )
    return out


def _keys(hash_key: KeyAttr | None, range_key: KeyAttr | None) -> str:
    parts = [f"{k.name}({k.type})" for k in (hash_key, range_key) if k]
    return " + ".join(parts) or "none"


# --- settings that can be repaired ----------------------------------------------------------------------------------


def _deletion_protection(spec: TableSpec, state: TableState, plan: _Draft) -> None:
    if spec.deletion_protection and not state.deletion_protection:
        plan.update_table(Change("deletion_protection", False, True), DeletionProtectionEnabled=True)
    elif state.deletion_protection and not spec.deletion_protection:
        plan.notes.append(f"deletion protection is on though declared off: kept ({KEEPS})")


def _pitr(spec: TableSpec, state: TableState, plan: _Draft) -> None:
    if not spec.pitr or state.pitr is None:
        return
    if state.pitr and state.recovery_days and spec.recovery_days < state.recovery_days:
        plan.conflicts.append(
            f"pitr.recovery_days: declared {spec.recovery_days}, the table keeps {state.recovery_days}: selfheal never "
            "shortens a PITR window (it discards the history beyond the new one) — declare "
            f"{state.recovery_days}, or shorten it by hand")
        return
    if not state.pitr or state.recovery_days != spec.recovery_days:
        old = f"enabled, {state.recovery_days} days" if state.pitr else False
        plan.write(
            "update_continuous_backups",
            Change("pitr", old, f"enabled, {spec.recovery_days} days"),
            TableName=spec.name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": spec.recovery_days,
            },
        )


def _billing(spec: TableSpec, state: TableState, plan: _Draft) -> None:
    if spec.billing != PROVISIONED:
        if state.billing != spec.billing:
            plan.update_table(
                Change("billing", _billing_text(state.billing, state), "on-demand"), BillingMode=spec.billing
            )
        return
    if state.billing == spec.billing and (state.read_capacity, state.write_capacity) == (
        spec.read_capacity,
        spec.write_capacity,
    ):
        return
    params: dict[str, Any] = {
        "BillingMode": PROVISIONED,
        "ProvisionedThroughput": _throughput(spec.read_capacity, spec.write_capacity),
    }
    declared = {g.name: g for g in spec.gsis}
    # AWS needs capacity for every index on the switch: undeclared indexes get the table's declared capacity.
    updates = [
        {"Update": {"IndexName": name, "ProvisionedThroughput": _throughput(
            declared[name].read_capacity if name in declared else spec.read_capacity,
            declared[name].write_capacity if name in declared else spec.write_capacity)}}
        for name in state.gsi_map
    ]
    if updates and state.billing != PROVISIONED:  # switching to provisioned needs every index's capacity
        params["GlobalSecondaryIndexUpdates"] = updates
    plan.update_table(
        Change("billing", _billing_text(state.billing, state), _billing_text(PROVISIONED, spec)), **params
    )


def _billing_text(mode: str | None, src: Any) -> str:
    if mode == PROVISIONED:
        return f"provisioned {src.read_capacity}/{src.write_capacity}"
    return "on-demand" if mode else "-"


def _encryption(
    spec: TableSpec, state: TableState, plan: _Draft, managed: KeyInfo | None, declared: KeyInfo | None
) -> None:
    if spec.aws_owned_key:
        if state.sse_type is None:
            return
        plan.update_table(Change("encryption", f"kms {state.kms_key_arn}", "aws-owned key"),
                          SSESpecification=sse_specification(spec))
        return
    if state.sse_type == "KMS":
        if spec.kms_key and declared and state.kms_key_arn == declared.arn:
            return
        if not spec.kms_key:
            if managed and managed.arn and state.kms_key_arn == managed.arn:
                return
            if managed and not managed.arn and "not found" not in managed.problem:
                # The managed key's ARN could not be read (e.g. no kms:DescribeKey): comparing would flap forever.
                plan.notes.append(f"encryption key not compared: {managed.problem}")
                return
    old = "aws-owned key" if state.sse_type is None else f"kms {state.kms_key_arn}"
    new = f"kms {spec.kms_key}" if spec.kms_key else "kms aws-managed (alias/aws/dynamodb)"
    plan.update_table(Change("encryption", old, new), SSESpecification=sse_specification(spec))


def _stream(spec: TableSpec, state: TableState, plan: _Draft) -> None:
    if state.stream and not spec.stream:
        plan.notes.append(f"stream {state.stream} is on though not declared: kept (whatever reads it sees every "
                          "write; declare it, or turn it off by hand if nothing should)")
    if not spec.stream or state.stream == spec.stream:
        return
    if state.stream is None:
        plan.update_table(
            Change("stream", None, spec.stream),
            StreamSpecification={"StreamEnabled": True, "StreamViewType": spec.stream},
        )
    else:
        plan.conflicts.append(
            f"stream view type is {state.stream}, declared {spec.stream}: changing it means disabling "
            "the stream, which breaks its consumers — do it by hand"
        )


def _indexes(spec: TableSpec, state: TableState, plan: _Draft) -> None:
    existing = state.gsi_map
    # AWS builds one online index per table at a time, and a backfill can take hours: start one build per run,
    # never wait for it; the rest are in progress until a later run.
    building = [g.name for g in state.gsis if g.status in ("CREATING", "DELETING")]
    for name in building:
        plan.progress.append(f"index {name} is being built (backfilling)")
    for gsi in spec.gsis:
        have = existing.get(gsi.name)
        if have is None:
            if building:
                plan.progress.append(f"index {gsi.name} waits for index {building[0]} to finish building")
                continue
            attrs = {k.name: k.type for k in (spec.hash_key, spec.range_key, gsi.hash_key, gsi.range_key) if k}
            plan.write(
                "update_table",
                Change(f"gsis.{gsi.name}", None, f"created ({_keys(gsi.hash_key, gsi.range_key)}, {gsi.projection})"),
                TableName=spec.name,
                AttributeDefinitions=_attribute_definitions(attrs),
                GlobalSecondaryIndexUpdates=[{"Create": _gsi(gsi, spec)}],
            )
            plan.steps.append(_wait(spec))
            plan.progress.append(f"index {gsi.name} is being built (backfilling)")
            building.append(gsi.name)
            continue
        if (have.hash_key, have.range_key, have.projection, have.non_key_attributes) != (
            gsi.hash_key,
            gsi.range_key,
            gsi.projection,
            tuple(sorted(gsi.non_key_attributes)),
        ):
            plan.conflicts.append(
                f"index {gsi.name} is {_keys(have.hash_key, have.range_key)} {have.projection}, declared "
                f"{_keys(gsi.hash_key, gsi.range_key)} {gsi.projection}: an index cannot change in place and selfheal "
                "never deletes one — declare it under another name, or replace it by hand"
            )
        elif (
            spec.billing == PROVISIONED
            and state.billing == PROVISIONED
            and ((have.read_capacity, have.write_capacity) != (gsi.read_capacity, gsi.write_capacity))
        ):
            plan.update_table(
                Change(
                    f"gsis.{gsi.name}.capacity",
                    f"{have.read_capacity}/{have.write_capacity}",
                    f"{gsi.read_capacity}/{gsi.write_capacity}",
                ),
                GlobalSecondaryIndexUpdates=[
                    {
                        "Update": {
                            "IndexName": gsi.name,
                            "ProvisionedThroughput": _throughput(gsi.read_capacity, gsi.write_capacity),
                        }
                    }
                ],
            )
    declared = {g.name for g in spec.gsis}
    for name in sorted(set(existing) - declared):
        plan.notes.append(f"index {name} is not declared: kept (selfheal never deletes an index)")


def _ttl(spec: TableSpec, state: TableState, plan: _Draft) -> None:
    if not spec.ttl or state.ttl_status is None:
        return
    on = state.ttl_status in ("ENABLED", "ENABLING")
    if on and state.ttl_attribute == spec.ttl:
        return
    if on:
        plan.conflicts.append(
            f"TTL is on for attribute {state.ttl_attribute!r}, declared {spec.ttl!r}: AWS must "
            "disable TTL before another attribute (and may refuse for an hour) — do it by hand"
        )
    elif state.ttl_status == "DISABLING":
        plan.conflicts.append(
            f"TTL is being disabled, declared on {spec.ttl!r}: AWS refuses changes until that "
            "finishes (up to an hour) — the next run enables it"
        )
    else:
        plan.write(
            "update_time_to_live",
            Change("ttl", None, spec.ttl),
            TableName=spec.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl},
        )


def _tags(spec: TableSpec, state: TableState, plan: _Draft) -> None:
    if not spec.tags or state.tags is None:
        return
    have = dict(state.tags)
    missing = [(k, v) for k, v in spec.tags if have.get(k) != v]
    if missing:
        plan.write(
            "tag_resource",
            [Change(f"tags.{k}", have.get(k), v) for k, v in missing],
            ResourceArn=state.arn or f"<arn of {spec.name}>",
            Tags=[{"Key": k, "Value": v} for k, v in missing],
        )
    extra = sorted(set(have) - {k for k, _ in spec.tags})
    if extra:
        plan.notes.append(f"tags not declared: {', '.join(extra)} (kept)")


# --- small builders -----------------------------------------------------------------------------------------------


def _attribute_definitions(attrs: dict[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": n, "AttributeType": t} for n, t in sorted(attrs.items())]


def _key_schema(hash_key: KeyAttr | None, range_key: KeyAttr | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key.name, "KeyType": "HASH"}] if hash_key else []
    if range_key:
        schema.append({"AttributeName": range_key.name, "KeyType": "RANGE"})
    return schema


def _projection(ix: IndexSpec) -> dict[str, Any]:
    proj: dict[str, Any] = {"ProjectionType": ix.projection}
    if ix.projection == "INCLUDE":
        proj["NonKeyAttributes"] = list(ix.non_key_attributes)
    return proj


def _gsi(ix: IndexSpec, spec: TableSpec) -> dict[str, Any]:
    gsi: dict[str, Any] = {
        "IndexName": ix.name,
        "KeySchema": _key_schema(ix.hash_key, ix.range_key),
        "Projection": _projection(ix),
    }
    if spec.billing == PROVISIONED:
        gsi["ProvisionedThroughput"] = _throughput(ix.read_capacity, ix.write_capacity)
    return gsi


def _throughput(read: int | None, write: int | None) -> dict[str, int]:
    return {"ReadCapacityUnits": int(read or 1), "WriteCapacityUnits": int(write or 1)}


def _index_state(ix: IndexSpec) -> IndexState:
    return IndexState(ix.name, ix.hash_key, ix.range_key, ix.projection, tuple(sorted(ix.non_key_attributes)))


__all__ = ["create_table_params", "plan_table", "sse_specification"]
