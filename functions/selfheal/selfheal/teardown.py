"""`selfheal delete`: the one destructive command, CLI only — the Lambda never imports this module.

Each table is first backed up on demand (and the backup waited for), so even this path keeps the data restorable:
the next `selfheal apply` restores every table from the backup named here. Buckets are never deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .aws import AWS_ERRORS, Clients, error_code, explain
from .spec import Estate

CONFIRMATION = "DELETE ALL TABLES"


@dataclass
class Deleted:
    table: str
    outcome: str  # deleted | missing | refused | error
    backup: str = ""
    reason: str = ""


def delete_tables(
    estate: Estate,
    clients: Clients,
    disable_protection: bool = False,
    poll_seconds: float = 2.0,
    timeout_seconds: float = 600.0,
    say: Callable[[str], None] = lambda _: None,
) -> list[Deleted]:
    """Back up, then delete, every table of the estate. Refuses protected tables unless told to lift protection."""
    out = []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for spec in estate.tables:
        client = clients.client("dynamodb", spec.region)
        try:
            desc = client.describe_table(TableName=spec.name)["Table"]
        except AWS_ERRORS as exc:
            if error_code(exc) == "ResourceNotFoundException":
                out.append(Deleted(spec.name, "missing", reason="no such table"))
            else:
                out.append(Deleted(spec.name, "error", reason=explain(exc, "DescribeTable", spec.name)))
            continue
        if desc.get("DeletionProtectionEnabled") and not disable_protection:
            out.append(
                Deleted(
                    spec.name,
                    "refused",
                    reason="deletion protection is on — pass --disable-protection to lift it first",
                )
            )
            continue
        try:
            name = f"{spec.name}-before-delete-{stamp}"[:255]
            arn = client.create_backup(TableName=spec.name, BackupName=name)["BackupDetails"]["BackupArn"]
            say(f"backup {name} of {spec.name}: creating")
            _wait_backup(client, arn, poll_seconds, timeout_seconds)
        except AWS_ERRORS as exc:
            out.append(Deleted(spec.name, "error", reason=explain(exc, "backup before delete", spec.name)))
            continue
        except TimeoutError as exc:
            out.append(Deleted(spec.name, "error", reason=f"{exc}: the table was not deleted"))
            continue
        out.append(_delete(client, spec.name, name, bool(desc.get("DeletionProtectionEnabled")), poll_seconds,
                           timeout_seconds))
    return out


def _delete(client: Any, table: str, backup: str, protected: bool, poll: float, timeout: float) -> Deleted:
    """Lift protection (and wait: the table is UPDATING meanwhile), delete; put protection back if the delete fails."""
    try:
        if protected:
            client.update_table(TableName=table, DeletionProtectionEnabled=False)
            _wait_active(client, table, poll, timeout)
        client.delete_table(TableName=table)
        return Deleted(table, "deleted", backup=backup)
    except (*AWS_ERRORS, TimeoutError) as exc:
        reason = (explain(exc, "delete", table) if isinstance(exc, AWS_ERRORS) else str(exc)) + \
            f" — the table was not deleted (backup {backup} kept)"
        if protected:
            try:
                _wait_active(client, table, poll, timeout)
                client.update_table(TableName=table, DeletionProtectionEnabled=True)
                reason += "; deletion protection switched back on"
            except (*AWS_ERRORS, TimeoutError) as again:
                reason += f"; switching deletion protection back on failed too: {again} — switch it on by hand"
        return Deleted(table, "error", backup=backup, reason=reason)


def _wait_active(client: Any, table: str, poll: float, timeout: float) -> None:
    ends = time.monotonic() + timeout
    while client.describe_table(TableName=table)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > ends:
            raise TimeoutError(f"table {table} not ACTIVE after {timeout:.0f}s")
        time.sleep(poll)


def _wait_backup(client: Any, arn: str, poll: float, timeout: float) -> None:
    """AWS refuses to delete a table while its backup is being made."""
    ends = time.monotonic() + timeout
    while True:
        status = client.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
        if status == "AVAILABLE":
            return
        if time.monotonic() > ends:
            raise TimeoutError(f"backup {arn} still {status} after {timeout:.0f}s")
        time.sleep(poll)
