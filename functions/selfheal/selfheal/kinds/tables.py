"""DynamoDB tables: restored from their newest copy before they are ever created empty; settings repaired."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from ..apply.executor import Deadline, StepFailed, Waits, wait_active, wait_backup
from ..aws import AWS_ERRORS
from ..model import Outcome, ResourcePlan, Step
from ..observe.account import AWS_MANAGED_DYNAMODB_KEY
from ..observe.tables import Backup, TableState, find_recovery_points, observe_table
from ..plan.tables import plan_table
from ..spec import TableSpec, partition_of
from .base import Column, Kind

if TYPE_CHECKING:
    from ..context import RunContext
    from ..loader import EstateParser


class TableKind(Kind[TableSpec, TableState]):
    name = "table"
    section = "tables"
    title = "DynamoDB tables"
    spec_type = TableSpec
    services = ("dynamodb", "backup")
    restores = ("restore_table_from_backup", "start_restore_job")
    creates = ("create_table", *restores)
    aws_waits = ("wait_active",)
    already_done: ClassVar[Mapping[str, frozenset[str]]] = {"create_table": frozenset({"ResourceInUseException"})}
    columns = (
        Column("items", "items", justify="right"),
        Column("billing", "billing"),
        Column("encryption", "encryption"),
        Column("PITR", "pitr", "switch"),
        Column("deletion prot.", "deletion_protection", "switch"),
        Column("indexes", "indexes", justify="right"),
        Column("TTL", "ttl"),
    )

    def load(self, parser: EstateParser, raw: Any, path: str, region: str) -> TableSpec:
        return parser.table(raw, path, region)

    def prefetch(self, ctx: RunContext, specs: Sequence[TableSpec]) -> None:
        # The AWS-managed key's ARN, once per region, while the tables are read: a KMS table's plan compares with it.
        for region in sorted({t.region for t in specs if not t.kms_key}):
            ctx.submit(lambda region=region: ctx.key(AWS_MANAGED_DYNAMODB_KEY, region))  # type: ignore[misc]

    def observe(self, ctx: RunContext, spec: TableSpec) -> TableState:
        spec = self._effective(ctx, spec)
        return observe_table(ctx.clients.dynamodb(spec.region), spec, ctx.reads,
                             recovery_points=lambda: self._recovery_points(ctx, spec))

    def observe_again(self, ctx: RunContext, spec: TableSpec) -> TableState:
        client = ctx.clients.dynamodb(spec.region)
        wait_active(client, spec.name, ctx.waits, ctx.deadline)
        return observe_table(client, self._effective(ctx, spec))

    def plan(self, ctx: RunContext, spec: TableSpec, state: TableState) -> ResourcePlan:
        spec = self._effective(ctx, spec)
        declared = ctx.key(spec.kms_key, spec.region) if spec.kms_key else None
        managed = None
        if state.exists and state.sse_type == "KMS" and not spec.kms_key:
            managed = ctx.key(AWS_MANAGED_DYNAMODB_KEY, spec.region)
        return plan_table(spec, state, managed, declared, ctx.restore_role, ctx.now())

    def progress_rounds(self, spec: TableSpec) -> int:
        return len(spec.gsis)  # one index build at a time: a run may start the next when the last one finished

    def applied_details(self, ctx: RunContext, spec: TableSpec, outcome: Outcome) -> dict[str, Any]:
        if outcome is not Outcome.RESTORED:
            return {}
        # DynamoDB's item count (refreshed about every six hours; a restore sets it): what came back, for the message
        try:
            count = ctx.clients.dynamodb(spec.region).describe_table(TableName=spec.name)["Table"].get("ItemCount")
        except AWS_ERRORS:
            return {"items": None}
        return {"items": int(count) if isinstance(count, int) else None}

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
            wait_active(client, step.params["TableName"], waits, deadline)
        elif step.operation == "wait_backup":
            wait_backup(client, step.params, waits, deadline)
        else:
            super().wait(client, step, waits, deadline)

    def raced(self, client: Any, step: Step, code: str, exc: Exception) -> str | None:
        if step.operation == "restore_table_from_backup" and code == "TableAlreadyExistsException":
            return _restored_by_another_run(client, step, exc)
        return super().raced(client, step, code, exc)

    def before_retry(self, client: Any, step: Step, code: str, waits: Waits, deadline: Deadline) -> None:
        if code == "ResourceInUseException" and step.params.get("TableName"):  # UPDATING: wait for ACTIVE first
            wait_active(client, step.params["TableName"], waits, deadline)

    @staticmethod
    def _effective(ctx: RunContext, spec: TableSpec) -> TableSpec:
        return spec if ctx.restore or not spec.restore else replace(spec, restore=False)

    @staticmethod
    def _recovery_points(ctx: RunContext, spec: TableSpec) -> tuple[Backup, ...]:
        """A missing table's AWS Backup recovery points (its ARN outlives it; ListBackups does not show them)."""
        arn = f"arn:{partition_of(spec.region)}:dynamodb:{spec.region}:{ctx.clients.account_id()}:table/{spec.name}"
        return find_recovery_points(ctx.clients.backup(spec.region), arn)


def _restored_by_another_run(client: Any, step: Step, exc: Exception) -> str:
    """A table appeared under the name while we restored: fine if it is this backup's restore, else say so loudly."""
    table, backup = step.params["TargetTableName"], step.params["BackupArn"]
    desc = client.describe_table(TableName=table)["Table"]
    if (desc.get("RestoreSummary") or {}).get("SourceBackupArn") == backup:
        return f"table {table} already existed: another run restored it from the same backup first"
    raise StepFailed(step, f"restore of {table} from {backup} refused: a table appeared under that name meanwhile, "
                           "not restored from this backup — the backup is kept; move its data into the new table by "
                           "hand, or delete the new table and run again") from exc
