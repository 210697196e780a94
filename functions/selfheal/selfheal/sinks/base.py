"""What every sink is given: the finished run, and the invocation it ran in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # types only: a run imports change and followup when it needs them
    from ..aws import Clients
    from ..change import Change
    from ..followup import Followup
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
    environ: Mapping[str, str]  # the function's settings (SELFHEAL_*), as the template sets them
    function_arn: str | None = None
    request_id: str | None = None
    seconds_left: Callable[[], float] | None = None  # None: no Lambda context, no end to race

    @property
    def topic_arn(self) -> str | None:
        """The alarm topic the run's message goes to."""
        return self.environ.get("SELFHEAL_TOPIC_ARN") or None

    @property
    def central_bus_arn(self) -> str | None:
        """A fleet's central bus, for the run event."""
        return self.environ.get("SELFHEAL_CENTRAL_EVENT_BUS_ARN") or None


@dataclass(frozen=True)
class Finished:
    """One finished run, as the sinks see it."""

    report: Report
    handed_over: Followup | None = None  # what was done about unfinished work
    change: Change | None = None  # the change event that caused the run
