"""The registry of resource kinds: tables and buckets ship here; a new kind registers itself (`register`)."""

from __future__ import annotations

from typing import Any

from .base import Column, Deleted, Kind, Spec, State

_KINDS: dict[str, Kind[Any, Any]] = {}


def register(kind: Kind[Any, Any]) -> Kind[Any, Any]:
    """Add a kind (or replace the one of the same name). Returns it."""
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def kinds() -> tuple[Kind[Any, Any], ...]:
    """Every registered kind, in registration order (the order of the estate's sections and the status tables)."""
    return tuple(_KINDS.values())


def kind_named(name: str) -> Kind[Any, Any]:
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"no resource kind {name!r} is registered (known: {', '.join(_KINDS)})") from None


def kind_of(spec: Spec) -> Kind[Any, Any]:
    kind = kind_named(spec.kind)
    if not isinstance(spec, kind.spec_type):
        raise TypeError(f"a {type(spec).__name__} says it is a {spec.kind}, whose specs are {kind.spec_type.__name__}")
    return kind


from . import backups as _backups  # noqa: E402 - the shipped kinds register themselves
from . import buckets as _buckets  # noqa: E402
from . import tables as _tables  # noqa: E402

register(_tables.TableKind())
register(_buckets.BucketKind())
register(_backups.BackupKind())

__all__ = ["Column", "Deleted", "Kind", "Spec", "State", "kind_named", "kind_of", "kinds", "register", "unregister"]
