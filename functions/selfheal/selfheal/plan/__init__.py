"""Plan: what differs, and what selfheal will (steps) and will not (conflicts) do about it. Pure: no AWS calls."""

from .buckets import plan_bucket
from .tables import plan_table

__all__ = ["plan_bucket", "plan_table"]
