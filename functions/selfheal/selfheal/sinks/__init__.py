"""What happens after a Lambda run, one module each: hand unfinished work to a follow-up run (followup.py), log the
run (logs.py), record its metrics (metrics.py), tell people (message.py), tell the fleet (central.py).

`after_run` is the one place they are called, in that order: the follow-up comes first because the others report
it. Each sink handles its own errors: nothing after the run changes the run's result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import central, followup, logs, message, metrics
from .base import Finished, Invocation, MetricsSink

if TYPE_CHECKING:
    from ..change import Change
    from ..followup import Followup
    from ..report import Report

__all__ = ["SINKS", "Finished", "Invocation", "MetricsSink", "Sink", "after_run"]

Sink = Callable[[Finished, Invocation], None]
SINKS: tuple[Sink, ...] = (logs.send, metrics.send, message.send, central.send)


def after_run(report: Report, invocation: Invocation, link: int = 0, only: tuple[str, ...] = (),
              change: Change | None = None) -> Followup | None:
    """Hand unfinished work over, then tell every sink. `link`: the run's place in a chain of follow-ups (0: not a
    follow-up); `only`: the resources the run looked at; `change`: the change event that caused it. Returns what
    was done about unfinished work (None: there was none, or the run could not start any)."""
    handed_over = followup.hand_over(report, invocation, link, only if change else ())
    finished = Finished(report, handed_over, change)
    for sink in SINKS:
        sink(finished, invocation)
    return handed_over
