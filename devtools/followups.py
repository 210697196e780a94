"""EventBridge Scheduler's part in a follow-up, played on the local AWS (moto stores schedules but never fires them).

A run that ends with work in progress leaves a one-time schedule (`at(...)`, ActionAfterCompletion DELETE) whose
target is the function and whose Input is the follow-up event. `due()` waits until the next such schedule is due (or,
given `advance`, moves the local AWS's clock on by as long instead) and then does what Scheduler does: hands back its
target Input and deletes the schedule. The caller invokes the handler
with that Input (the function's own invoke is the caller's business: in-process, a subprocess, ...).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

GROUP = "selfheal-followups"
# Named as CloudFormation names a stack's roles: <stack>-<LogicalId>-<suffix>
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/selfheal-FollowupSchedulerRole-7QZ1K2M3N4P5"
RESTORE_ROLE = "arn:aws:iam::123456789012:role/selfheal-BackupRestoreRole-1A2B3C4D5E6F"


def function_environment(delay_seconds: float, group: str = GROUP) -> dict[str, str]:
    """What the template sets in the function's environment for follow-ups and AWS Backup restores."""
    return {
        "SELFHEAL_FOLLOWUP_ROLE_ARN": SCHEDULER_ROLE,
        "SELFHEAL_FOLLOWUP_GROUP": group,
        "SELFHEAL_FOLLOWUP_DELAY_SECONDS": str(delay_seconds),
        "SELFHEAL_BACKUP_RESTORE_ROLE_ARN": RESTORE_ROLE,
    }


@dataclass(frozen=True)
class Fired:
    """A schedule as it fired: its name, when it was due, its target and the event the function receives."""

    name: str
    at: datetime
    target: dict[str, Any]
    event: dict[str, Any]
    action_after_completion: str


def scheduler(endpoint: str, region: str = "us-east-1") -> Any:
    """A Scheduler client on the local AWS (its own credentials when the environment has none)."""
    return boto3.client("scheduler", region_name=region, endpoint_url=endpoint,
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"))


def create_group(endpoint: str, group: str = GROUP) -> None:
    """The stack's schedule group (the template creates it)."""
    scheduler(endpoint).create_schedule_group(Name=group)


def pending(endpoint: str, group: str = GROUP) -> list[dict[str, Any]]:
    """Every schedule in the group, in full (GetSchedule), soonest first."""
    client = scheduler(endpoint)
    names = [s["Name"] for s in client.list_schedules(GroupName=group).get("Schedules", [])]
    full = [client.get_schedule(Name=n, GroupName=group) for n in names]
    return sorted(full, key=lambda s: _at(s["ScheduleExpression"]))


def due(endpoint: str, group: str = GROUP, timeout: float = 600.0,
        advance: Callable[[float], Any] | None = None) -> Fired:
    """Wait until the soonest schedule is due, then fire it as Scheduler does: return it and delete it.

    advance: instead of sleeping until then, move the local AWS's clock on by as long (``LocalAws.advance_clock``),
    so what AWS would have finished meanwhile (a restore, an index build) is finished when the follow-up runs."""
    schedules = pending(endpoint, group)
    if not schedules:
        raise LookupError(f"no schedule in group {group}: nothing was handed over")
    first = schedules[0]
    at = _at(first["ScheduleExpression"])
    wait = (at - datetime.now(UTC)).total_seconds()
    if wait > timeout:
        raise TimeoutError(f"schedule {first['Name']} is due in {wait:.0f}s, more than {timeout:.0f}s")
    if wait > 0:
        if advance is not None:
            advance(wait)
        else:
            time.sleep(wait)
    if first.get("ActionAfterCompletion") == "DELETE":
        scheduler(endpoint).delete_schedule(Name=first["Name"], GroupName=group)
    return Fired(first["Name"], at, first["Target"], json.loads(first["Target"]["Input"]),
                 first.get("ActionAfterCompletion", ""))


def _at(expression: str) -> datetime:
    if not (expression.startswith("at(") and expression.endswith(")")):
        raise ValueError(f"not a one-time schedule: {expression}")
    return datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
