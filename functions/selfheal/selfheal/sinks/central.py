"""Tell the fleet: one run event on a fleet's central bus per apply run, best effort (selfheal/fleet.py)."""

from __future__ import annotations

import logging

from .base import Finished, Invocation

log = logging.getLogger(__name__)

MIN_SECONDS_LEFT = 5.0  # the run event is sent only with this much of the invocation left


def send(finished: Finished, invocation: Invocation) -> None:
    """Send the run event, or log why not; either way count `central_event_failed` (0 or 1) for the alarm."""
    if invocation.central_bus_arn is None or finished.report.action != "apply":
        return
    left = invocation.seconds_left() if invocation.seconds_left is not None else MIN_SECONDS_LEFT
    if left < MIN_SECONDS_LEFT:  # a slow bus must not push a deploy past crhelper's timeout answer
        problem: str | None = f"not sent: {left:.1f} s left in the invocation"
        log.error("the run event was not sent", extra={"reason": problem})
    else:
        from .. import fleet  # noqa: PLC0415 - only a fleet's members pay for building run events (~10 ms cold)

        problem = fleet.tell_central(invocation.clients, invocation.central_bus_arn, finished.report,
                                     finished.handed_over, invocation.function_arn)
    invocation.metrics.add_metric(name="central_event_failed", unit="Count", value=int(problem is not None))
