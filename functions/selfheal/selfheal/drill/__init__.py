"""Restore drills (`selfheal drill`, the scheduled drill): each drilled resource's newest copy restored under a scratch
name `<name>-drill-<yyyymmddhhmm>`, checked against the resource, timed, then removed.

A drill never writes a declared resource: its only writes create, and then delete, a scratch `*-drill-*` copy.
base.py says what a kind's drill does (the Kind seam's `drill()` hands one out); tables.py and buckets.py are the
shipped kinds' drills; run.py runs them and reports; publish.py is what the scheduled drill sends afterwards.
"""

from .base import Copy, DrillProblem, KindDrill, Verification, scratch_name
from .run import DrillResult, resume_drill, run_drill

__all__ = ["Copy", "DrillProblem", "DrillResult", "KindDrill", "Verification", "resume_drill", "run_drill",
           "scratch_name"]
