"""`selfheal delete`: the one destructive command, CLI only — the Lambda never imports this module.

Only kinds that say so are deleted (`Kind.deletable`), each resource after a copy of it is made and waited for, so
even this path keeps the data restorable: the next `selfheal apply` restores from the copy named here. Other kinds
are never deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .apply import Waits
from .aws import Clients
from .kinds import Deleted, Kind, kinds
from .spec import Estate


def deletable() -> tuple[Kind[Any, Any], ...]:
    """The kinds `selfheal delete` deletes, in the registry's order."""
    return tuple(kind for kind in kinds() if kind.deletable)


def confirmation() -> str:
    """What a person types to go on: it names the sections whose resources are deleted ("DELETE ALL QUEUES")."""
    return "DELETE ALL " + " AND ".join(kind.section.upper() for kind in deletable())


def doomed(estate: Estate) -> list[Any]:
    """The estate's resources `selfheal delete` deletes."""
    names = {kind.name for kind in deletable()}
    return [spec for spec in estate.resources if spec.kind in names]


def delete_all(
    estate: Estate,
    clients: Clients,
    disable_protection: bool = False,
    poll_seconds: float = 2.0,
    timeout_seconds: float = 600.0,
    say: Callable[[str], None] = lambda _: None,
) -> list[Deleted]:
    """Keep a copy of, then delete, every deletable resource of the estate. Refuses protected ones unless told to lift
    protection."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    waits = Waits(poll_seconds=poll_seconds, timeout_seconds=timeout_seconds)
    by_name = {kind.name: kind for kind in deletable()}
    return [by_name[spec.kind].delete(clients, spec, disable_protection, waits, stamp, say) for spec in doomed(estate)]
