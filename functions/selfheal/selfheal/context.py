"""What one run knows besides the specs: its clients, time, read pool, and the facts several resources share.

The engine makes one `RunContext` per run and hands it to every kind's observe and plan, so an Engine keeps no per-run
state of its own (two runs of one Engine do not meet) and the planners get key resolution and account facts from
one place instead of a growing list of arguments.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from .apply.executor import Deadline, Waits
from .aws import Clients
from .observe.account import KeyResolver
from .spec import Copy
from .state.account import KeyInfo

T = TypeVar("T")
Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]]
Submit = Callable[[Callable[[], Any]], "Future[Any]"]


def _serial(fn: Callable[[], Any]) -> Future[Any]:
    """A stand-in for a pool's submit: run now, hand back the settled future."""
    done: Future[Any] = Future()
    try:
        done.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - the future carries it to whoever asks
        done.set_exception(exc)
    return done


def _settle(future: Future[Any], done: Future[Any]) -> None:
    if done.exception() is not None:
        future.set_exception(done.exception())
    else:
        future.set_result(done.result())


@dataclass
class RunContext:
    """One run's shared view of AWS. Thread-safe: every resource of the run reads it side by side."""

    clients: Clients
    waits: Waits = field(default_factory=Waits)
    deadline: Deadline = field(default_factory=lambda: Deadline(None))
    restore: bool = True  # False: a missing resource is created empty even if a copy exists (--no-restore)
    restore_role: str | None = None  # the role AWS Backup assumes to restore a recovery point
    # The copies the estate declares of each resource with a recovery objective (Estate.copies)
    copies: Mapping[tuple[str, str], tuple[Copy, ...]] = field(default_factory=dict)
    reads: Mapper = map  # one resource's independent reads side by side (the run's read pool)
    submit: Submit = _serial  # start a shared read in the background (the run's read pool)
    keys: KeyResolver = field(init=False)
    _facts: dict[str, Future[Any]] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.keys = KeyResolver(self.clients)

    def key(self, key_id: str, region: str) -> KeyInfo:
        """A KMS key id or alias resolved to its ARN, once per run however many resources ask."""
        return self.keys.resolve(key_id, region)

    def start(self, name: str, read: Callable[[], Any]) -> None:
        """Begin reading a fact several resources need (an account-level setting), in the background."""
        with self._lock:
            if name in self._facts:
                return
            mine: Future[Any] = Future()
            self._facts[name] = mine
        # Outside the lock: a read may ask for another fact, and the other facts need not wait for this one.
        self.submit(read).add_done_callback(lambda done: _settle(mine, done))

    def fact(self, name: str, read: Callable[[], T]) -> T:
        """The fact `name`: read once per run (started by `start`, or now), shared by every resource that asks."""
        self.start(name, read)
        result: T = self._facts[name].result()
        return result

    def copies_of(self, spec: Any) -> tuple[Copy, ...]:
        """The copies the estate declares of a resource (none unless it has a recovery objective)."""
        return tuple(self.copies.get((spec.kind, spec.name), ()))

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)
