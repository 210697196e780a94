"""The run's counts as CloudWatch metrics: one EMF blob per invocation (the handler's Metrics flushes it)."""

from __future__ import annotations

from .base import Finished, Invocation

COUNT = "Count"  # a CloudWatch unit; Powertools takes its MetricUnit value as a string


def send(finished: Finished, invocation: Invocation) -> None:
    """Every count the alarms and the dashboard read, by trigger; the request id rides along as metadata."""
    report, handed_over = finished.report, finished.handed_over
    s = report.summary
    values = {
        "checked": s["checked"],
        "healthy": s["ok"] + s["healed"],
        "created": s["created"],
        "restored": s["restored"],
        "repaired": s["repaired"],
        "healed": s["healed"],
        "conflicts": s["conflict"],
        "errors": s["error"],
        "deferred": s["deferred"],
        "restoring": s["restoring"],
        "in_progress": s["in_progress"],
        "guard_tripped": int(report.guard_tripped),  # a blocked scheduled run must alarm too
        # unfinished work that no follow-up will pick up (chain ended, or scheduling failed): alarms
        "followup_failed": int(bool(handed_over and handed_over.problem)),
    }
    invocation.metrics.add_dimension(name="trigger", value=report.trigger)
    for name, value in values.items():
        invocation.metrics.add_metric(name=name, unit=COUNT, value=value)
    if invocation.request_id:
        invocation.metrics.add_metadata(key="request_id", value=invocation.request_id)
