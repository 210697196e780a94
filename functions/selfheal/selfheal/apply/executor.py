"""Carry out one planned Step: the boto3 call and retries for the errors AWS means as "try again"; a wait step is
its kind's (selfheal/apply/wait.py has the bounded waits)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..aws import AWS_ERRORS, Clients, error_code
from ..model import Step

log = logging.getLogger(__name__)

# One retry layer per kind of error: botocore's standard mode (aws.CLIENT_CONFIG) alone retries throttling, 5xx and
# transport errors; the executor retries only what AWS documents as "try again later" for a control-plane call of a
# kind (Kind.retry_later: a table still changing, a bucket not yet visible), which lasts longer than botocore waits.


class StepFailed(Exception):
    """A step that did not happen; `reason` says why and what to do."""

    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(reason)
        self.step, self.reason = step, reason


class Deferred(Exception):
    """A step that ran out of time (a wait or the run's budget); the next run carries on."""


@dataclass(frozen=True)
class Waits:
    """How long and how often a run waits for AWS, and how it retries what AWS says to try later."""

    poll_seconds: float = 5.0
    timeout_seconds: float = 900.0
    retry_base_seconds: float = 1.0
    retry_attempts: int = 8
    restores: bool = True  # wait for AWS's restores; False (Lambda): look once, and a follow-up run waits


class Deadline:
    """The run's time budget; None means unbounded."""

    def __init__(self, at: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.at, self.clock = at, clock

    def left(self) -> float:
        return float("inf") if self.at is None else self.at - self.clock()

    @property
    def expired(self) -> bool:
        return self.left() <= 0


class StepKind(Protocol):
    """What the executor needs from a step's resource kind (selfheal.kinds.Kind)."""

    def target(self, step: Step) -> str: ...

    def wait(self, client: Any, step: Step, waits: Waits, deadline: Deadline) -> None: ...

    def raced(self, client: Any, step: Step, code: str, exc: Exception) -> str | None: ...

    def retryable(self, step: Step, code: str) -> bool: ...

    def explain(self, exc: BaseException, operation: str, resource: str) -> str: ...

    def before_retry(self, client: Any, step: Step, code: str, waits: Waits, deadline: Deadline) -> None: ...


def run_step(clients: Clients, step: Step, waits: Waits, deadline: Deadline, kind: StepKind) -> str | None:
    """Do one step. Returns a note for the report (e.g. a race won by another run), raises StepFailed/Deferred."""
    client = clients.client(step.service, step.region)
    if step.is_wait:
        kind.wait(client, step, waits, deadline)
        return None
    target = kind.target(step)
    attempt = 0
    while True:
        try:
            getattr(client, step.operation)(**step.params)
            log.debug("done %s %s", step.operation, target)
            return None
        except AWS_ERRORS as exc:
            code = error_code(exc)
            note = kind.raced(client, step, code, exc)
            if note is not None:
                return note
            attempt += 1
            if not kind.retryable(step, code) or attempt >= waits.retry_attempts:
                raise StepFailed(step, kind.explain(exc, step.operation, target)) from exc
            kind.before_retry(client, step, code, waits, deadline)
            pause = min(20.0, waits.retry_base_seconds * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if pause >= deadline.left():
                raise Deferred(
                    f"{step.operation} on {target} was still refused ({code}) when the time budget ran out"
                ) from exc
            log.info("retrying %s on %s after %s (attempt %d)", step.operation, target, code, attempt)
            time.sleep(pause)
