"""What a kind's drill does: find its newest copy (reads only), restore it under a scratch name, tell when AWS has
finished, check the scratch copy against the resource, remove the scratch copy. The run (run.py) does the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from ..aws import Clients

SpecT = TypeVar("SpecT")
SCRATCH = "-drill-"  # every name a drill writes has it: the drill's role may delete only such names


def scratch_name(name: str, stamp: datetime) -> str:
    """The scratch copy's name: `<name>-drill-<yyyymmddhhmm>` (UTC)."""
    return f"{name}{SCRATCH}{stamp:%Y%m%d%H%M}"


class DrillProblem(ValueError):
    """Bad input for a drill (no copy, a scratch name AWS would refuse, an unknown name): one line naming the problem
    and the fix, raised before any write."""


class DrillFailed(RuntimeError):
    """AWS refused or failed the scratch restore (a restore job FAILED, the scratch table gone)."""


@dataclass(frozen=True)
class Copy:
    """The copy a drill restores: where from (pitr, backup, aws-backup, versions), what it is, the time it holds."""

    source: str
    ref: str  # the table (PITR), the backup or recovery point ARN, the bucket (versions)
    taken: datetime | None
    what: str  # as a person reads it
    restorable: bool = True  # False: nothing is restored (versions live in the bucket itself); verify only
    needs_role: bool = False  # restored by AWS Backup, which assumes a restore role
    owner: str | None = None  # the account of a replica bucket, when not this one

    def age_seconds(self, now: datetime) -> float | None:
        return None if self.taken is None else max(0.0, (now - self.taken).total_seconds())


@dataclass
class Verification:
    """What the check of a scratch copy found: problems (none: verified) and the facts compared."""

    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return not self.problems


class KindDrill(Generic[SpecT]):
    """One kind's drill. Every write names the scratch copy; nothing here writes the declared resource."""

    name_limit: int = 255  # AWS's limit on the scratch copy's name

    def newest_copy(self, clients: Clients, spec: SpecT) -> Copy | None:
        """The newest copy of the resource a drill can restore (read-only calls); None: there is none."""
        raise NotImplementedError

    def missing(self, clients: Clients, spec: SpecT) -> bool:
        """Is the declared resource itself missing? (A drill compares the scratch copy with it.)"""
        raise NotImplementedError

    def taken(self, clients: Clients, name: str) -> bool:
        """Does a resource of this kind already have this (scratch) name?"""
        raise NotImplementedError

    def restore(self, clients: Clients, spec: SpecT, copy: Copy, scratch: str, restore_role: str | None) -> str:
        """Start restoring `copy` under `scratch`; returns what `restored` needs to follow it (a restore job id)."""
        raise NotImplementedError

    def restored(self, clients: Clients, scratch: str, handle: str) -> bool:
        """Has AWS finished the restore? Raises DrillFailed when it failed."""
        raise NotImplementedError

    def verify(self, clients: Clients, spec: SpecT, copy: Copy, scratch: str | None) -> Verification:
        """Check the scratch copy (None: nothing was restored, `copy.restorable` is False) against the resource."""
        raise NotImplementedError

    def remove(self, clients: Clients, scratch: str) -> None:
        """Delete the scratch copy (and only it: its name has `-drill-`)."""
        raise NotImplementedError
