"""Hand unfinished work to a follow-up run: one EventBridge Scheduler one-time schedule that invokes the function.

A restore takes 20 minutes to hours and an index backfill longer; a Lambda run ends after 15 minutes at most. A run
that ends with work in progress (restoring, in progress, deferred) schedules one follow-up a few minutes later; the
follow-up does the same until the estate is healthy, up to `max_chain` links (then the nightly run carries on).

The schedule is `at(...)` with ActionAfterCompletion DELETE: Scheduler deletes it after it fires, so the function's
role needs no delete permission. Its name carries the link number (`selfheal-followup-03`): a second run that wants
the same link finds it already scheduled (ConflictException) and leaves it — one chain, not one per run.
"""

from __future__ import annotations

import hashlib
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
        return float(min(MAX_DELAY_SECONDS, self.delay_seconds * 2 ** max(0, link - 1)))


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


def event(link: int, unfinished: list[str], only: tuple[str, ...] = ()) -> dict[str, Any]:
    """The event a follow-up run receives (the schedule's target Input). `only`: the resources it looks at again
    (a change event's recheck), else the whole estate."""
    detail: dict[str, Any] = {"link": link, "unfinished": unfinished[:50],
                              "requested_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if only:
        detail["only"] = list(only)
    return {"source": SOURCE, "detail-type": DETAIL_TYPE, "detail": detail}


def parse(event_: dict[str, Any]) -> tuple[int, tuple[str, ...]]:
    """The link number and the resources (`only`, empty: all) of a follow-up event; raises ValueError naming the
    field and the fix."""
    detail = event_.get("detail")
    link = detail.get("link") if isinstance(detail, dict) else None
    if not isinstance(link, int) or isinstance(link, bool) or link < 1:
        raise ValueError('follow-up event: detail.link must be a whole number from 1 (e.g. {"detail": {"link": 1}})'
                         " — follow-up events are made by selfheal's own schedules")
    assert isinstance(detail, dict)  # the link was read from it
    only = detail.get("only", [])
    if not isinstance(only, list) or not all(isinstance(n, str) and n for n in only):
        raise ValueError("follow-up event: detail.only must be a list of declared resource names "
                         '(e.g. ["galerly-users"]) — or leave it out for the whole estate')
    return link, tuple(only)


def schedule(clients: Any, config: FollowupConfig, link: int, report: Report, now: datetime | None = None,
             only: tuple[str, ...] = ()) -> Followup:
    """Schedule follow-up number `link` for the report's unfinished work. Never raises: a problem is reported.
    `only`: a change run's follow-up looks again at its own resources only."""
    if link > config.max_chain:
        return Followup(link, problem=f"the chain of follow-ups stopped after {config.max_chain} runs: the nightly "
                                      "run carries on (raise SELFHEAL_FOLLOWUP_MAX_CHAIN for longer work)")
    name = f"selfheal-followup-{link:02d}" + (f"-{_key(only)}" if only else "")
    unfinished = [r.name for r in report.unfinished]
    return _create(clients, config, name, config.delay(link), event(link, unfinished, only), now,
                   f"selfheal follow-up {link}: {len(unfinished)} resource(s) still in progress")


def lease(clients: Any, config: FollowupConfig, resources: tuple[str, ...], seconds: float,
          now: datetime | None = None) -> Followup:
    """Coalesce a burst of change events: the first event for these resources creates a one-time schedule that looks
    at them again in `seconds` (catching what changed meanwhile); while it exists, CreateSchedule answers
    ConflictException and later events for the same resources need no run of their own (`already`)."""
    name = f"selfheal-change-{_key(resources)}"
    return _create(clients, config, name, seconds, event(1, [], resources), now,
                   f"selfheal: look again at {', '.join(resources)[:400]} after a change")


def _create(clients: Any, config: FollowupConfig, name: str, delay: float, input_: dict[str, Any],
            now: datetime | None, description: str) -> Followup:
    at = (now or datetime.now(UTC)).replace(microsecond=0) + timedelta(seconds=max(1.0, delay))
    link = int(input_["detail"]["link"])
    try:
        clients.client("scheduler").create_schedule(
            Name=name,
            GroupName=config.group,
            ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Description=description[:512],
            Target={"Arn": config.function_arn, "RoleArn": config.role_arn, "Input": json.dumps(input_)},
        )
    except AWS_ERRORS as exc:
        if error_code(exc) == "ConflictException":
            return Followup(link, name, already=True)
        return Followup(link, name, problem=explain(exc, "scheduler:CreateSchedule", f"schedule {name}") +
                        " — the nightly run carries on")
    return Followup(link, name, at)


def _key(resources: tuple[str, ...]) -> str:
    """A short, stable, schedule-name-safe key for a set of resource names (a resource's name can be 255 long)."""
    return hashlib.sha256("\n".join(sorted(resources)).encode()).hexdigest()[:16]
