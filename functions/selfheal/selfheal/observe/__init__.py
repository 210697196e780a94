"""Observe: what exists now. Read-only AWS calls, normalized so that plan compares like with like (selfheal/state)."""

from .account import KeyResolver, observe_account
from .buckets import observe_bucket
from .tables import find_backups, find_recovery_points, observe_table

__all__ = ["KeyResolver", "find_backups", "find_recovery_points", "observe_account", "observe_bucket", "observe_table"]
