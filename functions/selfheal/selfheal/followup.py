"""Hand unfinished work to a follow-up run: one EventBridge Scheduler one-time schedule that invokes the function.

A restore takes 20 minutes to hours and an index backfill longer; a Lambda run ends after 15 minutes at most. A run
that ends with work in progress (restoring, in progress, deferred) schedules one follow-up a few minutes later; the
follow-up does the same until the estate is healthy, up to `max_chain` links (then the nightly run carries on).

The schedule is `at(...)` with ActionAfterCompletion DELETE: Scheduler deletes it after it fires, so the function's
role needs no delete permission. Its name carries the link number (`selfheal-followup-03`): a second run that wants
the same link finds it already scheduled (ConflictException) and leaves it — one chain, not one per run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .aws import AWS_ERRORS, error_code, explain
from .report import Report

SOURCE = "selfheal"
DETAIL_TYPE = "selfheal follow-up"
MAX_DELAY_SECONDS = 1800.0


@dataclass(frozen=True)
class FollowupConfig:
    """Where and how a follow-up is scheduled (the template sets these in the function's environment)."""

    function_arn: str
    role_arn: str  # the role Scheduler assumes to invoke the function (lambda:InvokeFunction on it only)
    group: str = "default"
    delay_seconds: float = 300.0  # the first link's delay; each next one doubles, up to MAX_DELAY_SECONDS
    max_chain: int = 24

    @classmethod
    def from_environment(cls, env: dict[str, str], function_arn: str | None) -> FollowupConfig | None:
        """None when the function is not set up for follow-ups (no role or no function ARN)."""
        role = env.get("SELFHEAL_FOLLOWUP_ROLE_ARN")
        if not role or not function_arn:
            return None
        return cls(
            function_arn=function_arn,
            role_arn=role,
            group=env.get("SELFHEAL_FOLLOWUP_GROUP") or "default",
            delay_seconds=float(env.get("SELFHEAL_FOLLOWUP_DELAY_SECONDS") or 300),
            max_chain=int(env.get("SELFHEAL_FOLLOWUP_MAX_CHAIN") or 24),
        )

    def delay(self, link: int) -> float:
        return min(MAX_DELAY_SECONDS, self.delay_seconds * 2 ** max(0, link - 1))


@dataclass(frozen=True)
class Followup:
    """What was done about the unfinished work: a schedule (at, name), or why not (`problem`)."""

    link: int
    name: str = ""
    at: datetime | None = None
    already: bool = False  # another run had scheduled this link first
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"link": self.link}
        if self.at:
            out["followup_at"] = self.at.isoformat(timespec="seconds")
            out["schedule"] = self.name
        if self.already:
            out["already_scheduled"] = True
        if self.problem:
            out["problem"] = self.problem
        return out


def event(link: int, report: Report) -> dict[str, Any]:
    """The event a follow-up run receives (the schedule's target Input)."""
    return {
        "source": SOURCE,
        "detail-type": DETAIL_TYPE,
        "detail": {
            "link": link,
            "unfinished": [r.name for r in report.unfinished][:50],
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }


def parse(event_: dict[str, Any]) -> int:
    """The link number of a follow-up event; raises ValueError naming the field and the fix."""
    detail = event_.get("detail")
    link = detail.get("link") if isinstance(detail, dict) else None
    if not isinstance(link, int) or isinstance(link, bool) or link < 1:
        raise ValueError('follow-up event: detail.link must be a whole number from 1 (e.g. {"detail": {"link": 1}})'
                         " — follow-up events are made by selfheal's own schedules")
    return link


def schedule(clients: Any, config: FollowupConfig, link: int, report: Report, now: datetime | None = None) -> Followup:
    """Schedule follow-up number `link` for the report's unfinished work. Never raises: a problem is reported."""
    if link > config.max_chain:
        return Followup(link, problem=f"the chain of follow-ups stopped after {config.max_chain} runs: the nightly "
                                      "run carries on (raise SELFHEAL_FOLLOWUP_MAX_CHAIN for longer work)")
    at = (now or datetime.now(UTC)).replace(microsecond=0) + timedelta(seconds=max(1.0, config.delay(link)))
    name = f"selfheal-followup-{link:02d}"
    try:
        clients.client("scheduler").create_schedule(
            Name=name,
            GroupName=config.group,
            ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Description=f"selfheal follow-up {link}: {len(report.unfinished)} resource(s) still in progress",
            Target={"Arn": config.function_arn, "RoleArn": config.role_arn,
                    "Input": json.dumps(event(link, report))},
        )
    except AWS_ERRORS as exc:
        if error_code(exc) == "ConflictException":
            return Followup(link, name, already=True)
        return Followup(link, name, problem=explain(exc, "scheduler:CreateSchedule", f"schedule {name}") +
                        " — the nightly run carries on")
    return Followup(link, name, at)
