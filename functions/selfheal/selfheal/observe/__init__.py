"""Observe: what exists now. Read-only AWS calls, normalized so that plan compares like with like."""

from .account import AccountFacts, KeyResolver, observe_account
from .buckets import BucketState, observe_bucket
from .tables import Backup, IndexState, TableState, find_backups, find_recovery_points, observe_table

__all__ = [
    "AccountFacts",
    "Backup",
    "BucketState",
    "IndexState",
    "KeyResolver",
    "TableState",
    "find_backups",
    "find_recovery_points",
    "observe_account",
    "observe_bucket",
    "observe_table",
]
