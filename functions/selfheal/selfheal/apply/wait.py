"""Bounded waits for AWS's slow work: botocore's own waiter where AWS ships one, else one polling loop. Both stop at
the wait timeout or the run's budget, whichever comes first; what a wait that ran out means is the caller's to say."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from .executor import Deadline, Waits

T = TypeVar("T")


def budget(waits: Waits, deadline: Deadline) -> float:
    """Seconds a wait may take: the wait timeout, cut to what is left of the run."""
    return max(0.0, min(waits.timeout_seconds, deadline.left()))


def aws_waiter(client: Any, name: str, waits: Waits, deadline: Deadline, delay: float | None = None,
               **params: Any) -> None:
    """botocore's waiter `name` (as `client.get_waiter` knows it), asked every `delay` seconds (default: the poll
    interval) within the budget. Raises botocore's WaiterError when it fails or runs out."""
    every = max(waits.poll_seconds if delay is None else delay, 0.001)
    attempts = max(1, int(budget(waits, deadline) // every))
    client.get_waiter(name).wait(**params, WaiterConfig={"Delay": every, "MaxAttempts": attempts})


def poll(read: Callable[[], T], done: Callable[[T], bool], waits: Waits, deadline: Deadline) -> T:
    """`read()` every poll interval until `done(value)` or the budget would be passed; returns the last value read,
    done or not (the caller says what a value not done means)."""
    ends = time.monotonic() + budget(waits, deadline)
    while True:
        value = read()
        if done(value) or time.monotonic() + waits.poll_seconds > ends:
            return value
        time.sleep(waits.poll_seconds)
