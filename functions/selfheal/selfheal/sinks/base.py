"""What every sink is given: the finished run, and the invocation it ran in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..aws import Clients
from ..change import Change
from ..followup import Followup, FollowupConfig
from ..report import Report


class MetricsSink(Protocol):
    """The part of Powertools' `Metrics` the sinks use (the package itself does not import Powertools)."""

    def add_metric(self, name: str, unit: Any, value: float) -> None: ...

    def add_dimension(self, name: str, value: str) -> None: ...

    def add_metadata(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class Invocation:
    """Where the run happened: its clients and metrics, the function's settings, and the time it has left."""

    clients: Clients
    metrics: MetricsSink
    followup: FollowupConfig | None = None  # None: follow-ups are not set up
    topic_arn: str | None = None  # the alarm topic the run's message goes to
    central_bus_arn: str | None = None  # a fleet's central bus
    function_arn: str | None = None
    request_id: str | None = None
    seconds_left: Callable[[], float] | None = None  # None: no Lambda context, no end to race


@dataclass(frozen=True)
class Finished:
    """One finished run, as the sinks see it."""

    report: Report
    handed_over: Followup | None = None  # what was done about unfinished work
    change: Change | None = None  # the change event that caused the run
