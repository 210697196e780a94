"""Hand a run's unfinished work (a restore, an index build, what the deadline deferred) to one follow-up run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Invocation

if TYPE_CHECKING:
    from ..followup import Followup
    from ..report import Report

NOT_SET_UP = "follow-ups are not set up (SELFHEAL_FOLLOWUP_ROLE_ARN): the nightly run carries on"


def hand_over(report: Report, invocation: Invocation, link: int = 0, only: tuple[str, ...] = ()) -> Followup | None:
    """Schedule follow-up `link + 1` when an apply run left work unfinished and the guard let it run; never raises
    (a problem is in the returned Followup). `only`: the resources the follow-up looks at again (empty: all)."""
    if report.action != "apply" or not report.unfinished or report.guard_tripped:
        return None
    from .. import followup  # noqa: PLC0415 - only a run with unfinished work needs it

    config = followup.FollowupConfig.from_environment(dict(invocation.environ), invocation.function_arn)
    if config is None:
        return followup.Followup(link + 1, problem=NOT_SET_UP)
    return followup.schedule(invocation.clients, config, link + 1, report, only=only)
